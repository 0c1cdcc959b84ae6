"""Single-flight refresh through the real Redis: threads and processes race."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
import redis
from cryptography.fernet import Fernet

from tests.patreon.upstream import Upstream
from webapp.patreon import KVStore, PatreonCreatorClient, StoredToken, fernet_cipher

pytestmark = pytest.mark.redis

THREADS = 10
PROCESSES = 2


def make_store(redis_url: str, prefix: str, key: str) -> KVStore:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return KVStore(
        client,
        f"{prefix}token:creator",
        cipher=fernet_cipher([key]),
        lock_key=f"{prefix}lock:refresh:token:creator",
    )


def expired_token() -> StoredToken:
    return StoredToken(
        access_token="access-old", refresh_token="refresh-old", expires_in=10, expires_in_epoch=1.0
    )


def race_in_one_process(redis_url, prefix, key, base_url, process_barrier, results):
    """Ten threads, each with its own client (as ten requests would), call the API."""
    thread_barrier = threading.Barrier(THREADS)
    process_barrier.wait()

    def call():
        store = make_store(redis_url, prefix, key)
        client = PatreonCreatorClient(
            client_id="cid", client_secret="secret", store=store, base_url=base_url
        )
        thread_barrier.wait()
        client.fetch_identity()
        results.put(client.oauth.cached_token.access_token)

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_twenty_callers_in_two_processes_refresh_once(redis_url, redis_prefix):
    key = Fernet.generate_key().decode()
    make_store(redis_url, redis_prefix, key).put(expired_token())
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(PROCESSES)
    with Upstream() as upstream:
        upstream.grant("access-old", "refresh-old")
        processes = [
            ctx.Process(
                target=race_in_one_process,
                args=(redis_url, redis_prefix, key, upstream.base_url, barrier, results),
            )
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        tokens = [results.get(timeout=60) for _ in range(PROCESSES * THREADS)]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0

    assert upstream.issued == 1
    assert upstream.refresh_tokens_sent == {"refresh-old": 1}
    assert set(tokens) == {"access-1"}
    assert make_store(redis_url, redis_prefix, key).get().refresh_token == "refresh-1"


def test_invalid_grant_after_another_process_refreshed_adopts_its_token(redis_url, redis_prefix):
    key = Fernet.generate_key().decode()
    store = make_store(redis_url, redis_prefix, key)
    store.put(expired_token())
    with Upstream(refresh_delay=0) as upstream:

        def another_process_refreshed_first(refresh_token):
            # A process that did not wait for our lock spent the token a moment ago.
            make_store(redis_url, redis_prefix, key).put(
                StoredToken.from_response(
                    {
                        "access_token": "access-theirs",
                        "refresh_token": "refresh-theirs",
                        "expires_in": 3600,
                    }
                )
            )
            return 400, {"error": "invalid_grant", "error_description": "refresh token spent"}

        upstream.on_refresh = another_process_refreshed_first
        upstream.grant("access-theirs", "refresh-theirs")
        client = PatreonCreatorClient(
            client_id="c", client_secret="s", store=store, base_url=upstream.base_url
        )
        client.fetch_identity()

    assert client.oauth.cached_token.access_token == "access-theirs"
    assert store.get().access_token == "access-theirs"  # nothing deleted


def test_no_plaintext_token_reaches_redis(redis_url, redis_prefix, real_redis):
    key = Fernet.generate_key().decode()
    make_store(redis_url, redis_prefix, key).put(
        StoredToken(access_token="plain-access-123", refresh_token="plain-refresh-456")
    )
    raw = redis.Redis.from_url(redis_url).get(f"{redis_prefix}token:creator")
    assert raw
    assert b"plain-access-123" not in raw and b"plain-refresh-456" not in raw
