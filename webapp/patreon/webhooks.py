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
    try:
        document = json.loads(body)
        member = normalize(document).data
    except (ValueError, TypeError) as exc:
        raise WebhookError("the body is not a JSON:API document") from exc
    if not isinstance(member, dict) or member.get("type") != "member":
        raise WebhookError("the body is not a member document")
    user_id = _related_id(member, "user")
    campaign_id = _related_id(member, "campaign")
    if trigger == "members:delete":
        snapshot = MembershipSnapshot.none(user_id, campaign_id, source="webhook")
    else:
        snapshot = snapshot_from_member(
            member, user_id=user_id, campaign_id=campaign_id, source="webhook"
        )
    return MemberEvent(trigger=trigger, member=member, snapshot=snapshot)


def _related_id(member: Resource, name: str) -> str:
    related: Any = member.get(name)
    if not isinstance(related, dict) or not related.get("id"):
        raise WebhookError(f"the member has no {name} relationship")
    return str(related["id"])
