import logging

import pytest

from webapp.patreon import PatreonOauthScope, QueryBuilder, ScopeError
from webapp.patreon.scopes import required_scopes, validate_scopes

S = PatreonOauthScope


@pytest.mark.parametrize(
    ("query", "needed"),
    [
        (QueryBuilder.identity, {"identity"}),
        (QueryBuilder.identity.fields(user=["email"]), {"identity", "identity[email]"}),
        (QueryBuilder.identity.include("campaign"), {"identity", "campaigns"}),
        (
            QueryBuilder.campaign_members.fields(member=["email"]),
            {"campaigns.members", "campaigns.members[email]"},
        ),
        (
            QueryBuilder.campaign_members.include("address"),
            {"campaigns.members", "campaigns.members.address"},
        ),
        (
            QueryBuilder.member.fields(address=["city"]),
            {"campaigns.members", "campaigns.members.address"},
        ),
        (QueryBuilder.campaign_posts, {"campaigns.posts"}),
        (QueryBuilder.webhooks, {"w:campaigns.webhook"}),
    ],
)
def test_required_scopes_cover_route_and_protected_parts(query, needed):
    assert required_scopes(query) == needed


def test_raise_mode_refuses_before_any_request():
    with pytest.raises(ScopeError) as caught:
        validate_scopes(QueryBuilder.identity.fields(user=["email"]), {S.IDENTITY.value}, "raise")
    assert caught.value.missing == ("identity[email]",)


def test_warn_mode_logs_and_goes_on(caplog):
    with caplog.at_level(logging.WARNING):
        validate_scopes(QueryBuilder.campaigns, {"identity"}, "warn")
    assert "campaigns" in caplog.text


def test_off_mode_and_unknown_scopes_check_nothing(caplog):
    validate_scopes(QueryBuilder.webhooks, {"identity"}, "off")
    validate_scopes(QueryBuilder.webhooks, None, "raise")
    assert caplog.text == ""


def test_granted_scopes_pass():
    validate_scopes(
        QueryBuilder.identity.include("memberships"), {"identity", "identity.memberships"}, "raise"
    )
