"""The campaign this site serves: its id, owner, tiers and pledge page.

Read with the creator token and kept in Redis; refreshed at most once an hour
(and by a dashboard sync). While Patreon is unreachable the last copy serves.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from webapp.patreon import MissingToken, PatreonClient, PatreonError, QueryBuilder, StoredToken
from webapp.site.locks import redis_lock
from webapp.site.services import Services

log = logging.getLogger(__name__)

CAMPAIGN_TTL = 3600
CAMPAIGN_QUERY = QueryBuilder.campaign.include("tiers", "creator").fields(
    campaign=["creation_name", "vanity", "url", "pledge_url", "patron_count", "image_url"],
    tier=["title", "amount_cents", "published", "description"],
    user=["full_name"],
)


@dataclass(frozen=True)
class Tier:
    id: str
    title: str
    amount_cents: int


@dataclass(frozen=True)
class Campaign:
    id: str
    creator_id: str | None = None
    name: str = ""
    url: str | None = None
    pledge_url: str | None = None
    patron_count: int = 0
    tiers: tuple[Tier, ...] = ()
    fetched_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Campaign:
        data = json.loads(text)
        data["tiers"] = tuple(Tier(**t) for t in data.get("tiers") or ())
        return cls(**data)

    def tier_title(self, tier_id: str) -> str:
        return next((t.title for t in self.tiers if t.id == tier_id), tier_id)


def campaign_from_resource(resource: dict[str, Any]) -> Campaign:
    tiers = [t for t in resource.get("tiers") or [] if t.get("published", True) is not False]
    creator = resource.get("creator") or {}
    return Campaign(
        id=str(resource["id"]),
        creator_id=str(creator["id"]) if creator.get("id") else None,
        name=resource.get("creation_name") or resource.get("vanity") or "",
        url=resource.get("url"),
        pledge_url=resource.get("pledge_url"),
        patron_count=int(resource.get("patron_count") or 0),
        tiers=tuple(
            sorted(
                (
                    Tier(str(t["id"]), t.get("title") or "", int(t.get("amount_cents") or 0))
                    for t in tiers
                ),
                key=lambda tier: tier.amount_cents,
            )
        ),
    )


class CampaignService:
    def __init__(self, services: Services):
        self.services = services

    def load(self) -> Campaign | None:
        raw = self.services.redis.get(self.services.keys.campaign)
        return parse_campaign(raw)

    def ensure(self, known: Campaign | None = None) -> Campaign | None:
        """The campaign, re-read from Patreon when missing or older than an hour.

        One request refreshes; the others keep using the stored copy meanwhile
        (or wait for it when there is none yet).
        """
        campaign = known or self.load()
        if _is_fresh(campaign):
            return campaign
        wait = 10 if campaign is None else 0
        with redis_lock(
            self.services.redis, self.services.keys.campaign_lock, timeout=30, wait=wait
        ) as acquired:
            if not acquired:
                return campaign or self._configured_only()
            try:
                latest = self.load()
                return latest if _is_fresh(latest) else self.refresh()
            except PatreonError as exc:
                log.warning("campaign could not be refreshed (%s); using what is stored", exc)
                return campaign or self._configured_only()

    def refresh(self, client: PatreonClient | None = None) -> Campaign:
        """Read the campaign with the creator token and store it."""
        client = client or self.services.creator_client
        seed_creator_token(self.services)  # in case Redis was down at start-up
        campaign_id = self.services.config.patreon_campaign_id or self._discover(client)
        document = client.fetch_campaign(campaign_id, CAMPAIGN_QUERY)
        campaign = campaign_from_resource(document.data)
        self.services.redis.set(self.services.keys.campaign, campaign.to_json())
        return campaign

    def _discover(self, client: PatreonClient) -> str:
        campaigns = client.fetch_campaigns().items
        if not campaigns:
            raise MissingToken("the creator token sees no campaign; set PATREON_CAMPAIGN_ID")
        return str(campaigns[0]["id"])

    def _configured_only(self) -> Campaign | None:
        campaign_id = self.services.config.patreon_campaign_id
        return Campaign(id=campaign_id, fetched_at=0.0) if campaign_id else None


def _is_fresh(campaign: Campaign | None) -> bool:
    return campaign is not None and time.time() - campaign.fetched_at < CAMPAIGN_TTL


def parse_campaign(raw: str | None) -> Campaign | None:
    if not raw:
        return None
    try:
        return Campaign.from_json(raw)
    except (ValueError, TypeError, KeyError):
        log.warning("the stored campaign record is unreadable; it will be re-read")
        return None


def seed_creator_token(services: Services) -> bool:
    """Store the configured creator token unless the store already holds one.

    A stored token may be newer (refreshed since the environment was written),
    and one that cannot be decrypted still belongs to someone: never overwrite.
    """
    config = services.config
    if not config.creator_access_token:
        return False
    store = services.creator_store()
    with store.lock():
        if services.redis.exists(services.keys.creator_token):
            return False
        store.put(
            StoredToken(
                access_token=config.creator_access_token,
                refresh_token=config.creator_refresh_token,
            )
        )
    log.info("stored the creator token from the environment")
    return True
