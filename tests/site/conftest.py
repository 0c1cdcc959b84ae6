"""Site fixtures: an app on the embedded sandbox, and `auth` to log in and out.

`auth.login("patron-low")` walks the real chain with the test client: /login →
the sandbox's consent page → Allow as the persona → the callback → `next`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.conftest import base_env
from webapp import create_app

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CONSENT_FIELD = re.compile(r'name="consent_id" value="([^"]+)"')


def path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class AuthActions:
    def __init__(self, client):
        self.client = client

    def start(self, next_path: str | None = None):
        """/login → the consent page; returns (consent page response, callback state)."""
        query = {"next": next_path} if next_path else {}
        to_patreon = self.client.get("/login", query_string=query)
        assert to_patreon.status_code == 302, to_patreon.data
        consent = self.client.get(path_of(to_patreon.headers["Location"]))
        assert consent.status_code == 200, consent.data
        return consent

    def consent(self, consent_page, persona: str, decision: str = "allow"):
        """Allow or Deny on the consent page; returns the redirect to the callback."""
        consent_id = CONSENT_FIELD.search(consent_page.get_data(as_text=True)).group(1)
        answer = self.client.post(
            "/sandbox/oauth2/authorize",
            data={"consent_id": consent_id, "decision": decision, "persona": persona},
        )
        assert answer.status_code == 302, answer.data
        return answer.headers["Location"]

    def login(self, persona: str = "patron-low", next_path: str | None = None):
        """Log in as a persona; returns the callback's response (a redirect to `next`)."""
        callback = self.consent(self.start(next_path), persona)
        return self.client.get(path_of(callback))

    def csrf_token(self, path: str = "/") -> str:
        page = self.client.get(path).get_data(as_text=True)
        return CSRF_FIELD.search(page).group(1)

    def logout(self):
        return self.client.post("/logout", data={"csrf_token": self.csrf_token()})


@pytest.fixture
def app_env():
    """Override to change the environment of the `app` fixture."""
    return base_env()


@pytest.fixture
def app(app_env):
    return create_app(app_env)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(client):
    return AuthActions(client)
