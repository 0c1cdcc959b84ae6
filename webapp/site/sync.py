"""Re-read every member of the campaign from Patreon into the members index."""

from __future__ import annotations

from collections.abc import Callable

from webapp.patreon import Document, QueryBuilder
from webapp.site.campaign import CampaignService
from webapp.site.members_index import MembersIndex
from webapp.site.membership import MEMBER_FIELDS
from webapp.site.services import Services

SYNC_QUERY = QueryBuilder.campaign_members.include("currently_entitled_tiers", "user").fields(
    member=MEMBER_FIELDS, user=["full_name"], tier=["title"]
)

Progress = Callable[[int, int], None]  # (members read so far, total Patreon reports)


def sync_members(svc: Services, progress: Progress | None = None) -> int:
    """Read all pages (1,000 members each) and swap the index in one step."""
    client = svc.batch_creator_client
    campaign = CampaignService(svc).refresh(client)
    read = 0

    def on_page(document: Document) -> None:
        nonlocal read
        read += len(document.items)
        if progress is not None:
            progress(read, max(read, document.total or read))

    members = client.iter_campaign_members(campaign.id, SYNC_QUERY, page_size=1000, on_page=on_page)
    return MembersIndex(svc, campaign.id).rebuild(members)
