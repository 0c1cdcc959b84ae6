"""Login with Patreon and logout: the OAuth and session promises (SPEC §9)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import base_env
from tests.site.conftest import AuthActions, path_of
from tests.site.helpers import services


def test_login_lands_on_next_and_knows_the_user(client, auth):
    landed = auth.login("patron-low", "/members")
    assert landed.status_code == 302 and landed.headers["Location"] == "/members"
    me = client.get("/api/me").json
    assert me["authenticated"] and me["user"]["full_name"] == "Lee Low"
    assert me["membership"]["tier_titles"] == ["Supporter"]


def test_login_redirect_carries_state_pkce_and_spaced_scopes(client):
    to_patreon = client.get("/login")
    query = parse_qs(urlsplit(to_patreon.headers["Location"]).query)
    assert len(query["state"][0]) >= 32
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["identity identity.memberships"]
    assert query["redirect_uri"] == ["http://localhost/auth/patreon/callback"]


def test_a_replayed_callback_is_refused(client, auth):
    callback = auth.consent(auth.start(), "patron-low")
    assert client.get(path_of(callback)).status_code == 302
    auth.logout()
    replay = client.get(path_of(callback))
    assert replay.status_code == 400
    assert b"expired, was already used" in replay.data
    assert client.get("/api/me").json["authenticated"] is False


def test_a_state_from_another_browser_is_refused(app, client, auth):
    victim_callback = auth.consent(auth.start(), "patron-high")
    attacker = app.test_client()
    AuthActions(attacker).start()  # the attacker has a login of their own in progress
    answer = attacker.get(path_of(victim_callback))
    assert answer.status_code == 400
    assert attacker.get("/api/me").json["authenticated"] is False


def test_a_callback_without_state_or_code_is_a_plain_400(client, auth):
    auth.start()
    assert client.get("/auth/patreon/callback?code=abc").status_code == 400
    no_code = client.get("/auth/patreon/callback?state=x")
    assert no_code.status_code == 400 and b"no login code" in no_code.data


def test_deny_is_a_400_in_plain_words_and_no_session(client, auth):
    callback = auth.consent(auth.start(), "patron-low", decision="deny")
    assert "error=access_denied" in callback
    answer = client.get(path_of(callback))
    assert answer.status_code == 400
    assert b"Login did not complete" in answer.data
    assert b"chose not to allow access" in answer.data
    assert client.get("/api/me").json["authenticated"] is False


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/members\r\nSet-Cookie: x=1",
        "evil.example",
        "/" + "a" * 3000,
    ],
)
def test_next_is_only_ever_a_local_path(auth, target):
    landed = auth.login("patron-low", target)
    assert landed.headers["Location"] == "/"


def test_next_keeps_a_local_path_with_its_query(auth):
    landed = auth.login("patron-low", "/members/vip?tab=2")
    assert landed.headers["Location"] == "/members/vip?tab=2"


def test_each_login_starts_a_new_session(client, auth):
    auth.login("patron-low")
    first = client.get_cookie("session").value
    auth.login("patron-high")
    assert client.get_cookie("session").value != first
    assert client.get("/api/me").json["user"]["id"] == "202"


def test_logout_needs_the_csrf_token(client, auth):
    auth.login("patron-low")
    refused = client.post("/logout")
    assert refused.status_code == 400
    assert client.get("/api/me").json["authenticated"] is True


def test_after_logout_a_copied_cookie_is_not_logged_in(app, client, auth):
    auth.login("patron-low")
    copied = client.get_cookie("session").value
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/api/me").json["authenticated"] is False
    assert thief.get("/members").status_code == 302


def test_logout_deletes_the_stored_token(app, auth):
    auth.login("patron-low")
    store = app.extensions["patron_gate"].user_store("201")
    assert store.get() is not None
    auth.logout()
    assert store.get() is None


def test_session_cookie_is_httponly_and_lax(client, auth):
    auth.login("patron-low")
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure  # development; production sets Secure (test_security)


def test_the_session_cookie_stays_small_however_many_logins_are_started(client, auth):
    # Each started login leaves Authlib's state and PKCE verifier in the session for an
    # hour; browsers drop cookies over 4 KB, which would break every later login.
    consent_pages = [auth.start("/members") for _ in range(30)]
    assert len(client.get_cookie("session").value) < 2000
    landed = client.get(path_of(auth.consent(consent_pages[-1], "patron-low")))
    assert landed.status_code == 302 and landed.headers["Location"] == "/members"
    assert client.get("/api/me").json["user"]["id"] == "201"


def test_denied_logins_leave_nothing_behind_in_the_cookie(client, auth):
    for _ in range(30):
        callback = auth.consent(auth.start(), "patron-low", decision="deny")
        assert client.get(path_of(callback)).status_code == 400
    assert len(client.get_cookie("session").value) < 2000
    assert auth.login("patron-low").status_code == 302


def test_the_callback_never_shows_an_error_text_it_was_sent(client, auth, caplog):
    auth.start()
    planted = "Your account is locked, call +1-555-0100 <b>now</b>\r\nforged log line"
    with caplog.at_level(logging.DEBUG):
        answer = client.get("/auth/patreon/callback", query_string={"error": planted})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Login did not complete" in page
    assert "locked" not in page and "555" not in page
    logged = [r.getMessage() for r in caplog.records if r.name == "webapp.site.auth"]
    assert any("Your_account_is_locked" in line for line in logged)  # the code, made safe
    assert not any("forged" in line or "\n" in line or "<b>" in line for line in logged)
    assert client.get("/api/me").json["authenticated"] is False


def test_a_new_login_ends_the_previous_session_on_the_server(app, client, auth):
    auth.login("patron-low")
    before = client.get_cookie("session").value
    auth.login("patron-high")
    copied = app.test_client()
    copied.set_cookie("session", before)
    assert copied.get("/api/me").json["authenticated"] is False
    assert client.get("/api/me").json["user"]["id"] == "202"


@pytest.mark.parametrize("app_env", [base_env(SANDBOX_TOKEN_TTL="30")])
def test_a_token_refreshed_during_the_login_is_the_one_stored_and_stays_the_users(app, auth):
    # Tokens living 30 s count as expired (60 s leeway): reading the identity refreshes
    # first, which spends the refresh token Patreon handed the callback.
    svc = services(app)
    auth.login("patron-high")
    assert svc.user_client.oauth.cached_token is None  # the shared client is nobody's
    stored = svc.user_store("202").get()
    with app.test_request_context():
        fresh = svc.client_for_user("202").oauth.refresh_token(stored)
    assert fresh.access_token != stored.access_token  # the stored refresh token was unspent
