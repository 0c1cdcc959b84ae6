"""Headers and caching (SPEC §9)."""

from __future__ import annotations

import pytest

from tests.conftest import base_env
from webapp import create_app


@pytest.mark.parametrize("path", ["/members", "/members/vip", "/dashboard", "/api/me", "/"])
def test_per_user_responses_are_private_and_never_stored(client, auth, path):
    auth.login("creator")
    assert client.get(path).headers["Cache-Control"] == "private, no-store"


def test_gated_refusals_are_not_cached_either(client, auth):
    assert client.get("/members").headers["Cache-Control"] == "private, no-store"
    auth.login("former")
    assert client.get("/members").headers["Cache-Control"] == "private, no-store"


def test_static_files_may_be_cached(client):
    answer = client.get("/static/css/site.css")
    assert answer.status_code == 200
    assert "no-store" not in answer.headers.get("Cache-Control", "")


PAGES = {
    "home": (None, "/", 200),
    "gated page": ("patron-low", "/members", 200),
    "403": ("follower", "/members", 403),
    "404": ("patron-low", "/no-such-page", 404),
    "api/me": ("patron-low", "/api/me", 200),
    "redirect to log in": (None, "/members/vip", 302),
    "redirect to Patreon": (None, "/login", 302),
    "400": ("creator", "/dashboard/members?status=nope", 400),
    "dashboard 403": ("patron-high", "/dashboard", 403),
}


def assert_security_headers(headers) -> None:
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no third-party origin anywhere
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin"
    assert headers["Cache-Control"] == "private, no-store"
    assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_the_security_headers(client, auth, page):
    persona, path, status = PAGES[page]
    if persona:
        auth.login(persona)
    answer = client.get(path)
    assert answer.status_code == status
    assert_security_headers(answer.headers)


def test_the_sandbox_consent_page_has_the_security_headers(auth):
    consent = auth.start()
    assert "wants to connect" in consent.get_data(as_text=True)
    assert_security_headers(consent.headers)


def test_the_callback_never_leaks_its_code_as_a_referrer(client, auth):
    callback = auth.consent(auth.start(), "patron-low")
    from tests.site.conftest import path_of

    assert client.get(path_of(callback)).headers["Referrer-Policy"] == "no-referrer"


def test_production_sends_hsts_and_secure_cookies(redis_url, redis_prefix):
    app = create_app(
        base_env(
            APP_ENV="production",
            REDIS_URL=redis_url,
            REDIS_PREFIX=redis_prefix,
            PATREON_CLIENT_ID="id",
            PATREON_CLIENT_SECRET="secret",
        )
    )
    client = app.test_client()
    answer = client.get("/login", base_url="https://gate.example")
    assert "max-age=" in answer.headers["Strict-Transport-Security"]
    assert "Secure" in answer.headers["Set-Cookie"]
    assert answer.headers["Location"].startswith("https://www.patreon.com/oauth2/authorize?")
    assert app.debug is False
    assert client.get("/sandbox/").status_code == 404
