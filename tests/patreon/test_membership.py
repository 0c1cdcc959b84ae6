"""MembershipSnapshot.widens_access_over: may a webhook's snapshot decide without Patreon?"""

from __future__ import annotations

import pytest

from webapp.patreon.membership import MembershipSnapshot


def snapshot(status="active_patron", cents=500, tiers=(("6001", "Supporter"),), campaign="5000"):
    return MembershipSnapshot(
        user_id="201",
        campaign_id=campaign,
        patron_status=status,
        currently_entitled_amount_cents=cents,
        tier_ids=tuple(tier_id for tier_id, _ in tiers),
        tier_titles=tuple(title for _, title in tiers),
    )


SUPPORTER = snapshot()
VIP = snapshot(cents=1500, tiers=(("6002", "VIP"),))
BOTH = snapshot(cents=2000, tiers=(("6001", "Supporter"), ("6002", "VIP")))
DECLINED = snapshot(status="declined_patron")
FORMER = snapshot(status="former_patron", cents=0, tiers=())
NO_TIER = snapshot(cents=300, tiers=())


@pytest.mark.parametrize(
    ("new", "previous", "widens"),
    [
        # Becoming active widens, whatever was known before.
        (SUPPORTER, None, True),
        (SUPPORTER, DECLINED, True),
        (SUPPORTER, FORMER, True),
        (SUPPORTER, snapshot(campaign="5100"), True),  # another campaign's pledge says nothing
        # More cents, or a tier not held before (by id or by title), widens.
        (VIP, SUPPORTER, True),
        (snapshot(cents=501), SUPPORTER, True),
        (snapshot(tiers=(("6001", "Supporter"), ("6009", "Extra"))), SUPPORTER, True),
        (snapshot(tiers=(("6001", "Supporter Plus"),)), SUPPORTER, True),  # renamed tier
        (SUPPORTER, VIP, True),  # a move to another tier: tier:Supporter could open
        # The same, less, or nothing at all never widens.
        (SUPPORTER, SUPPORTER, False),
        (snapshot(tiers=(("6001", "SUPPORTER"),)), SUPPORTER, False),  # titles ignore case
        (SUPPORTER, BOTH, False),
        (NO_TIER, SUPPORTER, False),
        (snapshot(cents=100), SUPPORTER, False),
        (DECLINED, VIP, False),
        (DECLINED, None, False),
        (FORMER, SUPPORTER, False),
        (snapshot(status=None, cents=0, tiers=()), None, False),
    ],
)
def test_widens_access_over(new, previous, widens):
    assert new.widens_access_over(previous) is widens
