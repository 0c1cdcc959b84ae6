"""Helpers for the webhook, dashboard, CLI and fault tests (no fixtures here).

Webhook bodies and signatures are written here from Patreon's documented shapes,
not with the project's own `sign`, so the site is checked against an
independent implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from webapp.inprocess import InProcessTransport
from webapp.patreon.membership import MembershipSnapshot

WEBHOOK_SECRET = "site-webhook-secret-current"
CAMPAIGN_ID = "5000"
OTHER_CAMPAIGN_ID = "5100"
API_PATH = "/sandbox/api/oauth2/v2/"
TOKEN_PATH = "/sandbox/api/oauth2/token"


def services(app):
    return app.extensions["patron_gate"]


# -- webhooks -------------------------------------------------------------------------


def patreon_signature(secret: str, body: bytes) -> str:
    """Patreon's X-Patreon-Signature: hex HMAC-MD5 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.md5).hexdigest()


def member_body(
    user_id: str = "201",
    *,
    campaign_id: str = CAMPAIGN_ID,
    status: str | None = "active_patron",
    cents: Any = 1500,
    tiers: Iterable[tuple[str, str]] = (("6002", "VIP"),),
    name: Any = "Lee Low",
    charge_date: str = "2025-06-01T09:00:00.000+00:00",
) -> bytes:
    """A member event body as Patreon posts it (JSON:API, relationships in `included`)."""
    tiers = list(tiers)
    member_id = f"m-{campaign_id}-{user_id}"
    document = {
        "data": {
            "type": "member",
            "id": member_id,
            "attributes": {
                "full_name": name,
                "patron_status": status,
                "currently_entitled_amount_cents": cents,
                "last_charge_status": "Paid" if status == "active_patron" else "Declined",
                "last_charge_date": charge_date,
                "pledge_relationship_start": "2024-02-10T09:00:00.000+00:00",
            },
            "relationships": {
                "user": {"data": {"type": "user", "id": user_id}},
                "campaign": {"data": {"type": "campaign", "id": campaign_id}},
                "currently_entitled_tiers": {
                    "data": [{"type": "tier", "id": tier_id} for tier_id, _ in tiers]
                },
            },
        },
        "included": [
            {"type": "user", "id": user_id, "attributes": {"full_name": name}},
            {"type": "campaign", "id": campaign_id, "attributes": {}},
            *(
                {"type": "tier", "id": tier_id, "attributes": {"title": title}}
                for tier_id, title in tiers
            ),
        ],
    }
    return json.dumps(document).encode()


def declined_body(user_id: str = "201", name: str = "Lee Low") -> bytes:
    return member_body(user_id, status="declined_patron", cents=0, tiers=(), name=name)


def post_webhook(
    client,
    body: bytes,
    trigger: str | None = "members:pledge:update",
    *,
    secret: str = WEBHOOK_SECRET,
    signature: str | None = ...,  # type: ignore[assignment]
):
    headers = {"Content-Type": "application/json"}
    if trigger is not None:
        headers["X-Patreon-Event"] = trigger
    if signature is ...:
        signature = patreon_signature(secret, body)
    if signature is not None:
        headers["X-Patreon-Signature"] = signature
    return client.post("/webhooks/patreon", data=body, headers=headers)


# -- what the site keeps in Redis ------------------------------------------------------


def site_state(app) -> dict[str, Any]:
    """Every site key (not the sandbox's, not locks) with its value: to prove nothing changed."""
    svc = services(app)
    redis = svc.redis
    state: dict[str, Any] = {}
    for key in redis.scan_iter(match=f"{svc.keys.prefix}*", count=1000):
        name = key.removeprefix(svc.keys.prefix)
        if name.startswith(("sandbox:", "lock:")):
            continue
        kind = redis.type(key)
        if kind == "string":
            state[name] = redis.get(key)
        elif kind == "hash":
            state[name] = redis.hgetall(key)
        elif kind == "list":
            state[name] = redis.lrange(key, 0, -1)
        elif kind == "set":
            state[name] = sorted(redis.smembers(key))
        elif kind == "zset":
            state[name] = redis.zrange(key, 0, -1, withscores=True)
    return state


def stored_snapshot(app, user_id: str) -> MembershipSnapshot | None:
    svc = services(app)
    raw = svc.redis.get(svc.keys.membership(user_id))
    return MembershipSnapshot.from_dict(json.loads(raw)) if raw else None


def age_snapshot(app, user_id: str, seconds: float) -> None:
    """Move the stored snapshot's `fetched_at` back by `seconds` (instead of sleeping)."""
    svc = services(app)
    key = svc.keys.membership(user_id)
    data = json.loads(svc.redis.get(key))
    data["fetched_at"] -= seconds
    svc.redis.set(key, json.dumps(data))


def sandbox_calls(client, route: str) -> int:
    return client.get("/sandbox/stats").json["routes"].get(route, 0)


# -- dashboard HTML ---------------------------------------------------------------------

TBODY = re.compile(r"<tbody>(.*?)</tbody>", re.S)
ROW = re.compile(r"<tr[\s>]")
FIRST_CELL = re.compile(r"<tr>\s*<td>(.*?)</td>", re.S)


def table_rows(html: str) -> list[str]:
    """The name cell of each row of the page's last table (the members table)."""
    bodies = TBODY.findall(html)
    return [m.strip() for m in FIRST_CELL.findall(bodies[-1])] if bodies else []


def row_count(html: str) -> int:
    bodies = TBODY.findall(html)
    return len(ROW.findall(bodies[-1])) if bodies else 0


# -- counting what a request reads from Redis -------------------------------------------


def _size(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, list | tuple | set | dict):
        return len(value)
    return 1


class RedisReads:
    """Wraps the site's Redis client; `log` holds (command, items returned) per call."""

    def __init__(self, inner):
        self._inner = inner
        self.log: list[tuple[str, int]] = []

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if name == "pipeline":
            return lambda *a, **k: _RecordedPipeline(attr(*a, **k), self.log)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            self.log.append((name, _size(result)))
            return result

        return call

    @property
    def items(self) -> int:
        return sum(n for _, n in self.log)

    def returned_by(self, command: str) -> list[int]:
        return [n for name, n in self.log if name == command]


class _RecordedPipeline:
    def __init__(self, inner, log):
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._inner.reset()

    def execute(self, *args, **kwargs):
        results = self._inner.execute(*args, **kwargs)
        self._log.extend(("pipeline", _size(r)) for r in results)
        return results


@contextmanager
def recording_redis(app) -> Iterator[RedisReads]:
    svc = services(app)
    original = svc.redis
    recorder = RedisReads(original)
    svc.redis = recorder
    try:
        yield recorder
    finally:
        svc.redis = original


# -- Patreon in trouble -------------------------------------------------------------------


class PatreonTrouble:
    """Replaces the in-process transport's answers for matching Patreon URLs.

    `mode`: "500", "503", "429" (Retry-After beyond any caller's patience),
    "timeout" (the read times out), "down" (the connection is refused), or None
    (everything goes through again). `only` narrows which URLs are hit.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: str = API_PATH):
        self.mode: str | None = None
        self.path = path
        self.only: str = ""
        self.hits = 0
        original = InProcessTransport.send

        def send(transport, request: requests.PreparedRequest, **kwargs):
            if self.mode and self.path in request.url and self.only in request.url:
                self.hits += 1
                return self._fail(request)
            return original(transport, request, **kwargs)

        monkeypatch.setattr(InProcessTransport, "send", send)

    def _fail(self, request: requests.PreparedRequest) -> requests.Response:
        if self.mode == "timeout":
            raise requests.exceptions.ReadTimeout("Patreon took too long", request=request)
        if self.mode == "down":
            raise requests.exceptions.ConnectionError("connection refused", request=request)
        status = int(self.mode)
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = request.url
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        if status == 429:
            response.headers["Retry-After"] = "3600"
        body = {"errors": [{"status": str(status), "title": "Patreon is having trouble"}]}
        response._content = json.dumps(body).encode()
        return response
