"""Against the real Redis: workers share state, and single use holds under races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.sandbox.conftest import PORTAL_ACCESS, PORTAL_REFRESH, build_sandbox

pytestmark = pytest.mark.redis


@pytest.fixture
def workers(real_redis, redis_prefix):
    """Two sandbox apps (think: two gunicorn workers) on one Redis prefix."""
    return [build_sandbox(client=real_redis, key_prefix=f"{redis_prefix}sandbox:") for _ in "ab"]


def test_workers_agree_on_tokens_pledges_and_webhooks(workers):
    first, second = workers
    tokens = first.login("patron-high")
    assert second.api("/identity", tokens["access_token"]).status_code == 200
    assert second.refresh(tokens["refresh_token"]).status_code == 200
    assert first.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"

    first.set_pledge("patron-high", status="declined_patron", tier="6002")
    member = second.api("/members/m-5000-202?fields[member]=patron_status", PORTAL_ACCESS)
    assert member.json["data"]["attributes"] == {"patron_status": "declined_patron"}

    second.client.post(
        "/sandbox/personas/patron-high/expire", data={"browser_key": second.browser_key()}
    )
    fresh = first.login("patron-high")["access_token"]
    assert second.api("/identity", fresh).status_code == 200


def test_every_key_is_under_the_prefix_and_holds_no_plain_token(workers, real_redis, redis_prefix):
    tokens = workers[0].login("patron-low")
    workers[0].set_pledge("patron-low", status="former_patron")
    keys = list(real_redis.scan_iter(match=f"{redis_prefix}*"))
    assert keys and all(k.startswith(f"{redis_prefix}sandbox:") for k in keys)
    for key in keys:
        assert tokens["access_token"] not in key and tokens["refresh_token"] not in key
        if real_redis.type(key) == "string":
            value = real_redis.get(key)
            assert tokens["access_token"] not in value and tokens["refresh_token"] not in value


def race(calls):
    """Run the calls at the same moment, each on its own thread."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_racing_refreshes_of_one_token_exactly_one_wins(workers):
    tokens = workers[0].login("patron-low")
    calls = [
        (lambda w=worker: w.refresh(tokens["refresh_token"]))
        for worker in workers
        for _ in range(4)
    ]
    answers = race(calls)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 7
    assert {a.json["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}


def test_racing_redemptions_of_one_code_exactly_one_wins(workers):
    code = workers[0].code("patron-low")
    answers = race([(lambda w=worker: w.exchange(code)) for worker in workers for _ in range(3)])
    assert sorted(a.status_code for a in answers) == [200] + [400] * 5


def test_the_portal_pair_is_registered_once_across_restarts(workers, real_redis, redis_prefix):
    first, _ = workers
    assert first.api("/identity", PORTAL_ACCESS).status_code == 200
    assert first.refresh(PORTAL_REFRESH).status_code == 200
    restarted = build_sandbox(client=real_redis, key_prefix=f"{redis_prefix}sandbox:")
    assert restarted.refresh(PORTAL_REFRESH).json["error"] == "invalid_grant"
