"""Liveness and readiness (SPEC §3: /readyz is 200 when Redis answers and the
configuration is usable, else 503 with a JSON reason)."""

from __future__ import annotations

import logging

from cryptography.fernet import Fernet

from tests.conftest import base_env
from tests.site.helpers import services
from webapp import create_app
from webapp.config import derive_fernet_key


def test_healthz_answers_while_the_process_runs(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_a_fresh_deploy_is_ready_before_the_creator_connects(client, auth):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "campaign_known": False}
    auth.login("patron-low")  # the campaign is read on the way
    assert client.get("/readyz").json == {"status": "ready", "campaign_known": True}


def test_a_creator_token_the_keys_cannot_decrypt_is_not_ready(redis_url, redis_prefix, caplog):
    env = base_env(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    first = create_app(env)  # stores the creator token under its key
    stored = services(first).redis.get(services(first).keys.creator_token)
    assert first.test_client().get("/readyz").status_code == 200

    # Deployed again with another SECRET_KEY and no TOKEN_ENCRYPTION_KEY: the derived key changed.
    second = create_app({**env, "SECRET_KEY": "another-secret-key"})
    with caplog.at_level(logging.DEBUG):
        answer = second.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.json["status"] == "unavailable"
    assert "TOKEN_ENCRYPTION_KEY" in answer.json["reason"]
    assert "SECRET_KEY" in answer.json["reason"]
    plain = services(first).creator_store().get()
    for secret in (stored, plain.access_token, plain.refresh_token):
        assert secret not in answer.get_data(as_text=True)
        assert not any(secret in r.getMessage() for r in caplog.records)
    assert services(second).redis.get(services(second).keys.creator_token) == stored  # kept


def test_a_rotated_key_list_that_still_holds_the_old_key_is_ready(redis_url, redis_prefix):
    env = base_env(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    create_app(env)  # the creator token, encrypted with the key derived from SECRET_KEY
    old = derive_fernet_key(env["SECRET_KEY"], "token-encryption")
    rotated = create_app({**env, "TOKEN_ENCRYPTION_KEY": f"{Fernet.generate_key().decode()},{old}"})
    assert rotated.test_client().get("/readyz").status_code == 200
