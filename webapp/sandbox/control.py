"""The control page (`/sandbox/`): play Patreon's side of a pledge.

Change a persona's pledge and send the site the webhook Patreon would send,
expire a persona's access tokens to watch the site refresh them, and see the
creator's portal token and the call counters (`/sandbox/stats`). Every form
carries this browser's key (see core.browser_key): a page on another site
cannot post them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp.sandbox.core import (
    PageError,
    browser_key,
    current,
    form_text,
    fresh_world,
    same_browser,
    world,
)
from webapp.sandbox.personas import (
    ACTIVE,
    CAMPAIGN_ID,
    CAMPAIGNS,
    CREATOR_USER_ID,
    DECLINED,
    FORMER,
    MEMBERSHIPS,
    PERSONAS,
    TIERS,
    Persona,
    PledgeError,
    Tier,
    change_pledge,
    member_id,
)
from webapp.sandbox.state import Grant
from webapp.sandbox.webhooks import MEMBER_TRIGGERS, deliver, member_event_body, targets_for
from webapp.sandbox.world import World

STATUS_CHOICES = (
    (ACTIVE, "Active patron"),
    (DECLINED, "Declined (payment failed)"),
    (FORMER, "Former patron (cancelled)"),
    ("none", "Never pledged (follower)"),
)
MAX_AMOUNT_CENTS = 1_000_000


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", view_func=control_page, endpoint="control_page", methods=["GET"])
    bp.add_url_rule("/personas/<slug>/pledge", view_func=change_persona_pledge, methods=["POST"])
    bp.add_url_rule("/personas/<slug>/expire", view_func=expire_persona_tokens, methods=["POST"])
    bp.add_url_rule("/reset", view_func=reset_sandbox, methods=["POST"])
    bp.add_url_rule("/stats", view_func=stats, methods=["GET"])
    bp.add_url_rule("/stats/reset", view_func=reset_stats, methods=["POST"])


# -- the page ------------------------------------------------------------------------


def control_page() -> str:
    sandbox = current()
    here = world()
    campaign = CAMPAIGNS[CAMPAIGN_ID]
    cards = [_persona_card(here, p) for p in PERSONAS.values()]
    return render_template(
        "sandbox/control.html",
        app_name=sandbox.settings.app_name,
        campaign=campaign,
        patron_count=here.patron_count(CAMPAIGN_ID),
        member_count=here.member_count(CAMPAIGN_ID),
        extra_members=sandbox.settings.extra_members,
        member_cards=[c for c in cards if c["membership"] is not None],
        creator_cards=[c for c in cards if c["membership"] is None],
        tiers=here.tiers_of(campaign),
        statuses=STATUS_CHOICES,
        triggers=MEMBER_TRIGGERS,
        portal=_portal_status(),
        targets=_webhook_targets(),
        deliveries=sandbox.state.deliveries(),
        stats=sandbox.state.stats(),
        notice=_notice(),
        browser_key=browser_key(),
        avatar_url=here.avatar_url,
    )


def _persona_card(here: World, persona: Persona) -> dict[str, Any]:
    user = here.user(persona.user_id)
    membership = here.membership(member_id(CAMPAIGN_ID, persona.user_id))
    card: dict[str, Any] = {
        "persona": persona,
        "user": user,
        "membership": membership,
        "badge": here.status_badge(persona.user_id),
        "tokens": _token_summary(current().state.live_access_grants(persona.user_id)),
    }
    if membership is not None:
        tier = TIERS.get(membership.pledge.tier_id or "")
        card["tier_title"] = tier.title if tier else "No tier"
        card["entitled"] = dollars(membership.pledge.entitled_amount_cents)
        card["pledge"] = dollars(membership.pledge.amount_cents)
    return card


def _token_summary(grants: list[Grant]) -> dict[str, Any]:
    if not grants:
        return {"count": 0, "text": "No live access token"}
    soonest = min(g.expires_at for g in grants) - current().clock()
    minutes = max(1, round(soonest / 60))
    noun = "token" if len(grants) == 1 else "tokens"
    return {
        "count": len(grants),
        "text": f"{len(grants)} live access {noun}; the first expires in {minutes} min",
    }


def _portal_status() -> dict[str, Any]:
    settings = current().settings
    state = current().state
    if not (settings.creator_access_token and settings.creator_refresh_token):
        return {"configured": False}
    return {
        "configured": True,
        "original_access_alive": state.access_grant(settings.creator_access_token) is not None,
        "original_refresh_unspent": state.refresh_token_alive(settings.creator_refresh_token),
        "tokens": _token_summary(state.live_access_grants(CREATOR_USER_ID)),
    }


def _webhook_targets() -> dict[str, Any]:
    settings = current().settings
    return {
        "configured": list(settings.webhook_urls),
        "signed": bool(settings.webhook_secret),
        "api": current().state.webhooks(),
    }


def _notice() -> str | None:
    """A one-line confirmation after a form, built from fixed words only."""
    done = request.args.get("done")
    persona = PERSONAS.get(request.args.get("persona", ""))
    name = world().user(persona.user_id).full_name if persona else "the persona"
    number = _small_int(request.args.get("n"))
    if done == "saved":
        sent, ok = number, _small_int(request.args.get("ok"))
        delivered = f" Webhook delivered to {ok} of {sent} URL(s)." if sent else ""
        return f"Saved {name}'s pledge.{delivered}"
    if done == "expired":
        return f"Expired {number} access token(s) of {name}: their next API call gets a 401."
    if done == "reset":
        return "Pledges, deliveries and counters are back to their starting state."
    return None


def _small_int(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 6 else 0


def dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


# -- actions -------------------------------------------------------------------------


def change_persona_pledge(slug: str) -> Response:
    persona = _posted_persona(slug)
    membership_id = member_id(CAMPAIGN_ID, persona.user_id)
    if membership_id not in MEMBERSHIPS:
        raise PageError(400, "Not a member", "Only members of Casey's Comics have a pledge.")
    sandbox = current()
    here = world()
    membership = here.membership(membership_id)
    status, tier, amount, trigger = _pledge_form()
    now = datetime.fromtimestamp(sandbox.clock(), UTC)
    try:
        pledge = change_pledge(membership.pledge, status, tier, amount, now)
    except PledgeError as exc:
        raise PageError(400, "That pledge cannot be set", str(exc)) from None
    sandbox.state.set_pledge(membership_id, pledge)
    results = _send_event(fresh_world(), membership_id, trigger) if trigger else []
    return _back(
        "saved",
        persona,
        n=str(len(results)),
        ok=str(sum(1 for r in results if r["ok"])),
    )


def _pledge_form() -> tuple[str | None, Tier | None, int | None, str | None]:
    status = form_text("status")
    if status not in {value for value, _ in STATUS_CHOICES}:
        raise PageError(400, "Unknown status", "Pick a status from the list.")
    tier_id = form_text("tier")
    tier = TIERS.get(tier_id) if tier_id else None
    if tier_id and (tier is None or tier.campaign_id != CAMPAIGN_ID):
        raise PageError(400, "Unknown tier", "Pick one of Casey's Comics' tiers.")
    raw_amount = form_text("amount_cents")
    if raw_amount and not (raw_amount.isdigit() and int(raw_amount) <= MAX_AMOUNT_CENTS):
        raise PageError(400, "Unusable amount", "The amount is a whole number of cents.")
    trigger = form_text("event")
    if trigger and trigger not in MEMBER_TRIGGERS:
        raise PageError(400, "Unknown event", "Pick one of the member webhook events.")
    amount = int(raw_amount) if raw_amount else None
    return (None if status == "none" else status), tier, amount, trigger or None


def _send_event(here: World, membership_id: str, trigger: str) -> list[dict[str, Any]]:
    sandbox = current()
    membership = here.membership(membership_id)
    user = here.user(membership.user_id)
    targets = targets_for(
        sandbox.state,
        membership.campaign_id,
        trigger,
        sandbox.settings.webhook_urls,
        sandbox.settings.webhook_secret,
    )
    body = member_event_body(here, membership)
    with sandbox.http_session() as session:
        return deliver(
            sandbox.state,
            session,
            targets,
            trigger,
            body,
            {"member_id": membership.id, "full_name": user.full_name},
        )


def expire_persona_tokens(slug: str) -> Response:
    persona = _posted_persona(slug)
    expired = current().state.expire_access_tokens(persona.user_id)
    return _back("expired", persona, n=str(expired))


def reset_sandbox() -> Response:
    _check_form_key()
    state = current().state
    state.reset_pledges(MEMBERSHIPS)
    state.reset_deliveries()
    state.reset_stats()
    return _back("reset")


def _posted_persona(slug: str) -> Persona:
    _check_form_key()
    persona = PERSONAS.get(slug)
    if persona is None:
        raise PageError(404, "No such persona", f"There is no persona {slug!r}.")
    return persona


def _check_form_key() -> None:
    if not same_browser(form_text("browser_key")):
        raise PageError(
            400,
            "This form has expired",
            "It was not sent from the control page in this browser. Reload the page and try again.",
        )


def _back(done: str, persona: Persona | None = None, **more: str) -> Response:
    params = {"done": done, **more}
    anchor = None
    if persona is not None:
        params["persona"] = persona.slug
        anchor = f"persona-{persona.slug}"
    return redirect(url_for("sandbox.control_page", _anchor=anchor, **params), code=303)


# -- counters for tests and the demo -------------------------------------------------


def stats() -> Response:
    return jsonify(current().state.stats())


def reset_stats() -> Response:
    current().state.reset_stats()
    return jsonify(current().state.stats())
