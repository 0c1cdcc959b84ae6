"""One request's view of the sandbox's data, as JSON:API nodes.

`World` joins the fixed data (personas.py), the generated members, and the
pledges the control page changed (read from Redis once per request). Every URL
it puts in an attribute is root-relative (`/sandbox/...`): a browser follows
them, and the host a server-side request came to (e.g. the in-process
`patron-gate.internal`) may mean nothing to a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from webapp.sandbox.jsonapi import Node
from webapp.sandbox.personas import (
    ACTIVE,
    CAMPAIGN_ID,
    CAMPAIGNS,
    DECLINED,
    FORMER,
    MEMBERSHIPS,
    POSTS,
    TIERS,
    USERS,
    Campaign,
    Generated,
    Membership,
    Pledge,
    Post,
    Tier,
    User,
    member_id,
)

# How the pages show a patron status: (label, badge tone).
STATUS_BADGES = {
    ACTIVE: ("Active patron", "success"),
    DECLINED: ("Declined", "danger"),
    FORMER: ("Former patron", "muted"),
    None: ("Follower", "info"),
}


class World:
    def __init__(self, generated: Generated, pledges: dict[str, Pledge], prefix: str = "/sandbox"):
        self.generated = generated
        self.pledges = pledges  # changed persona pledges by member id
        self.prefix = prefix.rstrip("/")
        # Campaigns and tiers are reached from every member of a page: build each once.
        self._shared_nodes: dict[tuple[str, str], Node] = {}

    # -- lookups ----------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        user = USERS.get(user_id)
        if user is None and (index := self.generated.index_of(user_id)) is not None:
            user = self.generated.user(index)
        return user

    def campaign(self, campaign_id: str) -> Campaign | None:
        return CAMPAIGNS.get(campaign_id)

    def post(self, post_id: str) -> Post | None:
        return POSTS.get(post_id)

    def membership(self, member_id: str) -> Membership | None:
        static = MEMBERSHIPS.get(member_id)
        if static is not None:
            return self._with_pledge(static)
        # Generated ids look like m-5000-10003; the id check below rejects other shapes.
        user_id = member_id.rpartition("-")[2]
        index = self.generated.index_of(user_id)
        membership = self.generated.membership(index) if index is not None else None
        return membership if membership and membership.id == member_id else None

    def memberships_of(self, user_id: str) -> list[Membership]:
        index = self.generated.index_of(user_id)
        if index is not None:
            return [self.generated.membership(index)]
        return [self._with_pledge(m) for m in MEMBERSHIPS.values() if m.user_id == user_id]

    def campaign_of(self, user_id: str) -> Campaign | None:
        user = self.user(user_id)
        return CAMPAIGNS.get(user.campaign_id) if user and user.campaign_id else None

    def member_count(self, campaign_id: str) -> int:
        return len(self._static_members(campaign_id)) + self._generated_count(campaign_id)

    def members_page(self, campaign_id: str, offset: int, count: int) -> list[Membership]:
        """Members in a stable order: the personas, then generated members by index."""
        static = self._static_members(campaign_id)
        page = static[offset : offset + count]
        start = max(0, offset - len(static))
        stop = min(self._generated_count(campaign_id), start + count - len(page))
        page.extend(self.generated.membership(i) for i in range(start, stop))
        return page

    def posts_of(self, campaign_id: str) -> list[Post]:
        return [p for p in POSTS.values() if p.campaign_id == campaign_id]

    def tiers_of(self, campaign: Campaign) -> list[Tier]:
        return [TIERS[t] for t in campaign.tier_ids]

    def patron_count(self, campaign_id: str) -> int:
        static = sum(1 for m in self._static_members(campaign_id) if m.pledge.is_active)
        generated = self.generated.active_count if self._generated_count(campaign_id) else 0
        return static + generated

    def tier_patron_count(self, tier: Tier) -> int:
        static = sum(
            1
            for m in self._static_members(tier.campaign_id)
            if tier.id in m.pledge.entitled_tier_ids
        )
        return static + self.generated.tier_counts.get(tier.id, 0)

    def _static_members(self, campaign_id: str) -> list[Membership]:
        return [self._with_pledge(m) for m in MEMBERSHIPS.values() if m.campaign_id == campaign_id]

    def _generated_count(self, campaign_id: str) -> int:
        return self.generated.count if campaign_id == CAMPAIGN_ID else 0

    def _with_pledge(self, membership: Membership) -> Membership:
        pledge = self.pledges.get(membership.id)
        return replace(membership, pledge=pledge) if pledge else membership

    def status_badge(self, user_id: str) -> tuple[str, str]:
        """(label, tone) of the user's standing with the site's campaign, for the pages."""
        user = self.user(user_id)
        if user is not None and user.campaign_id == CAMPAIGN_ID:
            return "Creator", "accent"
        if user is not None and user.is_creator:
            return "Another campaign's creator", "muted"
        membership = self.membership(member_id(CAMPAIGN_ID, user_id))
        if membership is None:
            return "Not a member", "muted"
        label, tone = STATUS_BADGES[membership.pledge.patron_status]
        tier = TIERS.get(membership.pledge.tier_id or "")
        return (f"{label} · {tier.title}" if membership.pledge.is_active and tier else label), tone

    # -- urls -------------------------------------------------------------------------

    def avatar_url(self, user_id: str) -> str:
        return f"{self.prefix}/avatars/{user_id}.svg"

    def campaign_url(self, campaign_id: str) -> str:
        return f"{self.prefix}/c/{campaign_id}"

    def user_url(self, user: User) -> str:
        if user.campaign_id:
            return self.campaign_url(user.campaign_id)
        return f"{self.prefix}/u/{user.id}"

    # -- nodes ------------------------------------------------------------------------

    def user_node(self, user: User, memberships: list[Membership] | None = None) -> Node:
        """`memberships` overrides which memberships the user shows (scope rules)."""
        shown = self.memberships_of(user.id) if memberships is None else memberships
        campaign = self.campaign_of(user.id)
        return Node(
            "user",
            user.id,
            {
                "about": user.about,
                "can_see_nsfw": False,
                "created": user.created,
                "email": user.email,
                "first_name": user.first_name,
                "full_name": user.full_name,
                "hide_pledges": False,
                "image_url": self.avatar_url(user.id),
                "is_creator": user.is_creator,
                "is_email_verified": True,
                "last_name": user.last_name,
                "like_count": 0,
                "social_connections": {},
                "thumb_url": self.avatar_url(user.id),
                "url": self.user_url(user),
                "vanity": user.vanity,
            },
            {
                "memberships": lambda: [self.member_node(m) for m in shown],
                "campaign": lambda: self.campaign_node(campaign) if campaign else None,
            },
        )

    def campaign_node(self, campaign: Campaign) -> Node:
        key = ("campaign", campaign.id)
        if key not in self._shared_nodes:
            self._shared_nodes[key] = self._build_campaign_node(campaign)
        return self._shared_nodes[key]

    def tier_node(self, tier: Tier) -> Node:
        key = ("tier", tier.id)
        if key not in self._shared_nodes:
            self._shared_nodes[key] = self._build_tier_node(tier)
        return self._shared_nodes[key]

    def _build_campaign_node(self, campaign: Campaign) -> Node:
        creator = USERS[campaign.creator_id]
        return Node(
            "campaign",
            campaign.id,
            {
                "created_at": campaign.created_at,
                "creation_name": campaign.creation_name,
                "discord_server_id": None,
                "google_analytics_id": None,
                "has_rss": False,
                "has_sent_rss_notify": False,
                "image_small_url": self.avatar_url(creator.id),
                "image_url": self.avatar_url(creator.id),
                "is_charged_immediately": True,
                "is_monthly": True,
                "is_nsfw": False,
                "main_video_embed": None,
                "main_video_url": None,
                "one_liner": campaign.one_liner,
                "patron_count": self.patron_count(campaign.id),
                "pay_per_name": "month",
                "pledge_url": f"{self.campaign_url(campaign.id)}/join",
                "published_at": campaign.published_at,
                "rss_artwork_url": None,
                "rss_feed_title": None,
                "show_earnings": False,
                "summary": campaign.summary,
                "thanks_embed": None,
                "thanks_msg": f"Thank you for supporting {campaign.creation_name}!",
                "thanks_video_url": None,
                "url": self.campaign_url(campaign.id),
                "vanity": campaign.vanity,
            },
            {
                "tiers": lambda: [self.tier_node(t) for t in self.tiers_of(campaign)],
                "creator": lambda: self.user_node(creator),
                "benefits": list,
                "goals": list,
            },
        )

    def _build_tier_node(self, tier: Tier) -> Node:
        return Node(
            "tier",
            tier.id,
            {
                "amount_cents": tier.amount_cents,
                "created_at": tier.created_at,
                "description": tier.description,
                "discord_role_ids": None,
                "edited_at": tier.created_at,
                "image_url": None,
                "patron_count": self.tier_patron_count(tier),
                "post_count": sum(1 for p in POSTS.values() if tier.id in p.tier_ids),
                "published": True,
                "published_at": tier.created_at,
                "remaining": None,
                "requires_shipping": tier.requires_shipping,
                "title": tier.title,
                "unpublished_at": None,
                "url": f"{self.campaign_url(tier.campaign_id)}/join#tier-{tier.id}",
                "user_limit": None,
            },
        )

    def member_node(self, membership: Membership) -> Node:
        pledge = membership.pledge
        user = self.user(membership.user_id)
        campaign = CAMPAIGNS[membership.campaign_id]
        return Node(
            "member",
            membership.id,
            {
                "campaign_lifetime_support_cents": pledge.lifetime_support_cents,
                "currently_entitled_amount_cents": pledge.entitled_amount_cents,
                "email": user.email if user else None,
                "full_name": user.full_name if user else None,
                "is_follower": pledge.patron_status is None,
                "is_free_trial": False,
                "is_gifted": False,
                "last_charge_date": pledge.last_charge_date,
                "last_charge_status": pledge.last_charge_status,
                "lifetime_support_cents": pledge.lifetime_support_cents,
                "next_charge_date": pledge.next_charge_date,
                "note": pledge.note,
                "patron_status": pledge.patron_status,
                "pledge_cadence": 1 if pledge.patron_status else None,
                "pledge_relationship_start": pledge.pledge_relationship_start,
                "will_pay_amount_cents": pledge.will_pay_amount_cents,
            },
            {
                "user": lambda: self.user_node(user) if user else None,
                "campaign": lambda: self.campaign_node(campaign),
                "currently_entitled_tiers": lambda: [
                    self.tier_node(TIERS[t]) for t in pledge.entitled_tier_ids
                ],
                "address": lambda: self.address_node(membership),
                "pledge_history": lambda: list(self.pledge_events(membership)),
            },
        )

    def address_node(self, membership: Membership) -> Node | None:
        address = membership.address
        if address is None:
            return None
        attributes: dict[str, Any] = {
            name: getattr(address, name)
            for name in (
                "addressee", "city", "country", "created_at", "line_1", "line_2",
                "phone_number", "postal_code", "state",
            )
        }  # fmt: skip
        return Node("address", f"addr-{membership.id}", attributes)

    def pledge_events(self, membership: Membership) -> Iterator[Node]:
        """The member's pledge history: when the pledge started, and the last charge."""
        pledge = membership.pledge
        tier = TIERS.get(pledge.tier_id or "")
        if pledge.pledge_relationship_start:
            yield self._pledge_event(
                membership, "pledge_start", pledge.pledge_relationship_start, pledge, tier, "Paid"
            )
        if pledge.last_charge_date and pledge.last_charge_status:
            yield self._pledge_event(
                membership,
                "subscription",
                pledge.last_charge_date,
                pledge,
                tier,
                pledge.last_charge_status,
            )

    @staticmethod
    def _pledge_event(
        membership: Membership,
        kind: str,
        date: str,
        pledge: Pledge,
        tier: Tier | None,
        payment_status: str,
    ) -> Node:
        return Node(
            "pledge-event",
            f"{kind}:{membership.id}:{date[:10]}",
            {
                "amount_cents": pledge.amount_cents or (tier.amount_cents if tier else 0),
                "currency_code": "USD",
                "date": date,
                "payment_status": payment_status,
                "pledge_payment_status": "valid" if payment_status == "Paid" else "declined",
                "tier_id": tier.id if tier else None,
                "tier_title": tier.title if tier else None,
                "type": kind,
            },
        )

    def post_node(self, post: Post) -> Node:
        campaign = CAMPAIGNS[post.campaign_id]
        return Node(
            "post",
            post.id,
            {
                "app_id": None,
                "app_status": None,
                "content": post.content,
                "embed_data": None,
                "embed_url": None,
                "is_paid": False,
                "is_public": post.is_public,
                "published_at": post.published_at,
                "tiers": list(post.tier_ids),
                "title": post.title,
                "url": f"{self.campaign_url(post.campaign_id)}#post-{post.id}",
            },
            {
                "user": lambda: self.user_node(USERS[campaign.creator_id]),
                "campaign": lambda: self.campaign_node(campaign),
            },
        )

    def webhook_node(self, record: dict[str, Any], client: Node) -> Node:
        campaign = CAMPAIGNS[record["campaign_id"]]
        attributes = {
            name: record[name]
            for name in (
                "last_attempted_at", "num_consecutive_times_failed", "paused", "secret",
                "triggers", "uri",
            )
        }  # fmt: skip
        return Node(
            "webhook",
            record["id"],
            attributes,
            {"campaign": lambda: self.campaign_node(campaign), "client": lambda: client},
        )
