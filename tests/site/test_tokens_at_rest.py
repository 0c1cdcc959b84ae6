"""No token is ever readable in Redis, a cookie or a page (SPEC §5, §9)."""

from __future__ import annotations

import json

import flask
import pytest
import redis

from tests.conftest import base_env
from tests.site.conftest import AuthActions
from webapp import create_app

SESSION_KEYS = {"sid", "_user_id", "_id", "_fresh", "_permanent", "csrf_token"}


def every_value(client: redis.Redis, prefix: str) -> list[bytes]:
    values: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*"):
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key))
        elif kind == b"hash":
            values += [k + b"=" + v for k, v in client.hgetall(key).items()]
        elif kind in (b"set", b"zset", b"list"):
            values += (
                client.smembers(key)
                if kind == b"set"
                else client.zrange(key, 0, -1)
                if kind == b"zset"
                else client.lrange(key, 0, -1)
            )
        values.append(key)
    return values


@pytest.mark.redis
def test_no_redis_value_holds_a_plaintext_token(redis_url, redis_prefix):
    app = create_app(base_env(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix))
    services = app.extensions["patron_gate"]
    pages: list[bytes] = []
    sessions: list[dict] = []
    for persona in ("creator", "patron-low", "patron-high"):
        client = app.test_client()
        auth = AuthActions(client)
        auth.login(persona)
        pages += [client.get(p).data for p in ("/", "/members", "/api/me", "/dashboard")]
        sessions.append(decoded_session(app, client))
    # A refresh stores a new token too: make the creator token expire and use it.
    creator = services.creator_store()
    expired = creator.get()
    creator.put(expired.__class__(**{**expired.to_dict(), "expires_in_epoch": 1.0}))
    services.creator_client.oauth.cached_token = None
    services.creator_client.fetch_campaigns()

    tokens = [services.user_store(uid).get() for uid in ("100", "201", "202")]
    tokens.append(creator.get())
    secrets = [t.access_token.encode() for t in tokens] + [t.refresh_token.encode() for t in tokens]
    assert creator.get().access_token != expired.access_token  # it was refreshed

    stored = every_value(redis.Redis.from_url(redis_url), redis_prefix)
    assert stored
    for secret in secrets:
        assert not any(secret in value for value in stored)
        assert not any(secret in page for page in pages)
        assert not any(secret.decode() in json.dumps(session) for session in sessions)
    # The cookie carries ids only: its own session id, Flask-Login's and the CSRF token's.
    for session in sessions:
        assert session["sid"] and set(session) <= SESSION_KEYS, session


def decoded_session(app, client) -> dict:
    """The session cookie's contents (it is signed and compressed, not readable as is)."""
    cookie = client.get_cookie("session").value
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def test_decoded_session_sees_what_the_raw_cookie_hides(app, client):
    # The check above must be able to fail: a value in the session is invisible in the
    # raw cookie (zlib + base64) but plain in the decoded one.
    @app.get("/_put_in_session")
    def put_in_session():
        flask.session["leak"] = "plain-access-token-XYZ"
        return ""

    client.get("/_put_in_session")
    assert "plain-access-token-XYZ" not in client.get_cookie("session").value
    assert decoded_session(app, client)["leak"] == "plain-access-token-XYZ"
