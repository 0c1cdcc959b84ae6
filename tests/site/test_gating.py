"""Who may open what, as a browser sees it through the test client (SPEC §3, §4)."""

from __future__ import annotations

import json

import pytest

from tests.site.helpers import WEBHOOK_SECRET, member_body, post_webhook

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
