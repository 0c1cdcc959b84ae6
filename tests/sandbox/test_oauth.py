"""The consent page and the token endpoint behave like Patreon's."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import base_env
from tests.sandbox.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PORTAL_ACCESS,
    PORTAL_REFRESH,
    REDIRECT_URI,
    build_sandbox,
    consent_id_in,
    redirect_params,
)
from webapp import create_app
from webapp.config import CALLBACK_PATH, INTERNAL_ORIGIN
from webapp.inprocess import transports_for


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


VERIFIER = "v" * 43 + "-._~" + "0123456789"


# -- the consent page ----------------------------------------------------------------


def test_consent_page_names_the_app_the_scopes_in_words_and_the_personas(sandbox):
    page = sandbox.authorize(scope="identity identity[email] identity.memberships")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Patron Gate wants to connect" in html
    assert "See your email address" in html
    assert "See every creator you support" in html
    for name in ("Casey Creator", "Lee Low", "Harper High", "Dana Declined", "Frankie Former"):
        assert name in html
    assert "not the real Patreon" in html
    assert 'name="decision" value="allow"' in html and 'name="decision" value="deny"' in html


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"client_id": "someone-else"}, "Unknown client_id"),
        ({"client_id": None}, "Unknown client_id"),
        ({"client_id": "é"}, "Unknown client_id"),  # non-ASCII: a 400, never a 500
        ({"redirect_uri": "https://evil.test/auth/patreon/callback"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT_URI + "/"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT_URI.replace("https", "http")}, "redirect_uri"),
        ({"redirect_uri": REDIRECT_URI + "?next=/x"}, "redirect_uri"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"response_type": None}, "response_type"),
        ({"scope": "identity,identity.memberships"}, "separated by spaces"),
        ({"scope": "identity users"}, "Unknown scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "S256"),
        ({"code_challenge": "x" * 43}, "S256"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "code_challenge"),
    ],
)
def test_a_bad_authorize_request_gets_a_400_page_never_a_redirect(sandbox, params, reason):
    page = sandbox.authorize(**params)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert reason in page.get_data(as_text=True)


def test_a_path_only_redirect_uri_means_that_path_on_the_requests_origin(sandbox):
    assert sandbox.authorize(redirect_uri="http://localhost/local/callback").status_code == 200
    other_host = sandbox.authorize(redirect_uri="http://elsewhere.test/local/callback")
    assert other_host.status_code == 400


def test_allow_redirects_with_a_code_and_the_state_unchanged(sandbox):
    state = "a b/c?d=e&f=ü"
    params = redirect_params(sandbox.allow(state=state))
    assert params["state"] == state
    assert len(params["code"]) >= 20
    location = sandbox.allow().headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")


def test_deny_redirects_with_access_denied_and_the_state(sandbox):
    consent = sandbox.consent_id(state="s-9")
    answer = sandbox.client.post(
        "/sandbox/oauth2/authorize", data={"consent_id": consent, "decision": "deny"}
    )
    assert redirect_params(answer) == {"error": "access_denied", "state": "s-9"}


def test_a_registered_redirect_uri_keeps_its_own_query(make_sandbox):
    registered = "https://site.test/cb?tenant=7"
    sandbox = make_sandbox(redirect_uris=(registered,))
    answer = sandbox.allow(redirect_uri=registered)
    assert redirect_params(answer)["tenant"] == "7"


def test_a_consent_request_is_answered_once(sandbox):
    consent = sandbox.consent_id()
    form = {"consent_id": consent, "decision": "allow", "persona": "patron-low"}
    assert sandbox.client.post("/sandbox/oauth2/authorize", data=form).status_code == 302
    again = sandbox.client.post("/sandbox/oauth2/authorize", data=form)
    assert again.status_code == 400
    assert "expired" in again.get_data(as_text=True)


def test_a_consent_form_posted_from_another_browser_is_refused(sandbox):
    consent = sandbox.consent_id()
    # Another site can make the browser post, but not with the sandbox's cookie.
    stranger = sandbox.app.test_client()
    form = {"consent_id": consent, "decision": "allow", "persona": "creator"}
    forged = stranger.post("/sandbox/oauth2/authorize", data=form)
    assert forged.status_code == 400 and "Location" not in forged.headers
    # The real browser can still answer it: the forgery did not spend it.
    assert sandbox.client.post("/sandbox/oauth2/authorize", data=form).status_code == 302


def test_a_consent_form_with_a_non_ascii_browser_cookie_is_refused_not_an_error(sandbox):
    consent = sandbox.consent_id()
    stranger = sandbox.app.test_client()
    stranger.set_cookie("sandbox_browser", "é" * 40, path="/sandbox/")
    form = {"consent_id": consent, "decision": "allow", "persona": "creator"}
    forged = stranger.post("/sandbox/oauth2/authorize", data=form)
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert sandbox.client.post("/sandbox/oauth2/authorize", data=form).status_code == 302


def test_unknown_persona_or_consent_is_a_400_page(sandbox):
    consent = sandbox.consent_id()
    bad = {"consent_id": consent, "decision": "allow", "persona": "nobody"}
    assert sandbox.client.post("/sandbox/oauth2/authorize", data=bad).status_code == 400
    nothing = sandbox.client.post("/sandbox/oauth2/authorize", data={})
    assert nothing.status_code == 400


# -- the token endpoint: authorization codes -----------------------------------------


def test_the_token_answer_has_patreons_shape(make_sandbox):
    sandbox = make_sandbox(token_ttl=1234)
    answer = sandbox.exchange(sandbox.code(scope="identity campaigns"))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json
    assert set(body) == {
        "access_token", "refresh_token", "expires_in", "scope", "token_type", "version",
    }  # fmt: skip
    assert body["expires_in"] == 1234
    assert body["scope"] == "identity campaigns"
    assert body["token_type"] == "Bearer"
    assert body["version"] == "0.0.1"


def test_a_code_is_single_use(sandbox):
    code = sandbox.code()
    assert sandbox.exchange(code).status_code == 200
    again = sandbox.exchange(code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"


def test_a_code_is_bound_to_the_exact_redirect_uri(sandbox):
    code = sandbox.code()
    wrong = sandbox.token(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI + "/"
    )
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant"
    # The failed attempt spent it, as a code may be tried once.
    assert sandbox.exchange(code).json["error"] == "invalid_grant"


def test_a_code_expires_after_ten_minutes(sandbox):
    code = sandbox.code()
    sandbox.clock.advance(601)
    assert sandbox.exchange(code).json["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "wrong"},
        {"client_id": "someone-else"},
        {"client_id": "", "client_secret": ""},
        {"client_id": "é", "client_secret": "ü"},
    ],
)
def test_bad_client_credentials_are_invalid_client_401(sandbox, credentials):
    answer = sandbox.token(grant_type="authorization_code", code=sandbox.code(), **credentials)
    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_client"


def test_client_credentials_only_in_a_basic_header_are_refused(sandbox):
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    answer = sandbox.client.post(
        "/sandbox/api/oauth2/token",
        data={"grant_type": "authorization_code", "code": sandbox.code()},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 401


def test_an_unknown_grant_type_is_refused(sandbox):
    answer = sandbox.token(grant_type="client_credentials")
    assert answer.status_code == 400
    assert answer.json["error"] == "unsupported_grant_type"


# -- PKCE ----------------------------------------------------------------------------


def test_pkce_s256_with_the_right_verifier_succeeds(sandbox):
    code = sandbox.code(code_challenge=s256(VERIFIER), code_challenge_method="S256")
    assert sandbox.exchange(code, code_verifier=VERIFIER).status_code == 200


@pytest.mark.parametrize("verifier", [None, "w" * 50, VERIFIER + "x", "é" * 50])
def test_pkce_a_missing_or_wrong_verifier_is_invalid_grant(sandbox, verifier):
    code = sandbox.code(code_challenge=s256(VERIFIER), code_challenge_method="S256")
    form = {"code_verifier": verifier} if verifier else {}
    answer = sandbox.exchange(code, **form)
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_grant"
    assert "code_verifier" in answer.json["error_description"]


def test_without_a_challenge_a_verifier_is_ignored(sandbox):
    assert sandbox.exchange(sandbox.code(), code_verifier=VERIFIER).status_code == 200


# -- refresh tokens ------------------------------------------------------------------


def test_every_refresh_rotates_both_tokens_and_the_old_refresh_token_dies(sandbox):
    first = sandbox.login(scope="identity identity.memberships")
    second = sandbox.refresh(first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json
    assert rotated["access_token"] != first["access_token"]
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["scope"] == "identity identity.memberships"
    reused = sandbox.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    assert sandbox.api("/identity", rotated["access_token"]).status_code == 200
    assert sandbox.refresh(rotated["refresh_token"]).status_code == 200


def test_refresh_needs_a_refresh_token_and_the_client(sandbox):
    tokens = sandbox.login()
    assert sandbox.token(grant_type="refresh_token").json["error"] == "invalid_request"
    wrong_client = sandbox.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_secret="x"
    )
    assert wrong_client.status_code == 401
    assert sandbox.refresh("never-issued").json["error"] == "invalid_grant"


def test_the_portal_creator_token_has_every_scope_and_refreshes_once(sandbox):
    identity = sandbox.api("/identity?include=campaign", PORTAL_ACCESS)
    assert identity.json["data"]["id"] == "100"
    rotated = sandbox.refresh(PORTAL_REFRESH)
    assert rotated.status_code == 200
    assert "w:campaigns.webhook" in rotated.json["scope"].split()
    assert sandbox.refresh(PORTAL_REFRESH).json["error"] == "invalid_grant"


def test_a_restart_on_the_same_redis_does_not_resurrect_a_rotated_portal_token(make_sandbox):
    first = make_sandbox()
    assert first.refresh(PORTAL_REFRESH).status_code == 200
    restarted = build_sandbox(client=first.redis)
    assert restarted.refresh(PORTAL_REFRESH).json["error"] == "invalid_grant"


# -- the whole chain -----------------------------------------------------------------


def test_the_whole_redirect_chain_through_the_embedded_site():
    """Browser -> consent -> Allow -> callback with code and state -> token -> identity."""
    app = create_app(base_env())
    config = app.config["PATRON_GATE"]
    browser = app.test_client()
    callback = f"http://localhost{CALLBACK_PATH}"  # the site registered the path only

    page = browser.get(
        "/sandbox/oauth2/authorize",
        query_string={
            "response_type": "code",
            "client_id": config.patreon_client_id,
            "redirect_uri": callback,
            "scope": "identity identity.memberships",
            "state": "xyz",
            "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    allowed = browser.post(
        "/sandbox/oauth2/authorize",
        data={
            "consent_id": consent_id_in(page.get_data(as_text=True)),
            "decision": "allow",
            "persona": "patron-high",
        },
    )
    assert allowed.status_code == 302
    location = urlsplit(allowed.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]

    # The site's server side reaches the sandbox in-process, as its client does.
    server = requests.Session()
    for prefix, adapter in transports_for(INTERNAL_ORIGIN, app).items():
        server.mount(prefix, adapter)
    token = server.post(
        f"{config.patreon_base_url}/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": callback,
            "client_id": config.patreon_client_id,
            "client_secret": config.patreon_client_secret,
            "code_verifier": VERIFIER,
        },
    )
    assert token.status_code == 200, token.text
    identity = server.get(
        f"{config.patreon_base_url}/api/oauth2/v2/identity",
        params={
            "include": "memberships,memberships.currently_entitled_tiers",
            "fields[user]": "full_name",
            "fields[member]": "patron_status",
            "fields[tier]": "title",
        },
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert identity.status_code == 200
    document = identity.json()
    assert document["data"]["attributes"] == {"full_name": "Harper High"}
    titles = {r["attributes"]["title"] for r in document["included"] if r["type"] == "tier"}
    assert titles == {"VIP", "Stargazer"}
    assert re.fullmatch(r"[\w-]{20,}", token.json()["refresh_token"])
