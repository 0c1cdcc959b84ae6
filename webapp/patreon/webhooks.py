"""Patreon webhooks: signature check and member events as membership snapshots."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webapp.patreon.jsonapi import Resource, normalize
from webapp.patreon.membership import MembershipSnapshot, snapshot_from_member

MEMBER_TRIGGERS = frozenset(
    {
        "members:create",
        "members:update",
        "members:delete",
        "members:pledge:create",
        "members:pledge:update",
        "members:pledge:delete",
    }
)


class WebhookError(ValueError):
    """A webhook body that is not a member event we understand."""


def sign(secret: str, body: bytes) -> str:
    """Patreon's signature: the hex HMAC-MD5 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.md5).hexdigest()


def verify_signature(secrets: Iterable[str], signature: str | None, body: bytes) -> bool:
    """True when `signature` matches the body under any of `secrets` (constant time)."""
    if not signature:
        return False
    given = signature.strip().lower().encode()
    matched = False
    for secret in secrets:
        # No early exit: the time taken does not tell which secret matched.
        matched |= hmac.compare_digest(sign(secret, body).encode(), given)
    return matched


@dataclass(frozen=True)
class MemberEvent:
    trigger: str
    member: Resource
    snapshot: MembershipSnapshot

    @property
    def user_id(self) -> str:
        return self.snapshot.user_id

    @property
    def campaign_id(self) -> str:
        return self.snapshot.campaign_id


def parse_member_event(trigger: str | None, body: bytes) -> MemberEvent:
    if trigger not in MEMBER_TRIGGERS:
        raise WebhookError(f"unknown or missing X-Patreon-Event {trigger!r}")
    member = _member_resource(body)
    user_id = _related_id(member, "user")
    campaign_id = _related_id(member, "campaign")
    _check_attributes(member)
    if trigger == "members:delete":
        snapshot = MembershipSnapshot.none(user_id, campaign_id, source="webhook")
    else:
        snapshot = snapshot_from_member(
            member, user_id=user_id, campaign_id=campaign_id, source="webhook"
        )
    return MemberEvent(trigger=trigger, member=member, snapshot=snapshot)


def _member_resource(body: bytes) -> Resource:
    """The body's member, flattened; a validly signed body may still have any shape."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise WebhookError("the body is not JSON") from exc
    except RecursionError:  # nested deeper than the JSON parser can follow
        raise WebhookError("the body is nested too deeply") from None
    _check_resources(document)
    member = normalize(document).data
    if not isinstance(member, dict) or member.get("type") != "member":
        raise WebhookError("the body is not a member document")
    return member


def _check_resources(document: Any) -> None:
    """`data` and each `included` resource are objects whose parts are objects.

    normalize() trusts this (it calls .get and .items on them): anything else
    would end as an AttributeError, a 500, instead of a 400.
    """
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise WebhookError("the body's data is not one resource")
    included = document.get("included") or []
    if not isinstance(included, list):
        raise WebhookError("the body's included is not a list")
    for resource in [document["data"], *included]:
        if not isinstance(resource, dict):
            raise WebhookError("a resource in the body is not an object")
        for part in ("attributes", "relationships"):
            if not isinstance(resource.get(part), dict | None):
                raise WebhookError(f"a resource's {part} is not an object")


# More than any pledge; also keeps the dashboard's Redis counters in range.
MAX_CENTS = 10**9

TEXT_ATTRIBUTES = (
    "full_name",
    "patron_status",
    "last_charge_status",
    "last_charge_date",
    "pledge_relationship_start",
)


def _check_attributes(member: Resource) -> None:
    """The attributes a snapshot is built from have Patreon's types (else: malformed)."""
    for name in TEXT_ATTRIBUTES:
        if not isinstance(member.get(name), str | None):
            raise WebhookError(f"the member's {name} is not text")
    cents = member.get("currently_entitled_amount_cents")
    if cents is not None and not _is_cents(cents):
        raise WebhookError("the member's currently_entitled_amount_cents is not a sum of cents")
    user = member.get("user")
    if not isinstance(user.get("full_name"), str | None):
        raise WebhookError("the member's user full_name is not text")
    tiers = member.get("currently_entitled_tiers")
    if tiers is not None and not (isinstance(tiers, list) and all(map(_is_tier, tiers))):
        raise WebhookError("the member's currently_entitled_tiers are not tiers")


def _is_cents(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CENTS


def _is_tier(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("title"), str | None)


def _related_id(member: Resource, name: str) -> str:
    related: Any = member.get(name)
    if not isinstance(related, dict) or not related.get("id"):
        raise WebhookError(f"the member has no {name} relationship")
    return str(related["id"])
