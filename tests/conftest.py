"""Shared fixtures.

Tests that need the real Redis or Chromium skip when it is missing, except in
CI (CI=true), where a missing service is a failure: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from webapp import create_app

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
