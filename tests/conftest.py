"""Shared fixtures.

Tests that need the real Redis or Chromium skip when it is missing, except in
CI (CI=true), where a missing service is a failure: CI must run them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakeredis
import pytest
import redis
import requests

from tests.servers import start_server
from webapp import create_app
from webapp.sandbox import SandboxSettings, create_sandbox_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require(available: bool, reason: str) -> None:
    """Skip without the service on a laptop; fail without it in CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


def base_env(**overrides: str) -> dict[str, str]:
    """A development environment with the embedded sandbox and no outside state."""
    env = {"APP_ENV": "development", "SECRET_KEY": "test-secret-key", "REDIS_PREFIX": "test:"}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        available = True
    except redis.RedisError:
        available = False
    require(available, f"no Redis answers at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are deleted after."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def real_redis(redis_url: str, redis_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def app():
    return create_app(base_env())


@pytest.fixture
def client(app):
    return app.test_client()


# -- the Patreon sandbox over real HTTP ----------------------------------------------

DEFAULT_TEST_SCOPES = ("identity", "identity.memberships")


@dataclass
class SandboxHTTP:
    """A sandbox (its own app, in-process fakeredis) served on a local port.

    Point a client at `base_url` (it plays `PATREON_BASE_URL`) with `client_id`,
    `client_secret` and `redirect_uri`. `creator_access_token`/`refresh_token`
    are the developer portal's pair for the creator (user 100, campaign 5000).
    """

    origin: str
    settings: SandboxSettings
    redis: redis.Redis

    @property
    def base_url(self) -> str:
        return f"{self.origin}/sandbox"

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    @property
    def client_secret(self) -> str:
        return self.settings.client_secret

    @property
    def redirect_uri(self) -> str:
        return self.settings.redirect_uris[0]

    @property
    def creator_access_token(self) -> str | None:
        return self.settings.creator_access_token

    @property
    def creator_refresh_token(self) -> str | None:
        return self.settings.creator_refresh_token

    def callback_for(
        self, persona: str = "patron-low", scopes: tuple[str, ...] = DEFAULT_TEST_SCOPES
    ) -> str:
        """Allow as a persona on the consent page, over HTTP; the callback URL (code, state)."""
        browser = requests.Session()
        page = browser.get(
            f"{self.base_url}/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(scopes),
                "state": "test-state",
            },
            timeout=10,
        )
        page.raise_for_status()
        consent_id = re.search(r'name="consent_id" value="([^"]+)"', page.text).group(1)
        allowed = browser.post(
            f"{self.base_url}/oauth2/authorize",
            data={"consent_id": consent_id, "decision": "allow", "persona": persona},
            allow_redirects=False,
            timeout=10,
        )
        return allowed.headers["Location"]

    def token_for(
        self, persona: str = "patron-low", scopes: tuple[str, ...] = DEFAULT_TEST_SCOPES
    ) -> dict[str, Any]:
        """Log in as a persona through the consent page, over HTTP; the token answer."""
        callback = self.callback_for(persona, scopes)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        answer = requests.post(
            f"{self.base_url}/api/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()


@pytest.fixture
def sandbox_http_factory() -> Iterator[Callable[..., SandboxHTTP]]:
    """`start(**settings_overrides) -> SandboxHTTP`; every server stops after the test.

    Overrides are SandboxSettings fields, e.g. `start(extra_members=2500)`,
    `start(requests_per_minute=5)`, or `start(redirect_uris=(site_callback,))`.
    """
    servers = []

    def start(**overrides: Any) -> SandboxHTTP:
        # The app needs its own URL (the registered redirect URI), so the
        # server starts first and is handed the app once the port is known.
        served: dict[str, Any] = {}
        server = start_server(lambda environ, respond: served["app"](environ, respond))
        servers.append(server)
        settings = SandboxSettings(
            client_id="sandbox-http-client",
            client_secret="sandbox-http-secret",
            redirect_uris=(f"{server.origin}/callback",),
            key_prefix="test:sandbox:",
            creator_access_token="sandbox-http-creator-access",
            creator_refresh_token="sandbox-http-creator-refresh",
        )
        settings = replace(settings, **overrides)
        client = fakeredis.FakeRedis(decode_responses=True)
        served["app"] = create_sandbox_app(settings, client)
        return SandboxHTTP(server.origin, settings, client)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox_http(request: pytest.FixtureRequest, sandbox_http_factory) -> SandboxHTTP:
    """A sandbox over real HTTP. Settings overrides by indirect parametrization:

    @pytest.mark.parametrize("sandbox_http", [{"extra_members": 2500}], indirect=True)
    """
    return sandbox_http_factory(**getattr(request, "param", {}))
