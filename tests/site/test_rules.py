from dataclasses import dataclass

import pytest

from webapp.patreon import MembershipSnapshot
from webapp.site.rules import Rule, RuleError, parse_access_rules, rule_for_path


@dataclass
class Viewer:
    is_authenticated: bool = True
    is_owner: bool = False
    membership: MembershipSnapshot | None = None


def member(status="active_patron", cents=500, tiers=("6001",), titles=("Supporter",)):
    return MembershipSnapshot(
        user_id="1",
        campaign_id="5000",
        patron_status=status,
        currently_entitled_amount_cents=cents,
        tier_ids=tiers,
        tier_titles=titles,
    )


ANONYMOUS = Viewer(is_authenticated=False)
OWNER = Viewer(is_owner=True)
LOW = Viewer(membership=member())
HIGH = Viewer(membership=member(cents=1500, tiers=("6002",), titles=("VIP",)))
DECLINED = Viewer(membership=member(status="declined_patron", cents=500))
FORMER = Viewer(membership=member(status="former_patron", cents=0, tiers=(), titles=()))
FOLLOWER = Viewer(membership=member(status=None, cents=0, tiers=(), titles=()))
NO_SNAPSHOT = Viewer(membership=None)


@pytest.mark.parametrize(
    ("rule", "viewer", "allowed"),
    [
        ("public", ANONYMOUS, True),
        ("login", ANONYMOUS, False),
        ("login", FOLLOWER, True),
        ("patron", LOW, True),
        ("patron", DECLINED, False),  # the status check other integrations forgot
        ("patron", FORMER, False),
        ("patron", FOLLOWER, False),
        ("patron", NO_SNAPSHOT, False),
        ("patron", ANONYMOUS, False),
        ("patron>=1000", LOW, False),
        ("patron>=1000", HIGH, True),
        ("patron>=500", LOW, True),
        ("patron>=500", DECLINED, False),
        ("tier:VIP", HIGH, True),
        ("tier:vip", HIGH, True),
        ("tier:6002", HIGH, True),
        ("tier:VIP", LOW, False),
        ("creator", HIGH, False),
        ("creator", OWNER, True),
        ("patron>=100000", OWNER, True),
        ("tier:Nothing", OWNER, True),
        ("creator", ANONYMOUS, False),
    ],
)
def test_rules_decide(rule, viewer, allowed):
    assert Rule.parse(rule).allows(viewer) is allowed


@pytest.mark.parametrize(
    "text", ["", "patrons", "patron>=", "patron>=-5", "patron>=5.5", "tier:", "tier:  ", "admin", 5]
)
def test_malformed_rules_are_refused(text):
    with pytest.raises(RuleError):
        Rule.parse(text)


def test_access_rules_parse_from_json_and_name_the_bad_rule():
    rules = parse_access_rules('{"/blog": "login", "/blog/gold/": "tier:Gold"}')
    assert rules["/blog/gold"].tier == "Gold"
    with pytest.raises(RuleError, match="/vip"):
        parse_access_rules('{"/vip": "patron>=lots"}')
    with pytest.raises(RuleError, match="JSON"):
        parse_access_rules("{not json")
    with pytest.raises(RuleError, match="start with"):
        parse_access_rules('{"members": "patron"}')
    with pytest.raises(RuleError):
        parse_access_rules('["patron"]')


def test_the_longest_prefix_wins_on_whole_segments():
    rules = parse_access_rules(
        {"/members": "patron", "/members/vip": "patron>=1000", "/": "public"}
    )
    assert rule_for_path(rules, "/members/vip/room")[0] == "/members/vip"
    assert rule_for_path(rules, "/members/vip")[0] == "/members/vip"
    assert rule_for_path(rules, "/members/viper")[0] == "/members"
    assert rule_for_path(rules, "/membership")[0] == "/"
    assert rule_for_path({"/members": Rule.parse("patron")}, "/other") is None


SNAPSHOTS = [
    member(),
    member(cents=1500, tiers=("6002",), titles=("VIP",)),
    member(cents=2000, tiers=("6001", "6002"), titles=("Supporter", "VIP")),
    member(cents=300, tiers=(), titles=()),
    member(status="declined_patron"),
    member(status="former_patron", cents=0, tiers=(), titles=()),
    member(status=None, cents=0, tiers=(), titles=()),
    None,
]
RULE_TEXTS = [
    "patron",
    "patron>=300",
    "patron>=500",
    "patron>=1500",
    "patron>=2000",
    "tier:6001",
    "tier:6002",
    "tier:Supporter",
    "tier:vip",
    "login",
    "public",
]
EVERY_KIND_OF_RULE = [Rule.parse(text) for text in RULE_TEXTS]


@pytest.mark.parametrize("previous", SNAPSHOTS)
@pytest.mark.parametrize("new", SNAPSHOTS[:-1])
def test_a_snapshot_that_does_not_widen_access_passes_no_rule_the_previous_failed(new, previous):
    """widens_access_over is exact for the rules: the webhook's safety rests on it."""
    opened = [
        rule.text
        for rule in EVERY_KIND_OF_RULE
        if rule.allows(Viewer(membership=new)) and not rule.allows(Viewer(membership=previous))
    ]
    if new.widens_access_over(previous):
        assert opened
    else:
        assert opened == []


def test_rules_describe_what_is_needed():
    assert "$10.00" in Rule.parse("patron>=1000").describe()
    assert "Gold" in Rule.parse("tier:Gold").describe()
