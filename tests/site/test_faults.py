"""Faults (SPEC §9): Redis down, Patreon in trouble, and bad input.

Redis outages run against a redis-server of this test's own on a free port,
stopped and started again under the running app. Patreon trouble is played by
a transport that answers 5xx, 429 or times out for the sandbox's API (or its
token endpoint), in place of the in-process transport.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import base_env, require
from tests.site.conftest import AuthActions, path_of
from tests.site.helpers import (
    API_PATH,
    TOKEN_PATH,
    WEBHOOK_SECRET,
    PatreonTrouble,
    age_snapshot,
    declined_body,
    member_body,
    post_webhook,
    sandbox_calls,
    services,
    stored_snapshot,
)
from webapp import create_app

TTL, GRACE = 60, 600
WITHIN_GRACE = TTL + 60
BEYOND_GRACE = TTL + GRACE + 60
TROUBLE = ["500", "503", "429", "timeout", "down"]


def assert_503(answer, *, json: bool = False) -> None:
    body = answer.get_data(as_text=True)
    assert answer.status_code == 503, body[:300]
    assert int(answer.headers["Retry-After"]) > 0
    assert "Traceback" not in body
    if json:
        assert answer.is_json and answer.json["reason"]
    else:
        assert answer.mimetype == "text/html"
        assert "unavailable" in body.lower()


# -- Redis down ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throwaway redis-server; `stop()` saves first, so a restart keeps the data."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        # from_url: no retries with back-off (redis.Redis(port=...) retries for seconds).
        return redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--dbfilename", "dump.rdb",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        """SHUTDOWN SAVE: the outage loses nothing that was stored."""
        client = self.client()
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(save=True)
        self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


PAGES_OF_A_LOGGED_IN_USER = [
    "/",
    "/members",
    "/members/vip",
    "/dashboard",
    "/dashboard/members?status=active_patron",
    "/dashboard/members.csv",
    "/no-such-page",
    "/sandbox/",
]


def test_redis_down_is_503_everywhere_and_the_site_recovers_by_itself(redis_server):
    app = create_app(base_env(REDIS_URL=redis_server.url, PATREON_WEBHOOK_SECRET=WEBHOOK_SECRET))
    patron, visitor = app.test_client(), app.test_client()
    auth = AuthActions(patron)
    auth.login("patron-low")
    csrf = auth.csrf_token("/")
    assert patron.get("/members").status_code == 200

    redis_server.stop()
    started = time.monotonic()
    for path in PAGES_OF_A_LOGGED_IN_USER:
        assert_503(patron.get(path))
    assert_503(patron.get("/api/me"), json=True)
    assert_503(patron.post("/logout", data={"csrf_token": csrf}))
    assert_503(post_webhook(visitor, member_body("201")), json=True)
    assert_503(visitor.get("/"))
    to_patreon = visitor.get("/login")  # needs nothing stored: on to the consent page...
    assert to_patreon.status_code == 302
    assert_503(visitor.get(to_patreon.headers["Location"]))  # ...which does
    ready = visitor.get("/readyz")
    assert ready.status_code == 503 and ready.json["reason"] == "Redis does not answer"
    assert ready.headers["Retry-After"]
    assert visitor.get("/healthz").status_code == 200
    assert time.monotonic() - started < 2  # refused connections fail fast, no retry storm

    redis_server.start()  # same port, same data: the app is not restarted
    assert visitor.get("/readyz").status_code == 200
    assert patron.get("/members").status_code == 200  # the session survived the outage
    assert patron.get("/members/vip").status_code == 403
    assert patron.get("/api/me").json["user"]["id"] == "201"
    assert post_webhook(visitor, declined_body("201")).json["status"] == "applied"
    assert patron.get("/members").status_code == 403
    assert auth.logout().status_code == 302
    assert patron.get("/members").status_code == 302


def test_a_redis_restart_between_two_requests_costs_no_error(redis_server):
    app = create_app(base_env(REDIS_URL=redis_server.url))
    patron = app.test_client()
    AuthActions(patron).login("patron-high")
    assert patron.get("/members/vip").status_code == 200
    # No request sees the outage: the pooled connections are simply dead afterwards.
    redis_server.stop()
    redis_server.start()
    assert patron.get("/members/vip").status_code == 200
    assert patron.get("/readyz").status_code == 200


def test_the_site_starts_while_redis_is_down_and_serves_once_it_is_up(redis_server):
    redis_server.stop()
    app = create_app(base_env(REDIS_URL=redis_server.url))  # does not raise
    visitor = app.test_client()
    assert_503(visitor.get("/"))
    assert visitor.get("/readyz").status_code == 503

    redis_server.start()
    assert visitor.get("/readyz").status_code == 200
    auth = AuthActions(visitor)
    auth.login("creator")  # the creator token is stored on first use
    assert visitor.get("/dashboard").status_code == 200


# -- Patreon in trouble ---------------------------------------------------------------------


@pytest.fixture
def app_env():
    return base_env(MEMBERSHIP_TTL=str(TTL), MEMBERSHIP_GRACE=str(GRACE))


@pytest.fixture
def waits(app) -> list[float]:
    """The back-off waits between retries, recorded instead of slept."""
    waited: list[float] = []
    svc = services(app)
    for client in (svc.user_client, svc.creator_client, svc.batch_creator_client):
        client.http.sleep = waited.append
    return waited


@pytest.fixture
def trouble(monkeypatch, waits):
    return PatreonTrouble(monkeypatch)


def logged_in(app, persona: str):
    client = app.test_client()
    AuthActions(client).login(persona)
    return client


@pytest.mark.parametrize("mode", TROUBLE)
def test_within_grace_a_stale_snapshot_decides_while_patreon_fails(app, trouble, mode):
    high, former = logged_in(app, "patron-high"), logged_in(app, "former")
    age_snapshot(app, "202", WITHIN_GRACE)
    age_snapshot(app, "204", WITHIN_GRACE)
    stale = stored_snapshot(app, "202")
    trouble.mode = mode

    assert high.get("/members/vip").status_code == 200
    assert trouble.hits >= 1  # Patreon was asked, and failed
    assert stored_snapshot(app, "202") == stale  # kept as it was, for the next try
    # A stale snapshot that denies still denies: the error opens nothing.
    assert former.get("/members").status_code == 403


@pytest.mark.parametrize("mode", TROUBLE)
def test_beyond_grace_patreon_failing_is_503_never_access(app, trouble, mode):
    high, former = logged_in(app, "patron-high"), logged_in(app, "former")
    age_snapshot(app, "202", BEYOND_GRACE)
    age_snapshot(app, "204", BEYOND_GRACE)
    trouble.mode = mode

    assert_503(high.get("/members/vip"))
    assert_503(high.get("/members"))
    assert_503(high.get("/api/me"), json=True)
    assert_503(former.get("/members"))
    assert high.get("/").status_code == 200  # the home page only gets less precise
    assert stored_snapshot(app, "202").age() > TTL + GRACE  # nothing replaced it

    trouble.mode = None  # Patreon is back: the next request re-reads at once
    assert high.get("/members/vip").status_code == 200
    assert stored_snapshot(app, "202").age() < 5
    assert former.get("/members").status_code == 403


def test_a_cancelled_pledge_never_reopens_through_an_error(app, trouble):
    high = logged_in(app, "patron-high")
    # Harper cancels on Patreon; no webhook arrives. Later Patreon has an outage.
    sandbox = app.test_client()
    page = sandbox.get("/sandbox/").get_data(as_text=True)
    key = re.search(r'name="browser_key" value="([^"]+)"', page).group(1)
    sandbox.post(
        "/sandbox/personas/patron-high/pledge",
        data={"browser_key": key, "status": "former_patron", "tier": "", "amount_cents": ""},
    )
    age_snapshot(app, "202", BEYOND_GRACE)
    trouble.mode = "500"
    assert_503(high.get("/members"))
    trouble.mode = None
    assert high.get("/members").status_code == 403


@pytest.mark.parametrize(
    "app_env",
    [
        base_env(
            MEMBERSHIP_TTL=str(TTL),
            MEMBERSHIP_GRACE=str(GRACE),
            PATREON_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
    ],
)
@pytest.mark.parametrize("mode", ["500", "timeout"])
def test_an_unconfirmed_upgrade_decides_only_within_grace_while_patreon_fails(app, trouble, mode):
    """A webhook that widens access waits for Patreon; while Patreon fails, grace decides."""
    low = logged_in(app, "patron-low")  # Supporter, $5
    assert post_webhook(low, member_body("201")).json["status"] == "applied"  # VIP, $15
    trouble.mode = mode
    assert low.get("/members/vip").status_code == 200
    assert trouble.hits >= 1  # Patreon was asked first, and failed
    age_snapshot(app, "201", GRACE)
    assert_503(low.get("/members/vip"))
    trouble.mode = None  # Patreon answers: Lee is still a Supporter
    assert low.get("/members/vip").status_code == 403
    assert low.get("/members").status_code == 200


@pytest.mark.parametrize("damage", ["deleted", "unreadable"])
def test_no_usable_snapshot_and_patreon_down_is_503(app, trouble, damage):
    high = logged_in(app, "patron-high")
    svc = services(app)
    key = svc.keys.membership("202")
    if damage == "deleted":
        svc.redis.delete(key)
    else:
        svc.redis.set(key, '{"user_id": "202", "patron_status": "active_patron", ')
    trouble.mode = "timeout"
    assert_503(high.get("/members"))
    assert_503(high.get("/members/vip"))


def test_patreon_is_asked_once_per_request_and_not_hammered(app, trouble, waits):
    """Each request past the TTL tries Patreon (one short retry), then falls back."""
    high = logged_in(app, "patron-high")
    age_snapshot(app, "202", WITHIN_GRACE)
    trouble.mode = "500"
    for _ in range(3):
        assert high.get("/members/vip").status_code == 200
    assert trouble.hits == 6  # one retry each (REQUEST_RETRY), nothing more
    assert waits == [0.2, 0.2, 0.2]
    trouble.mode = "429"  # Retry-After: 3600 is beyond a visitor's patience: no wait at all
    assert high.get("/members/vip").status_code == 200
    assert trouble.hits == 7 and waits == [0.2, 0.2, 0.2]


@pytest.mark.parametrize("mode", ["500", "429", "timeout"])
def test_the_token_endpoint_failing_during_a_refresh_keeps_the_token_and_the_snapshot(
    app, monkeypatch, mode
):
    high = logged_in(app, "patron-high")
    svc = services(app)
    token_before = svc.user_store("202").get()
    # The sandbox ends Harper's access token: the next API call is a 401 and needs a refresh...
    sandbox = app.test_client()
    page = sandbox.get("/sandbox/").get_data(as_text=True)
    key = re.search(r'name="browser_key" value="([^"]+)"', page).group(1)
    sandbox.post("/sandbox/personas/patron-high/expire", data={"browser_key": key})
    age_snapshot(app, "202", WITHIN_GRACE)
    # ...and the token endpoint is in trouble.
    token_trouble = PatreonTrouble(monkeypatch, path=TOKEN_PATH)
    token_trouble.mode = mode

    assert high.get("/members/vip").status_code == 200  # the stale snapshot decides
    assert token_trouble.hits >= 1
    assert svc.user_store("202").get() == token_before  # the refresh token is not lost

    age_snapshot(app, "202", GRACE)  # now beyond grace
    assert_503(high.get("/members/vip"))
    assert svc.user_store("202").get() == token_before

    token_trouble.mode = None
    assert high.get("/members/vip").status_code == 200
    refreshed = svc.user_store("202").get()
    assert refreshed.refresh_token != token_before.refresh_token  # refreshed and stored
    assert stored_snapshot(app, "202").age() < 5


@pytest.mark.parametrize("path", [API_PATH, TOKEN_PATH], ids=["api", "token-endpoint"])
@pytest.mark.parametrize("mode", TROUBLE)
def test_patreon_in_trouble_during_the_login_callback_is_503_and_logs_nobody_in(
    app, client, auth, monkeypatch, waits, path, mode
):
    callback = auth.consent(auth.start("/members"), "patron-low")
    trouble = PatreonTrouble(monkeypatch, path=path)
    trouble.mode = mode
    assert_503(client.get(path_of(callback)))
    assert trouble.hits >= 1
    trouble.mode = None
    assert client.get("/api/me").json["authenticated"] is False
    svc = services(app)
    assert svc.redis.get(svc.keys.user_token("201")) is None
    assert auth.login("patron-low", "/members").headers["Location"] == "/members"  # next time


def test_a_fresh_snapshot_needs_no_patreon_at_all(app, trouble):
    high = logged_in(app, "patron-high")
    identity_calls = sandbox_calls(high, "identity")
    trouble.mode = "down"
    for _ in range(5):
        assert high.get("/members/vip").status_code == 200
    assert trouble.hits == 0
    assert sandbox_calls(high, "identity") == identity_calls


# -- bad input never gives a 500 ------------------------------------------------------------

HUGE = "x" * 100_000


def bad_requests(csrf: str):
    """(method, path, keyword arguments for the test client)."""
    yield "GET", "/?%ff%fe=%00", {}
    yield "GET", "/%ff%fe", {}
    yield "GET", "/members/%ff", {}
    yield "GET", "/", {"environ_overrides": {"PATH_INFO": "/members/\xff\xfe"}}
    yield "GET", "/", {"environ_overrides": {"QUERY_STRING": "next=\xff\xfe&page=\xc3"}}
    yield "GET", "/members", {"environ_overrides": {"QUERY_STRING": "next=\xff\xfe&page=\xc3"}}
    yield "GET", "/members/vip", {"environ_overrides": {"QUERY_STRING": "\xff"}}
    yield "GET", "/login?next=" + HUGE, {}
    yield "GET", "/login?next=%ff%fe%00", {}
    yield "GET", "/login?next=//evil.example&next=/members", {}
    yield "GET", "/auth/patreon/callback", {}
    yield "GET", "/auth/patreon/callback?code=x&state=" + HUGE, {}
    yield "GET", "/auth/patreon/callback?error=" + "%ff" * 50, {}
    yield "GET", "/dashboard/members?q=" + "%ff" * 200, {}
    yield "GET", "/dashboard/members?q=" + HUGE, {}
    yield "GET", "/dashboard/members?status=%ff&tier=%00", {}
    yield "GET", "/dashboard/members?status=active_patron&status=none", {}
    yield "GET", "/dashboard/members.csv?q=%00%ff", {}
    yield "GET", "/api/me?%ff", {}
    yield "GET", "/static/%ff", {}
    yield "GET", "/static/../wsgi.py", {}
    yield "GET", "/readyz?%ff", {}
    yield "PUT", "/", {}
    yield "DELETE", "/members", {}
    yield "POST", "/members/vip", {}
    yield "PATCH", "/dashboard/sync", {}
    yield "GET", "/logout", {}
    yield "GET", "/webhooks/patreon", {}
    yield "OPTIONS", "/dashboard", {}
    yield "POST", "/logout", {"data": b"x" * 2_000_000}
    yield "POST", "/dashboard/sync", {"data": {"csrf_token": csrf, "pad": "y" * 2_000_000}}
    yield "POST", "/webhooks/patreon", {"data": b"\xff" * 2_000_000}
    yield (
        "POST",
        "/logout",
        {"data": b"csrf_token=%ff%fe", "content_type": "application/x-www-form-urlencoded"},
    )
    yield "POST", "/logout", {"data": b"\xff\xfe", "content_type": "multipart/form-data"}
    yield (
        "POST",
        "/dashboard/sync",
        {"data": b"--x\r\nbroken", "content_type": "multipart/form-data; boundary=x"},
    )
    yield (
        "POST",
        "/webhooks/patreon",
        {"data": b"{}", "headers": {"X-Patreon-Signature": "\xff" * 40, "X-Patreon-Event": "\xff"}},
    )
    yield "GET", "/members", {"headers": {"Cookie": "session=" + "A" * 4000}}
    yield "GET", "/members", {"headers": {"Cookie": "session=eyJzaWQiOiJ4In0.forged.sig"}}
    yield "GET", "/", {"headers": {"Host": "evil.example"}}


@pytest.mark.parametrize("persona", [None, "creator", "patron-low"])
def test_bad_input_never_gives_a_500_or_a_stack_trace(app, persona):
    client = app.test_client()
    csrf = ""
    if persona:
        auth = AuthActions(client)
        auth.login(persona)
        csrf = auth.csrf_token("/")
    for method, path, kwargs in bad_requests(csrf):
        answer = client.open(path, method=method, **kwargs)
        body = answer.get_data(as_text=True)
        where = f"{method} {path[:60]}"
        assert answer.status_code < 500, f"{where}: {answer.status_code} {body[:300]}"
        assert "Traceback" not in body and "werkzeug" not in body.lower(), where
    if persona:  # none of it logged the visitor out or broke the session
        assert client.get("/api/me").json["authenticated"] is True


ACCESS_RULES_VARIANTS = [
    {"/": "login"},
    {"/": "patron"},
    {"/": "creator"},
    {"/": "public"},
    {"/blog": "login"},
    {"/members": "public"},
    {"/members/vip": "public", "/members": "tier:VIP"},
    {"/login": "patron", "/auth": "creator", "/logout": "patron>=100000"},
    {"/static": "creator", "/healthz": "login", "/readyz": "patron", "/webhooks": "login"},
    {"/sandbox": "patron", "/api": "tier:VIP", "/dashboard": "public"},
]


@pytest.mark.parametrize("persona", [None, "patron-low"])
@pytest.mark.parametrize("rules", ACCESS_RULES_VARIANTS, ids=json.dumps)
def test_no_access_rules_setting_gives_a_500(rules, persona):
    """Site-wide rules, rules over the site's own routes, example pages made public."""
    client = create_app(base_env(ACCESS_RULES=json.dumps(rules))).test_client()
    auth = AuthActions(client)
    csrf = ""
    if persona:
        assert auth.login(persona).status_code == 302
        csrf = auth.csrf_token("/")  # the 403 page has the logout form too
    for method, path, kwargs in [
        *(("GET", page, {}) for page in PAGES_OF_A_LOGGED_IN_USER),
        ("GET", "/api/me", {}),
        *bad_requests(csrf),
    ]:
        answer = client.open(path, method=method, **kwargs)
        body = answer.get_data(as_text=True)
        where = f"{method} {path[:60]}"
        assert answer.status_code < 500, f"{where}: {answer.status_code} {body[:300]}"
        assert "Traceback" not in body, where


def test_oversized_bodies_are_413_in_the_callers_language(client):
    webhook = client.post("/webhooks/patreon", data=b"x" * 2_000_000)
    assert webhook.status_code == 413 and webhook.is_json
    page = client.post("/logout", data=b"x" * 2_000_000)
    assert page.status_code == 413 and page.mimetype == "text/html"
