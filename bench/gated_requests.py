"""A gated page with a fresh snapshot vs one that asks Patreon on every view.

Target: the cached path is at least 3x faster per request and makes no identity
call; the stale path makes one per view (what a naive integration does).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import base_env
from tests.site.conftest import AuthActions
from webapp import create_app

# The sandbox, like Patreon, allows 100 API calls a minute per token: the stale
# variant's identity calls stay under that.
ROUNDS, PER_ROUND = 8, 10
TARGET_RATIO = 3.0


def main() -> int:
    app = create_app(base_env())
    client = app.test_client()
    AuthActions(client).login("patron-low")
    redis, key = app.extensions["redis"], app.extensions["patron_gate"].keys.membership("201")

    def identity_calls() -> int:
        return int(client.get("/sandbox/stats").json["routes"].get("identity", 0))

    def cached() -> None:
        assert client.get("/members").status_code == 200

    def stale() -> None:
        snapshot = json.loads(redis.get(key))
        snapshot["fetched_at"] = 0
        redis.set(key, json.dumps(snapshot))
        assert client.get("/members").status_code == 200

    times = {"cached": [], "stale": []}
    calls = {"cached": 0, "stale": 0}
    for _ in range(ROUNDS):
        for name, view in (("cached", cached), ("stale", stale)):
            before = identity_calls()
            started = time.perf_counter()
            for _ in range(PER_ROUND):
                view()
            times[name].append((time.perf_counter() - started) / PER_ROUND)
            calls[name] += identity_calls() - before

    per_request = {name: statistics.median(values) for name, values in times.items()}
    ratio = per_request["stale"] / per_request["cached"]
    total = ROUNDS * PER_ROUND
    for name in ("cached", "stale"):
        milliseconds = per_request[name] * 1000
        print(f"{name:6}: {milliseconds:.2f} ms/request, {calls[name]} identity calls in {total}")
    ok = ratio >= TARGET_RATIO and calls["cached"] == 0 and calls["stale"] == total
    verdict = "PASS" if ok else "FAIL"
    print(f"ratio stale/cached: {ratio:.1f}x (target >= {TARGET_RATIO}x) -> {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
