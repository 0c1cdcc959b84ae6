"""Gating: ACCESS_RULES for path prefixes, `@requires(...)` for views.

Both run the same check with the same `Rule` objects. A rule that needs a
membership makes sure the snapshot is fit to decide (fresh, or re-read, or
stale within grace while Patreon is down); any failure denies, never grants.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.site.context import current_campaign
from webapp.site.errors import AccessDenied, ServiceUnavailable
from webapp.site.membership import LoginRequired, MembershipService, MembershipUnavailable
from webapp.site.rules import Rule, rule_for_path
from webapp.site.services import services
from webapp.site.users import end_session


def requires(rule_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Gate a view: `@requires("patron>=500")`. The rule is parsed at import time."""
    rule = Rule.parse(rule_text)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def gated(*args: Any, **kwargs: Any) -> Any:
            return check_access(rule) or view(*args, **kwargs)

        gated.access_rule = rule  # type: ignore[attr-defined]
        return gated

    return decorate


# The site's own machinery, which ACCESS_RULES never covers: a rule like {"/": "login"}
# must not put logging in behind a login (auth), hide the platform's health checks
# (health), turn Patreon's deliveries into redirects (webhooks, signed instead), lock
# the local Patreon that performs the login (sandbox), or the CSS of the 403 page.
UNGATED_BLUEPRINTS = frozenset({"auth", "health", "webhooks", "sandbox"})
UNGATED_ENDPOINTS = frozenset({"static"})


def register_gate(app: Flask) -> None:
    app.add_template_global(return_path)

    @app.before_request
    def enforce_access_rules() -> Response | None:
        if is_site_machinery():
            return None
        match = rule_for_path(services().config.access_rules, request.path)
        return check_access(match[1]) if match else None


def is_site_machinery() -> bool:
    return request.blueprint in UNGATED_BLUEPRINTS or request.endpoint in UNGATED_ENDPOINTS


def return_path() -> str:
    """This request's path and query, to come back to after logging in.

    Decoded leniently: a raw query string that is not UTF-8 (request.full_path
    raises on it) must not turn a login redirect into a 500.
    """
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.path}?{query}" if query else request.path


def check_access(rule: Rule) -> Response | None:
    """None when the visitor may go on; a redirect to log in; or AccessDenied."""
    if not rule.needs_login:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=return_path()))
    if rule.needs_membership:
        response = ensure_current_membership()
        if response is not None:
            return response
    if not rule.allows(current_user):
        raise AccessDenied(rule)
    return None


def ensure_current_membership() -> Response | None:
    """Bring `current_user.membership` up to date, or say why it cannot be.

    The owner passes every rule, so their pledge is never asked for.
    """
    if current_user.is_owner:
        return None
    campaign = current_campaign()
    if campaign is None:
        raise ServiceUnavailable(
            "This site is not connected to a Patreon campaign yet, so pledges cannot be checked."
        )
    try:
        current_user.membership = MembershipService(services()).current(
            current_user.id, campaign.id, current_user.membership
        )
    except LoginRequired:
        end_session()
        return redirect(url_for("auth.login", next=return_path()))
    except MembershipUnavailable:
        raise ServiceUnavailable(
            "Patreon is not answering, so your pledge cannot be checked right now."
        ) from None
    return None
