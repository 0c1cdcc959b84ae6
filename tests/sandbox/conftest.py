"""A sandbox app under the Flask test client, with a clock and a webhook receiver."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webapp.inprocess import InProcessTransport
from webapp.sandbox import SandboxSettings, create_sandbox_app

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
REDIRECT_URI = "https://site.test/auth/patreon/callback"
RECEIVER = "http://receiver.test"  # where webhooks go, served in-process
WEBHOOK_SECRET = "configured-webhook-secret"
PORTAL_ACCESS = "portal-access-token"
PORTAL_REFRESH = "portal-refresh-token"
ALL_SCOPES = (
    "identity identity[email] identity.memberships campaigns campaigns.members "
    "campaigns.members[email] campaigns.members.address campaigns.posts w:campaigns.webhook"
)


class Clock:
    """Time that tests move forward (Redis TTLs stay real; records also carry expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny site that records the webhooks it is sent and answers `status`."""

    status: int = 200
    deliveries: list[Delivery] = field(default_factory=list)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/<path:anything>")
        def receive(anything: str):
            self.deliveries.append(Delivery(request.url, dict(request.headers), request.get_data()))
            return "", self.status

        return app


@dataclass
class Sandbox:
    app: Flask
    client: FlaskClient
    redis: redis.Redis
    clock: Clock
    settings: SandboxSettings
    receiver: Receiver

    # -- OAuth, as a browser and a site would do it -----------------------------------

    def authorize(self, **params: str) -> TestResponse:
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "identity identity.memberships",
            "state": "state-123",
            **params,
        }
        query = {k: v for k, v in query.items() if v is not None}
        return self.client.get("/sandbox/oauth2/authorize", query_string=query)

    def consent_id(self, **params: str) -> str:
        page = self.authorize(**params)
        assert page.status_code == 200, page.get_data(as_text=True)
        return consent_id_in(page.get_data(as_text=True))

    def allow(self, persona: str = "patron-low", **params: str) -> TestResponse:
        consent = self.consent_id(**params)
        return self.client.post(
            "/sandbox/oauth2/authorize",
            data={"consent_id": consent, "decision": "allow", "persona": persona},
        )

    def code(self, persona: str = "patron-low", **params: str) -> str:
        return redirect_params(self.allow(persona, **params))["code"]

    def token(self, **form: str) -> TestResponse:
        data = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
        return self.client.post("/sandbox/api/oauth2/token", data=data)

    def exchange(self, code: str, **form: str) -> TestResponse:
        return self.token(
            grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, **form
        )

    def login(self, persona: str = "patron-low", scope: str = ALL_SCOPES) -> dict[str, Any]:
        answer = self.exchange(self.code(persona, scope=scope))
        assert answer.status_code == 200, answer.json
        return answer.json

    def refresh(self, refresh_token: str) -> TestResponse:
        return self.token(grant_type="refresh_token", refresh_token=refresh_token)

    # -- API --------------------------------------------------------------------------

    def api(self, path: str, token: str, method: str = "GET", **kwargs: Any) -> TestResponse:
        return self.client.open(
            f"/sandbox/api/oauth2/v2{path}",
            method=method,
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )

    # -- control page -----------------------------------------------------------------

    def browser_key(self) -> str:
        page = self.client.get("/sandbox/").get_data(as_text=True)
        return re.search(r'name="browser_key" value="([^"]+)"', page).group(1)

    def set_pledge(self, persona: str, **form: str) -> TestResponse:
        data = {"browser_key": self.browser_key(), "amount_cents": "", "event": "", **form}
        return self.client.post(f"/sandbox/personas/{persona}/pledge", data=data)


def consent_id_in(page: str) -> str:
    return re.search(r'name="consent_id" value="([^"]+)"', page).group(1)


def redirect_params(response: TestResponse) -> dict[str, str]:
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.headers["Location"]).query, keep_blank_values=True)
    return {k: v[0] for k, v in query.items()}


def errors_of(response: TestResponse) -> list[dict[str, Any]]:
    return response.json["errors"]


def base_settings(**overrides: Any) -> SandboxSettings:
    settings = SandboxSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=(REDIRECT_URI, "/local/callback"),
        key_prefix="test:sandbox:",
        webhook_secret=WEBHOOK_SECRET,
        webhook_urls=(f"{RECEIVER}/webhooks/patreon",),
        creator_access_token=PORTAL_ACCESS,
        creator_refresh_token=PORTAL_REFRESH,
    )
    return replace(settings, **overrides)


def build_sandbox(
    client: redis.Redis | None = None, clock: Clock | None = None, **overrides: Any
) -> Sandbox:
    client = client or fakeredis.FakeRedis(decode_responses=True)
    clock = clock or Clock()
    receiver = Receiver()
    settings = base_settings(**overrides)
    app = create_sandbox_app(
        settings,
        client,
        transports={f"{RECEIVER}/": InProcessTransport(receiver.app())},
        clock=clock,
    )
    return Sandbox(app, app.test_client(), client, clock, settings, receiver)


@pytest.fixture
def make_sandbox() -> Callable[..., Sandbox]:
    """`make_sandbox(**settings_overrides)`: a fresh sandbox on its own fakeredis."""
    return build_sandbox


@pytest.fixture
def sandbox() -> Sandbox:
    return build_sandbox()
