"""The sandbox's world: campaigns, tiers, posts, users and their memberships.

Every id here is stable: other tests import these constants and rely on them.
Persona pledges below are the *defaults*; the control page can change them, and
the changed pledge lives in Redis (see state.py), so this module never mutates.

`SANDBOX_MEMBERS=N` adds N generated members of campaign 5000. Member `i` is
derived from a generator seeded with `i` alone, so it is the same for any N and
on any machine, and is built only when a page needs it.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

# -- ids other tests may import -------------------------------------------------------

CAMPAIGN_ID = "5000"  # the site's campaign; the OAuth client belongs to its creator
OTHER_CAMPAIGN_ID = "5100"

CREATOR_USER_ID = "100"
PATRON_LOW_USER_ID = "201"
PATRON_HIGH_USER_ID = "202"
DECLINED_USER_ID = "203"
FORMER_USER_ID = "204"
FOLLOWER_USER_ID = "205"
OTHER_CREATOR_USER_ID = "300"

TIER_SUPPORTER_ID = "6001"
TIER_VIP_ID = "6002"
TIER_STUDIO_ID = "6003"
TIER_STARGAZER_ID = "6101"

PLEDGE_URL = "/sandbox/c/5000/join"

ACTIVE = "active_patron"
DECLINED = "declined_patron"
FORMER = "former_patron"
PATRON_STATUSES = (ACTIVE, DECLINED, FORMER)

# Generated users get ids from here up, far from the personas' ids.
GENERATED_USER_ID_BASE = 10_000


def member_id(campaign_id: str, user_id: str) -> str:
    """Stable member ids: `m-5000-201` is Lee Low's membership of campaign 5000."""
    return f"m-{campaign_id}-{user_id}"


# Fixed dates keep every answer deterministic from one day to the next.
REFERENCE_DATE = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """Patreon's timestamp format: `2025-06-01T09:00:00.000+00:00`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _day(year: int, month: int, day: int) -> str:
    return iso(datetime(year, month, day, 9, 0, tzinfo=UTC))


# -- resource types ------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    first_name: str
    last_name: str
    email: str
    created: str
    about: str | None = None
    vanity: str | None = None
    campaign_id: str | None = None  # set for creators

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_creator(self) -> bool:
        return self.campaign_id is not None


@dataclass(frozen=True)
class Tier:
    id: str
    campaign_id: str
    title: str
    amount_cents: int
    description: str
    created_at: str
    requires_shipping: bool = False


@dataclass(frozen=True)
class Campaign:
    id: str
    creator_id: str
    creation_name: str
    vanity: str
    one_liner: str
    summary: str
    created_at: str
    published_at: str
    tier_ids: tuple[str, ...]


@dataclass(frozen=True)
class Post:
    id: str
    campaign_id: str
    title: str
    content: str
    published_at: str
    tier_ids: tuple[str, ...] = ()  # empty: public

    @property
    def is_public(self) -> bool:
        return not self.tier_ids


@dataclass(frozen=True)
class Address:
    addressee: str
    line_1: str
    city: str
    state: str
    postal_code: str
    country: str
    created_at: str
    line_2: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True)
class Pledge:
    """The changeable part of a membership (what the control page edits).

    `amount_cents` and `tier_id` are what the member pledges; what they are
    *entitled* to follows from the status (see `entitled_*`), as on Patreon: a
    declined patron still has a pledge but is entitled to nothing.
    """

    patron_status: str | None = None
    tier_id: str | None = None
    amount_cents: int = 0
    last_charge_status: str | None = None
    last_charge_date: str | None = None
    next_charge_date: str | None = None
    pledge_relationship_start: str | None = None
    lifetime_support_cents: int = 0
    note: str = ""

    @property
    def is_active(self) -> bool:
        return self.patron_status == ACTIVE

    @property
    def entitled_amount_cents(self) -> int:
        return self.amount_cents if self.is_active else 0

    @property
    def entitled_tier_ids(self) -> tuple[str, ...]:
        return (self.tier_id,) if self.is_active and self.tier_id else ()

    @property
    def will_pay_amount_cents(self) -> int:
        return self.amount_cents if self.patron_status in (ACTIVE, DECLINED) else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pledge:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass(frozen=True)
class Membership:
    id: str
    campaign_id: str
    user_id: str
    pledge: Pledge
    address: Address | None = None


@dataclass(frozen=True)
class Persona:
    slug: str
    user_id: str
    blurb: str  # one line for the consent page's picker and the control page


class PledgeError(ValueError):
    """A pledge change the control page cannot apply (the message says why)."""


def change_pledge(
    pledge: Pledge, status: str | None, tier: Tier | None, amount_cents: int | None, now: datetime
) -> Pledge:
    """The pledge after the creator (playing Patreon) changes status, tier or amount.

    Mirrors what Patreon reports after each change: a successful charge when a
    pledge becomes active or changes, a declined charge when payment fails, and
    no tier nor amount once the patron leaves.
    """
    if status is not None and status not in PATRON_STATUSES:
        raise PledgeError(f"unknown patron status {status!r}")
    if status is None:
        # Back to "never pledged": a follower with no pledge history.
        return Pledge(note=pledge.note)
    if status == FORMER:
        return replace(
            pledge, patron_status=FORMER, tier_id=None, amount_cents=0, next_charge_date=None
        )
    if tier is None and status == ACTIVE and not amount_cents:
        raise PledgeError("an active pledge needs a tier or an amount")
    amount = amount_cents if amount_cents is not None else (tier.amount_cents if tier else 0)
    if tier is not None and amount < tier.amount_cents:
        raise PledgeError(f"{tier.title} needs at least {tier.amount_cents} cents")
    started = pledge.pledge_relationship_start
    if pledge.patron_status not in (ACTIVE, DECLINED) or not started:
        started = iso(now)
    if status == DECLINED:
        return replace(
            pledge,
            patron_status=DECLINED,
            tier_id=tier.id if tier else None,
            amount_cents=amount,
            last_charge_status="Declined",
            last_charge_date=iso(now),
            pledge_relationship_start=started,
        )
    return replace(
        pledge,
        patron_status=ACTIVE,
        tier_id=tier.id if tier else None,
        amount_cents=amount,
        last_charge_status="Paid",
        last_charge_date=iso(now),
        next_charge_date=iso(now + timedelta(days=30)),
        pledge_relationship_start=started,
        lifetime_support_cents=pledge.lifetime_support_cents + amount,
    )


# -- the fixed world -----------------------------------------------------------------

USERS: dict[str, User] = {
    user.id: user
    for user in (
        User(
            CREATOR_USER_ID,
            "Casey",
            "Creator",
            "casey@example.com",
            _day(2019, 3, 4),
            about="I draw Casey's Comics, a weekly strip about a cat who runs a bookshop.",
            vanity="caseycomics",
            campaign_id=CAMPAIGN_ID,
        ),
        User(PATRON_LOW_USER_ID, "Lee", "Low", "lee.low@example.com", _day(2021, 7, 19)),
        User(
            PATRON_HIGH_USER_ID,
            "Harper",
            "High",
            "harper.high@example.com",
            _day(2020, 1, 8),
            about="Collector of signed prints.",
        ),
        User(DECLINED_USER_ID, "Dana", "Declined", "dana.declined@example.com", _day(2022, 10, 2)),
        User(FORMER_USER_ID, "Frankie", "Former", "frankie.former@example.com", _day(2021, 2, 14)),
        User(
            FOLLOWER_USER_ID, "Finley", "Follower", "finley.follower@example.com", _day(2024, 9, 30)
        ),
        User(
            OTHER_CREATOR_USER_ID,
            "Oakley",
            "Other",
            "oakley@example.com",
            _day(2018, 11, 11),
            about="Amateur astronomer; I share observing logs and sky charts.",
            vanity="oakleyobserves",
            campaign_id=OTHER_CAMPAIGN_ID,
        ),
    )
}

TIERS: dict[str, Tier] = {
    tier.id: tier
    for tier in (
        Tier(
            TIER_SUPPORTER_ID,
            CAMPAIGN_ID,
            "Supporter",
            500,
            "Early access to every strip and your name in the credits.",
            _day(2019, 3, 5),
        ),
        Tier(
            TIER_VIP_ID,
            CAMPAIGN_ID,
            "VIP",
            1500,
            "Everything in Supporter, plus sketchbook PDFs and a monthly Q&A.",
            _day(2019, 3, 5),
        ),
        Tier(
            TIER_STUDIO_ID,
            CAMPAIGN_ID,
            "Studio Pass",
            5000,
            "Everything in VIP, plus a signed print mailed to you every quarter.",
            _day(2020, 6, 1),
            requires_shipping=True,
        ),
        Tier(
            TIER_STARGAZER_ID,
            OTHER_CAMPAIGN_ID,
            "Stargazer",
            300,
            "Monthly sky charts and observing notes.",
            _day(2018, 11, 12),
        ),
    )
}

CAMPAIGNS: dict[str, Campaign] = {
    campaign.id: campaign
    for campaign in (
        Campaign(
            CAMPAIGN_ID,
            CREATOR_USER_ID,
            "Casey's Comics",
            "caseycomics",
            "A weekly webcomic about a cat who runs a bookshop.",
            "New strips every Friday. Patrons read them a week early.",
            _day(2019, 3, 4),
            _day(2019, 3, 10),
            (TIER_SUPPORTER_ID, TIER_VIP_ID, TIER_STUDIO_ID),
        ),
        Campaign(
            OTHER_CAMPAIGN_ID,
            OTHER_CREATOR_USER_ID,
            "Oakley's Observatory",
            "oakleyobserves",
            "Observing logs and sky charts from a backyard telescope.",
            "One observing log a week, with charts for the month ahead.",
            _day(2018, 11, 11),
            _day(2018, 11, 20),
            (TIER_STARGAZER_ID,),
        ),
    )
}

POSTS: dict[str, Post] = {
    post.id: post
    for post in (
        Post(
            "7001",
            CAMPAIGN_ID,
            "Welcome to Casey's Comics",
            "<p>Hello! Here is what to expect from this page.</p>",
            _day(2019, 3, 10),
        ),
        Post(
            "7002",
            CAMPAIGN_ID,
            "Strip #42: The Overdue Book",
            "<p>The cat finds a book forty years overdue.</p>",
            _day(2025, 5, 23),
            (TIER_SUPPORTER_ID, TIER_VIP_ID, TIER_STUDIO_ID),
        ),
        Post(
            "7003",
            CAMPAIGN_ID,
            "Sketchbook: May",
            "<p>Thirty pages of sketches, as a PDF.</p>",
            _day(2025, 5, 30),
            (TIER_VIP_ID, TIER_STUDIO_ID),
        ),
        Post(
            "7101",
            OTHER_CAMPAIGN_ID,
            "Observing log: the Perseids",
            "<p>Forty meteors in an hour.</p>",
            _day(2024, 8, 13),
            (TIER_STARGAZER_ID,),
        ),
    )
}

PERSONAS: dict[str, Persona] = {
    persona.slug: persona
    for persona in (
        Persona("creator", CREATOR_USER_ID, "The creator of Casey's Comics (this site's campaign)"),
        Persona("patron-low", PATRON_LOW_USER_ID, "Active patron at the Supporter tier"),
        Persona(
            "patron-high",
            PATRON_HIGH_USER_ID,
            "Active VIP patron; also supports Oakley's Observatory",
        ),
        Persona("declined", DECLINED_USER_ID, "Their last payment was declined"),
        Persona("former", FORMER_USER_ID, "Cancelled their pledge last year"),
        Persona("follower", FOLLOWER_USER_ID, "Follows for free; never pledged"),
        Persona("other-creator", OTHER_CREATOR_USER_ID, "The creator of another campaign"),
    )
}
# Persona slug -> user id: "patron-low" -> "201".
PERSONA_USER_IDS: dict[str, str] = {slug: p.user_id for slug, p in PERSONAS.items()}

_PAID_MONTHLY = {
    "last_charge_status": "Paid",
    "last_charge_date": _day(2025, 5, 1),
    "next_charge_date": _day(2025, 6, 1),
}

MEMBERSHIPS: dict[str, Membership] = {
    membership.id: membership
    for membership in (
        Membership(
            member_id(CAMPAIGN_ID, PATRON_LOW_USER_ID),
            CAMPAIGN_ID,
            PATRON_LOW_USER_ID,
            Pledge(
                ACTIVE,
                TIER_SUPPORTER_ID,
                500,
                **_PAID_MONTHLY,
                pledge_relationship_start=_day(2024, 2, 10),
                lifetime_support_cents=8000,
            ),
        ),
        Membership(
            member_id(CAMPAIGN_ID, PATRON_HIGH_USER_ID),
            CAMPAIGN_ID,
            PATRON_HIGH_USER_ID,
            Pledge(
                ACTIVE,
                TIER_VIP_ID,
                1500,
                **_PAID_MONTHLY,
                pledge_relationship_start=_day(2020, 1, 8),
                lifetime_support_cents=97500,
                note="Met at the 2023 comic fair.",
            ),
            Address(
                "Harper High",
                "12 Lantern Street",
                "Portland",
                "OR",
                "97201",
                "US",
                _day(2020, 1, 8),
            ),
        ),
        Membership(
            member_id(CAMPAIGN_ID, DECLINED_USER_ID),
            CAMPAIGN_ID,
            DECLINED_USER_ID,
            Pledge(
                DECLINED,
                TIER_SUPPORTER_ID,
                500,
                last_charge_status="Declined",
                last_charge_date=_day(2025, 5, 1),
                pledge_relationship_start=_day(2022, 10, 2),
                lifetime_support_cents=15500,
            ),
        ),
        Membership(
            member_id(CAMPAIGN_ID, FORMER_USER_ID),
            CAMPAIGN_ID,
            FORMER_USER_ID,
            Pledge(
                FORMER,
                last_charge_status="Paid",
                last_charge_date=_day(2024, 11, 1),
                pledge_relationship_start=_day(2021, 2, 14),
                lifetime_support_cents=22500,
            ),
        ),
        Membership(
            member_id(CAMPAIGN_ID, FOLLOWER_USER_ID), CAMPAIGN_ID, FOLLOWER_USER_ID, Pledge()
        ),
        Membership(
            member_id(OTHER_CAMPAIGN_ID, PATRON_HIGH_USER_ID),
            OTHER_CAMPAIGN_ID,
            PATRON_HIGH_USER_ID,
            Pledge(
                ACTIVE,
                TIER_STARGAZER_ID,
                300,
                **_PAID_MONTHLY,
                pledge_relationship_start=_day(2023, 8, 1),
                lifetime_support_cents=6600,
            ),
        ),
    )
}

ALL_SCOPES = (
    "identity",
    "identity[email]",
    "identity.memberships",
    "campaigns",
    "campaigns.members",
    "campaigns.members[email]",
    "campaigns.members.address",
    "campaigns.posts",
    "w:campaigns.webhook",
)

# What the consent page tells the user each scope lets the app do.
SCOPE_DESCRIPTIONS = {
    "identity": "See your name, profile picture and profile link",
    "identity[email]": "See your email address",
    "identity.memberships": "See every creator you support, and at which tier",
    "campaigns": "See your campaign: its details, tiers and goals",
    "campaigns.members": "See your campaign's members and what they pledge",
    "campaigns.members[email]": "See your members' email addresses",
    "campaigns.members.address": "See your members' mailing addresses",
    "campaigns.posts": "See your campaign's posts, including patron-only ones",
    "w:campaigns.webhook": "Create and manage webhooks for your campaign",
}


# -- generated members (SANDBOX_MEMBERS) ---------------------------------------------

_FIRST_NAMES = (
    "Ada",
    "Bea",
    "Cal",
    "Dee",
    "Eli",
    "Fay",
    "Gus",
    "Hal",
    "Ivy",
    "Jo",
    "Kai",
    "Liv",
    "Max",
    "Nia",
    "Oz",
    "Pia",
    "Quin",
    "Rae",
    "Sol",
    "Tess",
    "Uma",
    "Vic",
    "Wren",
    "Xan",
    "Yara",
    "Zed",
    "Amir",
    "Bo",
    "Cleo",
    "Dev",
    "Emi",
    "Finn",
    "Gia",
    "Hugo",
    "Isla",
    "Jun",
)
_LAST_NAMES = (
    "Abbott",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fox",
    "Garcia",
    "Hughes",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Moreau",
    "Nguyen",
    "Okafor",
    "Park",
    "Quint",
    "Rossi",
    "Silva",
    "Tanaka",
    "Underwood",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zhang",
    "Novak",
    "Sato",
    "Berg",
    "Costa",
)
# A realistic mix: most members are active, some declined, some have left.
_STATUS_WEIGHTS = ((ACTIVE, 70), (DECLINED, 10), (FORMER, 20))
_TIER_WEIGHTS = ((TIER_SUPPORTER_ID, 60), (TIER_VIP_ID, 30), (TIER_STUDIO_ID, 10))


class Generated:
    """`count` generated members of campaign 5000, built lazily by index."""

    def __init__(self, count: int):
        self.count = count
        self._cache: dict[int, tuple[User, Membership]] = {}

    def index_of(self, user_id: str) -> int | None:
        if not user_id.isdigit():
            return None
        index = int(user_id) - GENERATED_USER_ID_BASE
        return index if 0 <= index < self.count else None

    def user(self, index: int) -> User:
        return self._entry(index)[0]

    def membership(self, index: int) -> Membership:
        return self._entry(index)[1]

    @cached_property
    def tier_counts(self) -> dict[str, int]:
        """Active generated members per tier (computed once: the data never changes)."""
        counts = dict.fromkeys(TIERS, 0)
        for index in range(self.count):
            pledge = self.membership(index).pledge
            if pledge.is_active and pledge.tier_id:
                counts[pledge.tier_id] += 1
        return counts

    @property
    def active_count(self) -> int:
        return sum(self.tier_counts.values())

    def _entry(self, index: int) -> tuple[User, Membership]:
        entry = self._cache.get(index)
        if entry is None:
            entry = self._cache[index] = _generate(index)
        return entry


def _generate(index: int) -> tuple[User, Membership]:
    # A string seed is hashed the same way on every platform and Python version.
    rng = random.Random(f"patron-gate-sandbox-member:{index}")  # noqa: S311 - not security
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    user_id = str(GENERATED_USER_ID_BASE + index)
    joined = REFERENCE_DATE - timedelta(days=rng.randint(30, 1500))
    user = User(user_id, first, last, f"{first}.{last}.{user_id}@example.com".lower(), iso(joined))
    status = _weighted(rng, _STATUS_WEIGHTS)
    tier = TIERS[_weighted(rng, _TIER_WEIGHTS)]
    amount = tier.amount_cents + (rng.choice((0, 0, 0, 100, 500)) if status == ACTIVE else 0)
    months = max(1, (REFERENCE_DATE - joined).days // 30)
    last_charged_days_ago = rng.randint(0, 400) if status == FORMER else rng.randint(0, 27)
    pledge = Pledge(
        patron_status=status,
        tier_id=None if status == FORMER else tier.id,
        amount_cents=0 if status == FORMER else amount,
        last_charge_status={ACTIVE: "Paid", DECLINED: "Declined", FORMER: "Paid"}[status],
        last_charge_date=iso(REFERENCE_DATE - timedelta(days=last_charged_days_ago)),
        next_charge_date=iso(REFERENCE_DATE + timedelta(days=30)) if status == ACTIVE else None,
        pledge_relationship_start=iso(joined),
        lifetime_support_cents=tier.amount_cents * rng.randint(1, months),
    )
    return user, Membership(member_id(CAMPAIGN_ID, user_id), CAMPAIGN_ID, user_id, pledge)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]
