"""The site's long-lived objects, built once per app in create_app.

Views reach them through `services()`; nothing here is created per request
except the small per-user token store and client copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis
from cryptography.fernet import MultiFernet
from flask import current_app
from requests.adapters import BaseAdapter

from webapp.config import Config
from webapp.patreon import (
    KVStore,
    PatreonCreatorClient,
    PatreonUserClient,
    RetryPolicy,
    fernet_cipher,
)
from webapp.site.keys import RedisKeys

# On a visitor's request path: answer (or fall back to a snapshot) within seconds.
REQUEST_RETRY = RetryPolicy(
    rate_limit_retries=1, max_wait=2.0, server_error_retries=1, backoff=0.2, timeout=5.0
)
# The CLI and the dashboard's sync may wait out Patreon's throttling.
BATCH_RETRY = RetryPolicy()


@dataclass
class Services:
    config: Config
    redis: redis.Redis
    keys: RedisKeys
    cipher: MultiFernet
    user_client: PatreonUserClient
    creator_client: PatreonCreatorClient
    batch_creator_client: PatreonCreatorClient

    def token_store(
        self, key: str, storage: redis.Redis | None = None, *, replace_only: bool = False
    ) -> KVStore:
        """An encrypted token store at `key` (on a pipeline when one is given)."""
        return token_store(storage or self.redis, self.keys, self.cipher, key, replace_only)

    def creator_store(self) -> KVStore:
        return self.token_store(self.keys.creator_token)

    def user_store(self, user_id: str) -> KVStore:
        """Refreshes only replace the token: after a logout deleted it, it stays gone."""
        return self.token_store(self.keys.user_token(user_id), replace_only=True)

    def client_for_user(self, user_id: str) -> PatreonUserClient:
        """A user client bound to the user's stored token (refreshes write back there)."""
        return self.user_client.with_token(None, self.user_store(user_id))


def token_store(
    storage: redis.Redis, keys: RedisKeys, cipher: MultiFernet, key: str, replace_only: bool = False
) -> KVStore:
    return KVStore(
        storage, key, cipher=cipher, lock_key=keys.refresh_lock(key), replace_only=replace_only
    )


def build_services(
    config: Config, client: redis.Redis, transports: Mapping[str, BaseAdapter]
) -> Services:
    keys = RedisKeys(config.redis_prefix)
    cipher = fernet_cipher(config.token_encryption_keys)
    creator_store = token_store(client, keys, cipher, keys.creator_token)
    return Services(
        config=config,
        redis=client,
        keys=keys,
        cipher=cipher,
        user_client=PatreonUserClient(
            **_client_options(config, transports, REQUEST_RETRY),
            redirect_uri=config.patreon_redirect_uri,
            scopes=config.patreon_scopes,
        ),
        creator_client=PatreonCreatorClient(
            **_client_options(config, transports, REQUEST_RETRY), store=creator_store
        ),
        batch_creator_client=PatreonCreatorClient(
            **_client_options(config, transports, BATCH_RETRY), store=creator_store
        ),
    )


def _client_options(
    config: Config, transports: Mapping[str, BaseAdapter], retry: RetryPolicy
) -> dict:
    return {
        "client_id": config.patreon_client_id,
        "client_secret": config.patreon_client_secret,
        "base_url": config.patreon_base_url,
        "authorize_url": config.patreon_authorize_url,
        "scope_validation": config.scope_validation,
        "retry": retry,
        "transports": transports,
    }


def services() -> Services:
    return current_app.extensions["patron_gate"]
