"""Patreon's webhook: signed member events update snapshots at once.

No secret configured → 404 (the route does not exist for this site). A bad or
missing signature → 401 and nothing changes; a malformed body → 400. The same
body delivered again (Patreon retries) is recognised and changes nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from flask import Blueprint, abort, jsonify, request

from webapp.patreon import parse_member_event, verify_signature
from webapp.patreon.webhooks import MemberEvent, WebhookError
from webapp.site.context import current_campaign
from webapp.site.members_index import MembersIndex
from webapp.site.membership import MembershipService
from webapp.site.services import services

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

SEEN_FOR = 30 * 24 * 3600  # Patreon retries failed deliveries for days
RECENT_EVENTS = 50


@bp.post("/webhooks/patreon")
def receive():
    svc = services()
    if not svc.config.webhook_secrets:
        abort(404)
    body = request.get_data(cache=False)
    if not verify_signature(
        svc.config.webhook_secrets, request.headers.get("X-Patreon-Signature"), body
    ):
        log.warning("webhook refused: bad or missing signature")
        return jsonify(error="Not authorized", reason="bad or missing signature"), 401
    trigger = request.headers.get("X-Patreon-Event")
    try:
        event = parse_member_event(trigger, body)
    except WebhookError as exc:
        return jsonify(error="Bad request", reason=str(exc)), 400
    # Claimed before applying, so a retried (older) body can never undo a newer
    # event; released again if applying fails, so Patreon's retry still counts.
    seen = svc.keys.webhook_seen(hashlib.sha256(f"{trigger}\n".encode() + body).hexdigest())
    if not svc.redis.set(seen, 1, nx=True, ex=SEEN_FOR):
        return jsonify(status="duplicate")
    try:
        outcome = apply(event)
    except Exception:
        svc.redis.delete(seen)
        raise
    return jsonify(status=outcome)


def apply(event: MemberEvent) -> str:
    svc = services()
    campaign = current_campaign()
    if campaign is not None and event.campaign_id != campaign.id:
        record(event, "ignored: another campaign")
        return "ignored"
    MembershipService(svc).save(event.snapshot)
    if campaign is not None:
        MembersIndex(svc, campaign.id).apply_event(event)
    record(event, "applied")
    log.info("webhook %s applied to user %s", event.trigger, event.user_id)
    return "applied"


def record(event: MemberEvent, outcome: str) -> None:
    """Keep the newest events for the dashboard."""
    snapshot = event.snapshot
    entry = {
        "at": time.time(),
        "trigger": event.trigger,
        "user_id": event.user_id,
        "name": event.member.get("full_name") or "",
        "patron_status": snapshot.patron_status,
        "cents": snapshot.currently_entitled_amount_cents,
        "tiers": list(snapshot.tier_titles),
        "outcome": outcome,
    }
    key = services().keys.webhook_events
    pipe = services().redis.pipeline(transaction=False)
    pipe.lpush(key, json.dumps(entry))
    pipe.ltrim(key, 0, RECENT_EVENTS - 1)
    pipe.execute()
