"""The dashboard's first members page costs the same at 1,000 and 10,000 members.

Targets, measured side by side: the first page at 10,000 members takes at most
2x the time and 2x the peak memory of the same page at 1,000 (it reads one page,
not the campaign), while the CSV export, which does read everything, grows.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import base_env
from tests.site.conftest import AuthActions
from webapp import create_app

SIZES = (1_000, 10_000)
ROUNDS = 7
TARGET = 2.0


def creator_client(members: int):
    # Five personas are members too: SANDBOX_MEMBERS adds the rest.
    app = create_app(base_env(SANDBOX_MEMBERS=str(members - 5)))
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("creator")
    synced = client.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/dashboard")})
    assert synced.status_code == 302
    return client


def measure(client, path: str) -> tuple[float, int]:
    """Seconds for the whole response (body included), then its peak memory apart,
    so the memory tracing does not slow the timed run."""
    started = time.perf_counter()
    answer = client.get(path)
    answer.get_data()
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200
    tracemalloc.start()
    client.get(path).get_data()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def main() -> int:
    clients = {size: creator_client(size) for size in SIZES}
    results: dict[tuple[int, str], list[tuple[float, int]]] = {}
    for _ in range(ROUNDS):
        for size, client in clients.items():
            for path in ("/dashboard/members", "/dashboard/members.csv"):
                results.setdefault((size, path), []).append(measure(client, path))

    def median(size: int, path: str) -> tuple[float, float]:
        runs = results[(size, path)]
        return statistics.median(t for t, _ in runs), statistics.median(m for _, m in runs)

    small, large = SIZES
    for path in ("/dashboard/members", "/dashboard/members.csv"):
        for size in SIZES:
            seconds, peak = median(size, path)
            kib = peak / 1024
            print(f"{path:26} {size:>6} members: {seconds * 1000:7.1f} ms, peak {kib:8.0f} KiB")
    page_time = median(large, "/dashboard/members")[0] / median(small, "/dashboard/members")[0]
    page_memory = median(large, "/dashboard/members")[1] / median(small, "/dashboard/members")[1]
    csv_time = (
        median(large, "/dashboard/members.csv")[0] / median(small, "/dashboard/members.csv")[0]
    )
    ok = page_time <= TARGET and page_memory <= TARGET
    print(
        f"first page 10k/1k: time {page_time:.2f}x, memory {page_memory:.2f}x (target <= {TARGET}x)"
    )
    print(f"CSV 10k/1k: time {csv_time:.1f}x (reads every member, for contrast)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
