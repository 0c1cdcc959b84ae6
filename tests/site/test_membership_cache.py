"""The membership snapshot cache: how often the site asks Patreon (SPEC §5)."""

from __future__ import annotations

import json
import threading

import pytest
import redis
import requests

from tests.conftest import base_env
from tests.servers import serving
from webapp import create_app


def identity_calls(client) -> int:
    return int(client.get("/sandbox/stats").json["routes"].get("identity", 0))


def age_snapshot(app, user_id: str, seconds: float) -> None:
    """Pretend the stored snapshot was fetched `seconds` ago."""
    store = app.extensions["redis"]
    key = app.extensions["patron_gate"].keys.membership(user_id)
    snapshot = json.loads(store.get(key))
    snapshot["fetched_at"] -= seconds
    store.set(key, json.dumps(snapshot))


def test_views_within_the_ttl_never_ask_patreon_and_one_after_it(app, client, auth):
    auth.login("patron-low")
    after_login = identity_calls(client)
    for _ in range(100):
        assert client.get("/members").status_code == 200
    assert identity_calls(client) == after_login

    age_snapshot(app, "201", 301)  # MEMBERSHIP_TTL is 300
    for _ in range(50):
        assert client.get("/members").status_code == 200
    assert identity_calls(client) == after_login + 1


def count_round_trips(app, monkeypatch) -> list[str]:
    """Record every Redis round trip the app makes (commands and pipelines)."""
    trips: list[str] = []
    client = app.extensions["redis"]
    original_command = client.execute_command
    original_pipeline = redis.client.Pipeline.execute

    def command(*args, **kwargs):
        trips.append(str(args[0]))
        return original_command(*args, **kwargs)

    def pipeline(self, *args, **kwargs):
        trips.append("PIPELINE")
        return original_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(client, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    return trips


def test_a_gated_request_with_a_fresh_snapshot_costs_one_redis_round_trip(
    app, client, auth, monkeypatch
):
    auth.login("patron-high")
    client.get("/members/vip")  # warm: the campaign is already stored at login
    trips = count_round_trips(app, monkeypatch)
    assert client.get("/members/vip").status_code == 200
    assert trips == ["MGET"]


def test_the_owner_skips_the_membership_check(app, client, auth, monkeypatch):
    auth.login("creator")
    age_snapshot(app, "100", 10_000)
    before = identity_calls(client)
    assert client.get("/members/vip").status_code == 200
    assert identity_calls(client) == before


@pytest.mark.redis
def test_concurrent_misses_for_one_user_make_one_upstream_call(redis_url, redis_prefix):
    app = create_app(base_env(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix))
    with serving(app) as server:
        browser = requests.Session()
        login = browser.get(
            f"{server.origin}/login?next=/members", allow_redirects=True, timeout=10
        )
        consent_id = login.text.split('name="consent_id" value="')[1].split('"')[0]
        landed = browser.post(
            f"{server.origin}/sandbox/oauth2/authorize",
            data={"consent_id": consent_id, "decision": "allow", "persona": "patron-low"},
            timeout=10,
        )
        assert landed.url == f"{server.origin}/members" and landed.status_code == 200

        age_snapshot(app, "201", 301)
        stats = f"{server.origin}/sandbox/stats"
        before = requests.get(stats, timeout=10).json()["routes"]["identity"]
        start = threading.Barrier(10)
        statuses: list[int] = []

        def view() -> None:
            start.wait()
            statuses.append(browser.get(f"{server.origin}/members", timeout=30).status_code)

        threads = [threading.Thread(target=view) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = requests.get(stats, timeout=10).json()["routes"]["identity"]

    assert statuses == [200] * 10
    assert after - before == 1
