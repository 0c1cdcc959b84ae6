"""Patreon's webhook: signed member events update snapshots at once.

An event that narrows access decides at once; one that would widen it waits for
Patreon to confirm it on the next gated request (see save_from_webhook).

No secret configured → 404 (the route does not exist for this site). A bad or
missing signature → 401 and nothing changes; a malformed body → 400. The same
body delivered again (Patreon retries) is recognised and changes nothing twice.
While the site does not know its campaign yet → 503, so Patreon delivers again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time

import redis
from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.patreon import parse_member_event, verify_signature
from webapp.patreon.webhooks import MemberEvent, WebhookError
from webapp.site.campaign import Campaign
from webapp.site.context import current_campaign
from webapp.site.errors import ServiceUnavailable
from webapp.site.members_index import MembersIndex
from webapp.site.membership import MembershipService
from webapp.site.services import services

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

SEEN_FOR = 30 * 24 * 3600  # Patreon retries failed deliveries for days
APPLYING_FOR = 60
RECENT_EVENTS = 50


@bp.post("/webhooks/patreon")
def receive() -> ResponseReturnValue:
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
    campaign = current_campaign()
    if campaign is None:
        # Nothing to tell our patrons from another campaign's: let Patreon retry later.
        raise ServiceUnavailable("The site does not know its campaign yet; deliver again later.")
    # Claimed before applying, so the same body delivered again changes nothing twice.
    # (An older, different body is not caught here: save_from_webhook lets it narrow
    # access at once but never widen it before Patreon confirms.) Claimed only briefly
    # until applied, and released if applying fails, so Patreon's retry still counts
    # even when Redis died half way.
    seen = svc.keys.webhook_seen(body_digest(event.trigger, body))
    if not svc.redis.set(seen, 1, nx=True, ex=APPLYING_FOR):
        return jsonify(status="duplicate")
    try:
        outcome = apply(event, campaign)
        svc.redis.expire(seen, SEEN_FOR)
    except Exception:
        with contextlib.suppress(redis.RedisError):
            svc.redis.delete(seen)
        raise
    return jsonify(status=outcome)


def apply(event: MemberEvent, campaign: Campaign) -> str:
    svc = services()
    if event.campaign_id != campaign.id:
        record(event, "ignored: another campaign")
        return "ignored"
    unconfirmed = MembershipService(svc).save_from_webhook(event.snapshot)
    # The dashboard shows the event at once: display, not access.
    MembersIndex(svc, campaign.id).apply_event(event)
    record(event, "applied")
    log.info(
        "webhook %s applied to user %s%s",
        event.trigger,
        event.user_id,
        " (widens access: Patreon confirms it on the next gated request)" if unconfirmed else "",
    )
    return "applied"


def body_digest(trigger: str, body: bytes) -> str:
    """What makes a delivery "the same": the signed body, whatever the trigger header says.

    The signature does not cover X-Patreon-Event, so a captured body replayed
    under another trigger is still the same delivery. Only members:delete reads
    nothing from the body but the member, so it counts apart: a delete that
    carries the body of the member's last update still deletes. (The other way
    round, a delete's body replayed as an update is applied, but it widens
    access, so it opens nothing before Patreon confirms it.)
    """
    kind = "delete" if trigger == "members:delete" else "member"
    return hashlib.sha256(f"{kind}\n".encode() + body).hexdigest()


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
