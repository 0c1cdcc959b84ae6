"""Per-request facts shared by views, gating and templates."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import g

from webapp.site.campaign import Campaign, CampaignService
from webapp.site.services import services


def current_campaign() -> Campaign | None:
    """The campaign, checked once per request (the user loader may have read it already)."""
    if not g.get("campaign_checked"):
        remember_campaign(CampaignService(services()).ensure(g.get("campaign")), checked=True)
    return g.campaign


def remember_campaign(campaign: Campaign | None, *, checked: bool = False) -> None:
    """Keep this request's campaign in `g` (error pages name the site from it too).

    Unchecked: the stored record the user loader read in its MGET, which
    current_campaign() still refreshes when it is stale. Checked: the answer of
    CampaignService.ensure(), final for this request; a later stored copy
    (the user loader running after it) does not replace it.
    """
    if g.get("campaign_checked"):
        return
    g.campaign = campaign
    g.campaign_checked = checked


def pledge_link() -> str:
    """Where to become a patron: the campaign's pledge page on Patreon (or the sandbox)."""
    campaign = current_campaign()
    web_base = patreon_web_base()
    target = (campaign and (campaign.pledge_url or campaign.url)) or "/"
    return urljoin(web_base + "/", target) if web_base else target


def patreon_web_base() -> str:
    """Patreon's site for a browser: the origin of the authorize page ("" = this site)."""
    authorize_url = services().config.patreon_authorize_url
    parts = urlsplit(authorize_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
