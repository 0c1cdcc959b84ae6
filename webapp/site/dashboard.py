"""The creator's dashboard: campaign summary, members, CSV export, sync."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from webapp.patreon import PatreonError, StoredToken
from webapp.site.campaign import Campaign
from webapp.site.context import current_campaign
from webapp.site.errors import RETRY_AFTER_SECONDS, BadRequest
from webapp.site.gate import check_access, requires
from webapp.site.members_index import STATUSES, MemberRow, MembersIndex
from webapp.site.rules import Rule
from webapp.site.services import services
from webapp.site.sync import sync_members

log = logging.getLogger(__name__)
bp = Blueprint("dashboard", __name__)

CREATOR = Rule.parse("creator")
PER_PAGE = 50
RECENT_EVENTS_SHOWN = 15
STATUS_LABELS = {
    "active_patron": "Active",
    "declined_patron": "Declined",
    "former_patron": "Former",
    "none": "Never pledged",
}


def creator_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in, the campaign's creator, and the site connected with a creator token.

    The view is called with the campaign and the creator token (read once here).
    Who the creator is comes from the stored campaign: while it is unknown (a
    fresh deploy whose campaign could not be read yet) nobody can be told apart
    from the creator, so everyone gets a 503 with how to connect. Once it is
    known, only the creator is shown the connect page when the token is lost.
    """

    @requires("login")
    @wraps(view)
    def gated(*args: Any, **kwargs: Any) -> Any:
        campaign = current_campaign()
        if campaign is None or campaign.creator_id is None:
            return connect_page(campaign, status=503)
        denied = check_access(CREATOR)
        if denied is not None:
            return denied
        token = services().creator_store().get()
        if token is None:
            return connect_page(campaign, status=200)
        return view(campaign, token, *args, **kwargs)

    return gated


def connect_page(campaign: Campaign | None, status: int) -> tuple[str, int, dict[str, str]]:
    """How to store a creator token; 503 (retry later) while the creator is unknown."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    page = render_template(
        "dashboard/connect.html", campaign=campaign, creator_unknown=status == 503
    )
    return page, status, headers


@bp.get("/dashboard")
@creator_only
def index(campaign: Campaign, token: StoredToken) -> str:
    svc = services()
    summary = MembersIndex(svc, campaign.id).summary(t.id for t in campaign.tiers)
    events = [
        json.loads(e) for e in svc.redis.lrange(svc.keys.webhook_events, 0, RECENT_EVENTS_SHOWN - 1)
    ]
    return render_template(
        "dashboard/index.html",
        campaign=campaign,
        summary=summary,
        chart=tier_chart(campaign, summary.by_tier),
        token=token,
        events=events,
        status_labels=STATUS_LABELS,
    )


@bp.get("/dashboard/members")
@creator_only
def members(campaign: Campaign, token: StoredToken) -> str:
    filters = member_filters(campaign)
    page = request.args.get("page", 1, type=int)
    result = MembersIndex(services(), campaign.id).page(
        **filters, page=max(1, page), per_page=PER_PAGE
    )
    return render_template(
        "dashboard/members.html",
        campaign=campaign,
        result=result,
        filters=filters,
        status_labels=STATUS_LABELS,
        tier_titles={t.id: t.title for t in campaign.tiers},
    )


@bp.get("/dashboard/members.csv")
@creator_only
def members_csv(campaign: Campaign, token: StoredToken) -> Response:
    # Which members match is read here, before the answer starts streaming.
    rows = MembersIndex(services(), campaign.id).iter_rows(**member_filters(campaign))
    titles = {t.id: t.title for t in campaign.tiers}
    return Response(
        csv_lines(rows, titles),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )


@bp.post("/dashboard/sync")
@creator_only
def sync(campaign: Campaign, token: StoredToken) -> WerkzeugResponse:
    try:
        count = sync_members(services())
    except PatreonError as exc:
        log.warning("dashboard sync failed: %s", exc)
        flash("Patreon did not answer the sync. Nothing was changed; try again later.", "error")
    else:
        flash(f"Synced {count:,} members from Patreon.", "success")
    return redirect(url_for("dashboard.index"))


def member_filters(campaign: Campaign) -> dict[str, Any]:
    status = request.args.get("status") or None
    tier = request.args.get("tier") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Unknown status filter. Use one of: {', '.join(STATUSES)}.")
    if tier is not None and tier not in {t.id for t in campaign.tiers}:
        raise BadRequest("Unknown tier filter: pick a tier of this campaign.")
    return {"status": status, "tier": tier, "search": request.args.get("q", "")[:100]}


CSV_COLUMNS = [
    "name",
    "status",
    "tiers",
    "entitled_cents",
    "last_charge_status",
    "last_charge_date",
    "pledge_start",
    "member_id",
    "user_id",
]


def csv_lines(rows: Iterator[MemberRow], titles: dict[str, str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                spreadsheet_safe(row.name),
                row.status,
                "; ".join(titles.get(t, t) for t in row.tier_ids),
                row.cents,
                row.last_charge_status or "",
                row.last_charge_date or "",
                row.pledge_start or "",
                row.id,
                row.user_id,
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def spreadsheet_safe(text: str) -> str:
    """Names are typed by members: keep a spreadsheet from running one as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    y: int
    width: int
    height: int


CHART_WIDTH, CHART_HEIGHT, CHART_LABELS = 600, 240, 40


def tier_chart(campaign: Campaign, counts: dict[str, int]) -> list[Bar]:
    """Bars for patrons by tier, laid out for a server-rendered SVG (no JS)."""
    tiers = campaign.tiers
    if not tiers:
        return []
    slot = CHART_WIDTH // len(tiers)
    tallest = max(counts.values(), default=0) or 1
    bars = []
    for position, tier in enumerate(tiers):
        count = counts.get(tier.id, 0)
        height = round((CHART_HEIGHT - CHART_LABELS) * count / tallest)
        bars.append(
            Bar(
                label=tier.title,
                count=count,
                x=position * slot + slot // 6,
                y=CHART_HEIGHT - CHART_LABELS - height,
                width=slot * 2 // 3,
                height=height,
            )
        )
    return bars
