"""A user's membership of one campaign, reduced to what access decisions need."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIVE_PATRON = "active_patron"


@dataclass(frozen=True)
class MembershipSnapshot:
    user_id: str
    campaign_id: str
    patron_status: str | None = None  # active_patron | declined_patron | former_patron | None
    currently_entitled_amount_cents: int = 0
    tier_ids: tuple[str, ...] = ()
    tier_titles: tuple[str, ...] = ()
    last_charge_status: str | None = None
    last_charge_date: str | None = None
    pledge_relationship_start: str | None = None
    member_id: str | None = None
    full_name: str | None = None
    fetched_at: float = field(default_factory=time.time)
    source: str = "identity"  # identity | webhook | sync

    @property
    def is_active_patron(self) -> bool:
        return self.patron_status == ACTIVE_PATRON

    def is_entitled_to_tier(self, tier: str) -> bool:
        wanted = tier.casefold()
        return tier in self.tier_ids or any(t.casefold() == wanted for t in self.tier_titles)

    def widens_access_over(self, previous: MembershipSnapshot | None) -> bool:
        """Could a rule pass with this snapshot that fails with `previous`?

        Rules ask for an active pledge, at least N cents, or a tier by id or title.
        So this widens access when it is active and `previous` was not (or is
        unknown, or of another campaign), or brings more cents or a tier not held.
        A snapshot that is not active widens nothing.
        """
        if not self.is_active_patron:
            return False
        if (
            previous is None
            or not previous.is_active_patron
            or previous.campaign_id != self.campaign_id
        ):
            return True
        return (
            self.currently_entitled_amount_cents > previous.currently_entitled_amount_cents
            or not set(self.tier_ids) <= set(previous.tier_ids)
            or not _folded(self.tier_titles) <= _folded(previous.tier_titles)
        )

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.fetched_at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tier_ids"] = list(self.tier_ids)
        data["tier_titles"] = list(self.tier_titles)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MembershipSnapshot:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["tier_ids"] = tuple(known.get("tier_ids") or ())
        known["tier_titles"] = tuple(known.get("tier_titles") or ())
        known["currently_entitled_amount_cents"] = int(
            known.get("currently_entitled_amount_cents") or 0
        )
        return cls(**known)

    @classmethod
    def none(cls, user_id: str, campaign_id: str, source: str = "identity") -> MembershipSnapshot:
        """A user with no membership of the campaign (never pledged, or only follows)."""
        return cls(user_id=user_id, campaign_id=campaign_id, source=source)


def snapshot_from_member(
    member: Mapping[str, Any], *, user_id: str, campaign_id: str, source: str
) -> MembershipSnapshot:
    """Build a snapshot from a normalized `member` resource (see jsonapi.normalize)."""
    tiers = _as_list(member.get("currently_entitled_tiers"))
    return MembershipSnapshot(
        user_id=user_id,
        campaign_id=campaign_id,
        patron_status=member.get("patron_status"),
        currently_entitled_amount_cents=int(member.get("currently_entitled_amount_cents") or 0),
        tier_ids=tuple(str(t["id"]) for t in tiers if t.get("id")),
        tier_titles=tuple(str(t["title"]) for t in tiers if t.get("title")),
        last_charge_status=member.get("last_charge_status"),
        last_charge_date=member.get("last_charge_date"),
        pledge_relationship_start=member.get("pledge_relationship_start"),
        member_id=member.get("id"),
        full_name=member.get("full_name"),
        source=source,
    )


def snapshot_from_identity(identity: Mapping[str, Any], campaign_id: str) -> MembershipSnapshot:
    """The identity's membership of `campaign_id`; an empty snapshot when it has none."""
    user_id = str(identity["id"])
    for member in _as_list(identity.get("memberships")):
        campaign = member.get("campaign") or {}
        if str(campaign.get("id")) == str(campaign_id):
            return snapshot_from_member(
                member, user_id=user_id, campaign_id=str(campaign_id), source="identity"
            )
    return MembershipSnapshot.none(user_id, str(campaign_id))


def _folded(titles: Iterable[str]) -> set[str]:
    return {title.casefold() for title in titles}


def _as_list(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Iterable):
        return [v for v in value if isinstance(v, Mapping)]
    return []
