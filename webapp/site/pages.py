"""The site's own pages: home, the example gated pages, and /api/me."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from flask_login import current_user

from webapp.site.context import current_campaign
from webapp.site.errors import ServiceUnavailable
from webapp.site.gate import ensure_current_membership
from webapp.site.services import services

bp = Blueprint("pages", __name__)


@bp.get("/")
def home() -> str:
    if current_user.is_authenticated:
        refresh_membership_if_possible()
    return render_template("home.html", campaign=current_campaign(), outcomes=rule_outcomes())


@bp.get("/members")
def members() -> str:
    return render_template("members.html", campaign=current_campaign())


@bp.get("/members/vip")
def vip() -> str:
    return render_template("vip.html", campaign=current_campaign())


@bp.get("/api/me")
def me() -> Response:
    if not current_user.is_authenticated:
        return jsonify(authenticated=False, user=None, membership=None, rules=rules_json())
    response = ensure_current_membership()
    if response is not None:  # the token is gone: the session was ended
        return jsonify(authenticated=False, user=None, membership=None, rules=rules_json())
    membership = current_user.membership
    return jsonify(
        authenticated=True,
        user={
            "id": current_user.id,
            "full_name": current_user.full_name,
            "image_url": current_user.profile.image_url,
            "is_owner": current_user.is_owner,
        },
        membership=membership.to_dict() if membership else None,
        rules=rules_json(),
    )


def rule_outcomes() -> list[tuple[str, Any, bool]]:
    """Each configured path, its rule, and whether the visitor passes it."""
    rules = services().config.access_rules
    return [(path, rule, rule.allows(current_user)) for path, rule in sorted(rules.items())]


def rules_json() -> dict[str, dict[str, Any]]:
    return {path: {"rule": rule.text, "passes": passes} for path, rule, passes in rule_outcomes()}


def refresh_membership_if_possible() -> None:
    """Like the gate, but trouble only makes the home page less precise.

    A user who must log in again is logged out (and sees the anonymous home).
    """
    with contextlib.suppress(ServiceUnavailable):
        ensure_current_membership()
