"""Membership snapshots: what a user pledges, cached so gating rarely asks Patreon.

A snapshot is fresh for MEMBERSHIP_TTL. After that, the next gated request
re-reads it with the user's token, one request per user at a time (a Redis
lock; waiters re-read the cache). While Patreon is unreachable a stale snapshot
still decides for MEMBERSHIP_GRACE. Nothing here ever grants access on an
error: failures become "log in again" or "try again later". A webhook that
would widen access is stored stale, so Patreon confirms it first.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from webapp.patreon import (
    InvalidGrant,
    MembershipSnapshot,
    MissingToken,
    PatreonError,
    PatreonUnauthorized,
    QueryBuilder,
)
from webapp.patreon.membership import snapshot_from_identity
from webapp.site.locks import redis_lock
from webapp.site.services import Services

log = logging.getLogger(__name__)

MEMBER_FIELDS = [
    "patron_status",
    "currently_entitled_amount_cents",
    "last_charge_status",
    "last_charge_date",
    "pledge_relationship_start",
    "full_name",
]
IDENTITY_QUERY = QueryBuilder.identity.include(
    "memberships", "memberships.campaign", "memberships.currently_entitled_tiers"
).fields(
    user=["full_name", "image_url", "vanity", "url"],
    member=MEMBER_FIELDS,
    tier=["title", "amount_cents"],
)


class LoginRequired(Exception):
    """The user's token is gone or refused: they must log in again."""


class MembershipUnavailable(Exception):
    """Patreon cannot be asked now and no snapshot is recent enough to decide."""


@dataclass(frozen=True)
class Profile:
    id: str
    full_name: str
    image_url: str | None = None
    vanity: str | None = None
    url: str | None = None

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> Profile:
        return cls(
            id=str(identity["id"]),
            full_name=identity.get("full_name") or identity.get("vanity") or "Patreon user",
            image_url=identity.get("image_url"),
            vanity=identity.get("vanity"),
            url=identity.get("url"),
        )

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        return cls(**json.loads(text))


def parse_snapshot(raw: str | None) -> MembershipSnapshot | None:
    if not raw:
        return None
    try:
        return MembershipSnapshot.from_dict(json.loads(raw))
    except (ValueError, TypeError):
        log.warning("an unreadable membership snapshot is ignored (it will be re-read)")
        return None


class MembershipService:
    def __init__(self, services: Services):
        self.services = services
        self.ttl = services.config.membership_ttl
        self.grace = services.config.membership_grace

    def is_fresh(self, snapshot: MembershipSnapshot | None) -> bool:
        return snapshot is not None and snapshot.age() < self.ttl

    def is_usable_when_patreon_fails(self, snapshot: MembershipSnapshot | None) -> bool:
        return snapshot is not None and snapshot.age() < self.ttl + self.grace

    def load(self, user_id: str) -> MembershipSnapshot | None:
        return parse_snapshot(self.services.redis.get(self.services.keys.membership(user_id)))

    def save(self, snapshot: MembershipSnapshot, storage: Any = None) -> None:
        storage = storage or self.services.redis
        storage.set(self.services.keys.membership(snapshot.user_id), json.dumps(snapshot.to_dict()))

    def save_from_webhook(self, snapshot: MembershipSnapshot) -> bool:
        """Store a webhook's snapshot; True when Patreon must confirm it before it decides.

        A signed body is no proof of the pledge now: Patreon retries failed
        deliveries later and out of order, and the trigger header is not signed
        (a delete's body can come back as an update). So an event that narrows
        access, or keeps it, is stored fresh and decides at once. One that would
        widen it beyond the last snapshot fit to decide is stored already stale:
        the next gated request re-reads the membership from Patreon, and only
        while Patreon is unreachable does the event decide, within grace.
        """
        key = self.services.keys.membership(snapshot.user_id)

        def write(pipe: Any) -> bool:
            stored = parse_snapshot(pipe.get(key))
            unconfirmed = snapshot.widens_access_over(stored if self.is_fresh(stored) else None)
            pipe.multi()
            self.save(self._stale(snapshot) if unconfirmed else snapshot, pipe)
            return unconfirmed

        # WATCH: a snapshot stored meanwhile (another delivery, a re-read) is compared too.
        return self.services.redis.transaction(write, key, value_from_callable=True)

    def _stale(self, snapshot: MembershipSnapshot) -> MembershipSnapshot:
        """Just past MEMBERSHIP_TTL: not fresh, still within MEMBERSHIP_GRACE."""
        return replace(snapshot, fetched_at=time.time() - self.ttl - 1)

    def current(
        self, user_id: str, campaign_id: str, known: MembershipSnapshot | None
    ) -> MembershipSnapshot:
        """A snapshot fit to decide with: `known` if fresh, else re-read (once per user)."""
        if self.is_fresh(known):
            return known
        lock_name = self.services.keys.membership_lock(user_id)
        with redis_lock(self.services.redis, lock_name, timeout=30, wait=30) as acquired:
            if not acquired:
                return self._fallback(known, "another request is still asking Patreon")
            # Whoever held the lock before us may have just stored a fresh one.
            latest = self.load(user_id)
            if self.is_fresh(latest):
                return latest
            return self._read_from_patreon(user_id, campaign_id, latest or known)

    def _read_from_patreon(
        self, user_id: str, campaign_id: str, stale: MembershipSnapshot | None
    ) -> MembershipSnapshot:
        client = self.services.client_for_user(user_id)
        try:
            identity = client.fetch_identity(IDENTITY_QUERY).data
        except (InvalidGrant, MissingToken, PatreonUnauthorized) as exc:
            log.info("user %s must log in again (%s)", user_id, type(exc).__name__)
            raise LoginRequired from None
        except PatreonError as exc:
            log.warning("membership of user %s not refreshed: %s", user_id, exc)
            return self._fallback(stale, str(exc))
        snapshot = snapshot_from_identity(identity, campaign_id)
        pipe = self.services.redis.pipeline(transaction=False)
        self.save(snapshot, pipe)
        pipe.set(self.services.keys.user(user_id), Profile.from_identity(identity).to_json())
        pipe.execute()
        return snapshot

    def _fallback(self, stale: MembershipSnapshot | None, why: str) -> MembershipSnapshot:
        if self.is_usable_when_patreon_fails(stale):
            return stale
        raise MembershipUnavailable(why)
