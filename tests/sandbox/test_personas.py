"""Stable persona ids, deterministic generated members, and pledge changes."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.sandbox.conftest import PORTAL_ACCESS
from webapp.sandbox import personas
from webapp.sandbox.personas import (
    ACTIVE,
    DECLINED,
    FORMER,
    MEMBERSHIPS,
    TIERS,
    Generated,
    Pledge,
    PledgeError,
    change_pledge,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_the_ids_other_tests_rely_on():
    assert personas.PERSONA_USER_IDS == {
        "creator": "100",
        "patron-low": "201",
        "patron-high": "202",
        "declined": "203",
        "former": "204",
        "follower": "205",
        "other-creator": "300",
    }
    assert (personas.CAMPAIGN_ID, personas.OTHER_CAMPAIGN_ID) == ("5000", "5100")
    assert {t.id: (t.title, t.amount_cents) for t in TIERS.values()} == {
        "6001": ("Supporter", 500),
        "6002": ("VIP", 1500),
        "6003": ("Studio Pass", 5000),
        "6101": ("Stargazer", 300),
    }
    assert personas.member_id("5000", "201") == "m-5000-201"
    assert personas.PLEDGE_URL == "/sandbox/c/5000/join"
    assert set(MEMBERSHIPS) == {
        "m-5000-201", "m-5000-202", "m-5000-203", "m-5000-204", "m-5000-205", "m-5100-202",
    }  # fmt: skip


def test_generated_members_are_the_same_for_the_same_index_whatever_n():
    small, large = Generated(20), Generated(500)
    for index in range(20):
        assert small.user(index) == large.user(index)
        assert small.membership(index) == large.membership(index)
    assert Generated(500).tier_counts == large.tier_counts


def test_generated_members_are_a_realistic_mix():
    generated = Generated(2000)
    statuses = Counter(generated.membership(i).pledge.patron_status for i in range(2000))
    assert statuses[ACTIVE] > statuses[FORMER] > statuses[DECLINED] > 100
    tiers = Counter(generated.membership(i).pledge.tier_id for i in range(2000))
    assert set(tiers) == {"6001", "6002", "6003", None}
    names = {generated.user(i).full_name for i in range(2000)}
    assert len(names) > 500
    assert generated.index_of("10005") == 5 and generated.index_of("201") is None
    assert generated.index_of("12000") is None


def test_ten_thousand_members_page_quickly(make_sandbox):
    sandbox = make_sandbox(extra_members=10_000)
    started = time.perf_counter()
    cursor, seen = None, 0
    while True:
        path = "/campaigns/5000/members?page[count]=1000&include=user,currently_entitled_tiers"
        path += "&fields[member]=full_name,patron_status,currently_entitled_amount_cents"
        path += "&fields[user]=full_name&fields[tier]=title"
        document = sandbox.api(path + (f"&page[cursor]={cursor}" if cursor else ""), PORTAL_ACCESS)
        seen += len(document.json["data"])
        cursor = document.json["meta"]["pagination"]["cursors"]["next"]
        if not cursor:
            break
    elapsed = time.perf_counter() - started
    assert seen == 10_005
    assert elapsed < 8, f"11 pages of 1,000 members took {elapsed:.1f}s"


# -- what a pledge change does -------------------------------------------------------


def test_declining_keeps_the_pledge_but_entitles_to_nothing():
    active = MEMBERSHIPS["m-5000-201"].pledge
    declined = change_pledge(active, DECLINED, TIERS["6001"], None, NOW)
    assert declined.patron_status == DECLINED
    assert declined.will_pay_amount_cents == 500
    assert declined.entitled_amount_cents == 0 and declined.entitled_tier_ids == ()
    assert declined.last_charge_status == "Declined"
    assert declined.pledge_relationship_start == active.pledge_relationship_start


def test_activating_charges_and_starts_a_pledge():
    follower = Pledge()
    active = change_pledge(follower, ACTIVE, TIERS["6002"], None, NOW)
    assert active.entitled_amount_cents == 1500
    assert active.entitled_tier_ids == ("6002",)
    assert active.last_charge_status == "Paid"
    assert active.pledge_relationship_start == "2026-01-15T12:00:00.000+00:00"
    assert active.lifetime_support_cents == 1500


def test_leaving_clears_tier_and_amount():
    former = change_pledge(MEMBERSHIPS["m-5000-202"].pledge, FORMER, None, None, NOW)
    assert (former.tier_id, former.amount_cents, former.will_pay_amount_cents) == (None, 0, 0)
    assert former.lifetime_support_cents == MEMBERSHIPS["m-5000-202"].pledge.lifetime_support_cents


@pytest.mark.parametrize(
    ("status", "tier", "amount"),
    [("paused", None, None), (ACTIVE, "6002", 1000), (ACTIVE, None, None)],
)
def test_impossible_pledges_are_refused(status, tier, amount):
    with pytest.raises(PledgeError):
        change_pledge(Pledge(), status, TIERS.get(tier or ""), amount, NOW)
