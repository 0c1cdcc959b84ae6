"""Public pages the API links to: campaigns, their join page, profiles, avatars.

Patreon's `url`, `pledge_url` and `image_url` point at pages like these; the
sandbox serves small stand-ins so that every link the site shows leads somewhere.
"""

from __future__ import annotations

import re

from flask import Blueprint, make_response, render_template
from werkzeug.wrappers import Response

from webapp.sandbox.core import PageError, world
from webapp.sandbox.personas import ACTIVE, CAMPAIGNS, TIERS, Campaign

# Colours for avatar backgrounds (all readable with white initials).
_AVATAR_COLOURS = ("#b4235a", "#1f6feb", "#8250df", "#1a7f37", "#bc4c00", "#0a7ea4", "#6e40c9")
_USER_ID = re.compile(r"^\d{1,9}$")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/c/<campaign_id>", view_func=campaign_page)
    bp.add_url_rule("/c/<campaign_id>/join", view_func=join_page)
    bp.add_url_rule("/u/<user_id>", view_func=user_page)
    bp.add_url_rule("/avatars/<user_id>.svg", view_func=avatar)


def campaign_page(campaign_id: str) -> str:
    return _campaign_html(campaign_id, joining=False)


def join_page(campaign_id: str) -> str:
    return _campaign_html(campaign_id, joining=True)


def _campaign_html(campaign_id: str, *, joining: bool) -> str:
    """The campaign's page; on the join page the tiers lead and the posts stay hidden."""
    campaign = _campaign(campaign_id)
    here = world()
    posts = (
        []
        if joining
        else sorted(here.posts_of(campaign.id), key=lambda p: p.published_at, reverse=True)
    )
    return render_template(
        "sandbox/campaign.html",
        campaign=campaign,
        creator=here.user(campaign.creator_id),
        tiers=here.tiers_of(campaign),
        posts=posts,
        tier_titles={} if joining else {t.id: t.title for t in TIERS.values()},
        patron_count=here.patron_count(campaign.id),
        avatar_url=here.avatar_url,
        joining=joining,
    )


def user_page(user_id: str) -> str:
    here = world()
    user = here.user(user_id) if _USER_ID.match(user_id) else None
    if user is None:
        raise PageError(404, "No such user", "The sandbox has no user with that id.")
    supports = [
        CAMPAIGNS[m.campaign_id]
        for m in here.memberships_of(user.id)
        if m.pledge.patron_status == ACTIVE
    ]
    return render_template(
        "sandbox/user.html", user=user, supports=supports, avatar_url=here.avatar_url
    )


def avatar(user_id: str) -> Response:
    user = world().user(user_id) if _USER_ID.match(user_id) else None
    if user is None:
        raise PageError(404, "No such user", "The sandbox has no user with that id.")
    svg = render_template(
        "sandbox/avatar.svg",
        initials=user.first_name[:1] + user.last_name[:1],
        colour=_AVATAR_COLOURS[int(user.id) % len(_AVATAR_COLOURS)],
    )
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = "public, max-age=86400"
    # Opened on its own, the image may run nothing and load nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def _campaign(campaign_id: str) -> Campaign:
    campaign = CAMPAIGNS.get(campaign_id)
    if campaign is None:
        raise PageError(404, "No such campaign", "The sandbox has no campaign with that id.")
    return campaign
