"""Who may open what, as a browser sees it through the test client (SPEC §3, §4)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import base_env
from tests.site.helpers import WEBHOOK_SECRET, member_body, post_webhook
from webapp import create_app

PERSONA_ACCESS = {
    # persona: (/members, /members/vip, /dashboard)
    "creator": (200, 200, 200),
    "patron-low": (200, 403, 403),
    "patron-high": (200, 200, 403),
    "declined": (403, 403, 403),
    "former": (403, 403, 403),
    "follower": (403, 403, 403),
    "other-creator": (403, 403, 403),
}


@pytest.mark.parametrize(("persona", "expected"), PERSONA_ACCESS.items())
def test_each_persona_opens_what_its_pledge_allows(client, auth, persona, expected):
    auth.login(persona)
    got = tuple(client.get(path).status_code for path in ("/members", "/members/vip", "/dashboard"))
    assert got == expected


def test_anonymous_visitors_are_sent_to_log_in_with_next(client):
    answer = client.get("/members/vip?x=1")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/members/vip?x%3D1"


def test_the_403_says_what_is_needed_and_links_to_the_pledge_page(client, auth):
    auth.login("patron-low")
    page = client.get("/members/vip")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "at least $10.00 a month" in text
    assert 'href="/sandbox/c/5000/join"' in text


def test_public_pages_and_the_api_are_open(client):
    assert client.get("/").status_code == 200
    me = client.get("/api/me").json
    assert me == {
        "authenticated": False,
        "user": None,
        "membership": None,
        "rules": {
            "/members": {"rule": "patron", "passes": False},
            "/members/vip": {"rule": "patron>=1000", "passes": False},
        },
    }


class TestConfiguredRules:
    @pytest.fixture
    def app_env(self, app_env):
        rules = '{"/members": "tier:VIP", "/members/vip": "login", "/dashboard": "public"}'
        return {**app_env, "ACCESS_RULES": rules}

    def test_access_rules_re_gate_pages_but_never_open_the_dashboard(self, client, auth):
        auth.login("patron-low")
        assert client.get("/members").status_code == 403  # Supporter, not VIP
        assert client.get("/members/vip").status_code == 200  # any login
        assert client.get("/dashboard").status_code == 403  # @requires("creator") in code
        auth.login("patron-high")
        assert client.get("/members").status_code == 200


def test_the_owner_passes_every_rule(client, auth):
    auth.login("creator")
    assert client.get("/members").status_code == 200
    assert client.get("/api/me").json["rules"]["/members"]["passes"] is True


def test_requires_decorates_views_with_a_parsed_rule():
    from webapp.site.gate import requires
    from webapp.site.rules import RuleError

    @requires("patron>=500")
    def view():
        return "ok"

    assert view.access_rule.amount_cents == 500
    with pytest.raises(RuleError):
        requires("patron>=five")


# -- a site-wide rule never locks the site's own machinery (login, health, webhooks) --------


@pytest.mark.parametrize("site_wide", ["login", "patron"])
class TestSiteWideRule:
    @pytest.fixture
    def app_env(self, app_env, site_wide):
        return {
            **app_env,
            "ACCESS_RULES": json.dumps({"/": site_wide}),
            "PATREON_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }

    def test_login_health_static_webhooks_and_the_sandbox_stay_open(self, client):
        to_patreon = client.get("/login?next=/members")
        assert to_patreon.status_code == 302
        assert to_patreon.headers["Location"].startswith("/sandbox/oauth2/authorize?")
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/static/css/site.css").status_code == 200
        assert client.get("/sandbox/").status_code == 200
        assert client.get("/sandbox/stats").status_code == 200
        assert post_webhook(client, member_body("201")).json["status"] == "applied"
        callback = client.get("/auth/patreon/callback?code=x&state=y")
        assert callback.status_code == 400  # the callback's own answer, not a login redirect

    def test_a_visitor_logs_in_and_out_through_it(self, client, auth):
        assert auth.login("patron-low", "/members").headers["Location"] == "/members"
        assert client.get("/members").status_code == 200
        assert client.get("/").status_code == 200
        assert auth.logout().status_code == 302
        assert client.get("/api/me").headers["Location"] == "/login?next=/api/me"

    def test_every_other_page_is_gated(self, client, auth, site_wide):
        for path in ("/", "/api/me", "/members", "/no-such-page"):
            answer = client.get(path)
            assert answer.status_code == 302, path
            assert answer.headers["Location"].startswith("/login?next="), path
        auth.login("follower")
        expected = 200 if site_wide == "login" else 403
        assert client.get("/").status_code == expected
        assert client.get("/api/me").status_code == expected


# -- configured rules are laid over the example pages' rules ---------------------------------


class TestRulesForOtherPages:
    @pytest.fixture
    def app_env(self, app_env):
        return {**app_env, "ACCESS_RULES": '{"/blog": "login"}'}

    def test_the_example_pages_keep_their_rules(self, client, auth):
        for path in ("/members", "/members/vip", "/blog"):
            assert client.get(path).headers["Location"] == f"/login?next={path}"
        assert client.get("/api/me").json["rules"] == {
            "/blog": {"rule": "login", "passes": False},
            "/members": {"rule": "patron", "passes": False},
            "/members/vip": {"rule": "patron>=1000", "passes": False},
        }
        auth.login("patron-low")
        assert client.get("/members").status_code == 200
        assert client.get("/members/vip").status_code == 403
        auth.login("follower")
        assert client.get("/members").status_code == 403


@pytest.mark.parametrize("app_env", [base_env(ACCESS_RULES='{"/": "login"}')])
def test_a_site_wide_rule_leaves_the_example_pages_their_own(client, auth):
    auth.login("follower")
    assert client.get("/").status_code == 200
    assert client.get("/members").status_code == 403
    assert client.get("/members/vip").status_code == 403


@pytest.mark.parametrize(
    ("rules", "opened", "still_gated"),
    [
        ({"/members": "public"}, ["/members"], ["/members/vip"]),
        ({"/members/vip/": "public"}, ["/members/vip"], ["/members"]),
        ({"/members": "public", "/members/vip": "public"}, ["/members", "/members/vip"], []),
    ],
)
def test_an_operator_can_open_an_example_page_by_naming_it(rules, opened, still_gated):
    client = create_app(base_env(ACCESS_RULES=json.dumps(rules))).test_client()
    for path in opened:  # rendered for an anonymous visitor, not a 500
        page = client.get(path)
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        assert "Log in with Patreon" in page.get_data(as_text=True)
    for path in still_gated:
        assert client.get(path).headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("app_env", [base_env(ACCESS_RULES='{"/members": "public"}')])
def test_a_public_members_page_still_greets_a_logged_in_visitor_by_name(client, auth):
    assert "Thank you for your support!" in client.get("/members").get_data(as_text=True)
    auth.login("follower")
    page = client.get("/members").get_data(as_text=True)
    assert "Thank you for your support, " in page
