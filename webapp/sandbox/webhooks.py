"""Webhook deliveries, as Patreon sends them.

The body is a member document (member attributes, relationships `user`,
`campaign` and `currently_entitled_tiers`, those resources in `included`);
`X-Patreon-Event` names the trigger and `X-Patreon-Signature` is the hex
HMAC-MD5 of the raw body with the webhook's secret. This is written here, not
borrowed from the site's client, so that the site's verification is checked
against an independent implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from webapp.sandbox.jsonapi import ALL_FIELDS, document
from webapp.sandbox.personas import Membership, iso
from webapp.sandbox.state import SandboxState
from webapp.sandbox.world import World

MEMBER_TRIGGERS = (
    "members:create",
    "members:update",
    "members:delete",
    "members:pledge:create",
    "members:pledge:update",
    "members:pledge:delete",
)
TRIGGERS = (*MEMBER_TRIGGERS, "posts:publish", "posts:update", "posts:delete")
DELIVERY_TIMEOUT = 5.0
USER_AGENT = "Patreon-Webhooks (patron-gate sandbox)"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.md5).hexdigest()


def member_event_body(world: World, membership: Membership) -> bytes:
    """The raw body Patreon would post for an event about this membership."""
    node = world.member_node(membership)
    payload = document(node, ("user", "campaign", "currently_entitled_tiers"), ALL_FIELDS)
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    webhook_id: str | None = None  # None: a URL from the settings (the site's own)

    @property
    def label(self) -> str:
        return f"webhook {self.webhook_id}" if self.webhook_id else "configured"


def targets_for(
    state: SandboxState,
    campaign_id: str,
    trigger: str,
    configured_urls: tuple[str, ...],
    configured_secret: str | None,
) -> list[Target]:
    """Where an event goes: the configured URLs, and API webhooks that want it."""
    targets = [Target(url, configured_secret) for url in configured_urls if configured_secret]
    targets.extend(
        Target(w["uri"], w["secret"], w["id"])
        for w in state.webhooks()
        if w["campaign_id"] == campaign_id and trigger in w["triggers"] and not w["paused"]
    )
    return targets


def deliver(
    state: SandboxState,
    session: requests.Session,
    targets: list[Target],
    trigger: str,
    body: bytes,
    about: dict[str, str],
) -> list[dict[str, Any]]:
    """Post the event to every target; record and return one result per target."""
    results = []
    for target in targets:
        result = {**about, **_post(session, target, trigger, body), "event": trigger}
        results.append(result)
        if target.webhook_id:
            _note_attempt(state, target.webhook_id, result["ok"], result["at"])
    state.record_deliveries(results)
    return results


def _post(session: requests.Session, target: Target, trigger: str, body: bytes) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Patreon-Event": trigger,
        "X-Patreon-Signature": sign(target.secret, body),
    }
    at = iso(datetime.now(UTC))
    base = {"url": target.url, "target": target.label, "at": at}
    try:
        response = session.post(target.url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT)
    except requests.RequestException as exc:
        return {**base, "status": None, "ok": False, "error": type(exc).__name__}
    return {**base, "status": response.status_code, "ok": response.ok, "error": None}


def _note_attempt(state: SandboxState, webhook_id: str, ok: bool, at: str) -> None:
    record = state.webhook(webhook_id)
    if record is None:
        return
    record["last_attempted_at"] = at
    record["num_consecutive_times_failed"] = 0 if ok else record["num_consecutive_times_failed"] + 1
    state.save_webhook(record)
