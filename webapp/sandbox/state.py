"""Everything the sandbox remembers, in Redis under one key prefix.

Several workers (and the standalone process) share one Redis, so they agree on
tokens, codes, pledges and webhooks. Single-use things (consent requests, codes,
refresh tokens) are taken with GETDEL, which is atomic on Redis and fakeredis
alike: of two racing redemptions exactly one gets the record.

Tokens are stored under a SHA-256 of their value, so listing the keys of a
shared Redis shows no usable token.

Layout under the prefix (e.g. `gate:sandbox:`):
  consent:{id}            a pending consent request (15 min)
  code:{id}               an authorization code (10 min)
  access:{sha}            an access token's grant (token_ttl)
  refresh:{sha}           a refresh token's grant (90 days)
  user-access:{user}      set of the user's access-token hashes
  portal:{sha}            marker: this portal token pair was registered once
  rate:{grant}:{minute}   request counter of one grant in one minute
  pledge:{member}         a persona's changed pledge (absent: the default)
  webhook:{id}, webhooks, webhook-ids   webhooks created through the API
  deliveries              the latest webhook deliveries, newest first
  stats:routes, stats:users, stats:statuses   call counters
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from webapp.sandbox.personas import Pledge

CONSENT_TTL = 15 * 60
CODE_TTL = 10 * 60
REFRESH_TTL = 90 * 24 * 3600
RATE_WINDOW = 60
DELIVERIES_KEPT = 20


@dataclass(frozen=True)
class Grant:
    """What a token stands for. `grant_id` survives refreshes, so does the rate limit."""

    grant_id: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float = 0.0  # access tokens only

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Grant:
        data = json.loads(raw)
        data["scopes"] = tuple(data["scopes"])
        return cls(**data)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    grant: Grant


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SandboxState:
    def __init__(self, client: redis.Redis, prefix: str, clock: Callable[[], float]):
        self.redis = client
        self.prefix = prefix
        self.clock = clock

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- single-use records -------------------------------------------------------

    def put_once(self, kind: str, record: dict[str, Any], ttl: int) -> str:
        """Store a single-use record (consent request, code) under a fresh random id."""
        record_id = secrets.token_urlsafe(24)
        record = {**record, "expires_at": self.clock() + ttl}
        self.redis.set(self.key(kind, record_id), json.dumps(record), ex=ttl)
        return record_id

    def take_once(self, kind: str, record_id: str) -> dict[str, Any] | None:
        """The record, removed in the same step; None when spent, unknown or expired."""
        if not record_id:
            return None
        raw = self.redis.getdel(self.key(kind, record_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return record if record["expires_at"] > self.clock() else None

    def peek(self, kind: str, record_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.key(kind, record_id)) if record_id else None
        return json.loads(raw) if raw else None

    # -- tokens -----------------------------------------------------------------------

    def issue_tokens(self, grant: Grant, ttl: int) -> IssuedTokens:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._store_tokens(access, refresh, grant, ttl)
        return IssuedTokens(access, refresh, grant)

    def _store_tokens(self, access: str, refresh: str, grant: Grant, ttl: int) -> None:
        live = Grant(
            grant.grant_id,
            grant.client_id,
            grant.user_id,
            grant.scopes,
            expires_at=self.clock() + ttl,
        )
        index = self.key("user-access", grant.user_id)
        with self.redis.pipeline() as pipe:
            pipe.set(self.key("access", _digest(access)), live.to_json(), ex=ttl)
            pipe.set(self.key("refresh", _digest(refresh)), grant.to_json(), ex=REFRESH_TTL)
            pipe.sadd(index, _digest(access))
            pipe.expire(index, REFRESH_TTL)
            pipe.execute()

    def register_portal_tokens(self, access: str, refresh: str, grant: Grant, ttl: int) -> bool:
        """Register the developer portal's pair once; False when it was already registered.

        The marker outlives the tokens, so a restart sharing this Redis cannot
        bring back a pair that has been refreshed (rotated) away since.
        """
        marker = self.key("portal", _digest(access + "\n" + refresh))
        if not self.redis.set(marker, "1", nx=True):
            return False
        self._store_tokens(access, refresh, grant, ttl)
        return True

    def access_grant(self, access_token: str) -> Grant | None:
        raw = self.redis.get(self.key("access", _digest(access_token)))
        if raw is None:
            return None
        grant = Grant.from_json(raw)
        return grant if grant.expires_at > self.clock() else None

    def take_refresh_grant(self, refresh_token: str) -> Grant | None:
        raw = self.redis.getdel(self.key("refresh", _digest(refresh_token)))
        return Grant.from_json(raw) if raw is not None else None

    def refresh_token_alive(self, refresh_token: str) -> bool:
        return bool(self.redis.exists(self.key("refresh", _digest(refresh_token))))

    def live_access_grants(self, user_id: str) -> list[Grant]:
        index = self.key("user-access", user_id)
        digests = sorted(self.redis.smembers(index))
        if not digests:
            return []
        raws = self.redis.mget([self.key("access", d) for d in digests])
        dead = [d for d, raw in zip(digests, raws, strict=True) if raw is None]
        if dead:
            self.redis.srem(index, *dead)
        grants = (Grant.from_json(raw) for raw in raws if raw is not None)
        return [g for g in grants if g.expires_at > self.clock()]

    def expire_access_tokens(self, user_id: str) -> int:
        """End every access token of the user now; refresh tokens keep working."""
        index = self.key("user-access", user_id)
        digests = list(self.redis.smembers(index))
        if not digests:
            return 0
        with self.redis.pipeline() as pipe:
            pipe.delete(*[self.key("access", d) for d in digests])
            pipe.delete(index)
            removed, _ = pipe.execute()
        return int(removed)

    # -- rate limit -------------------------------------------------------------------

    def hit_rate_limit(self, grant_id: str, limit: int) -> float | None:
        """Count one request; seconds to wait when it is over the limit, else None."""
        now = self.clock()
        window = int(now // RATE_WINDOW)
        key = self.key("rate", grant_id, str(window))
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, RATE_WINDOW * 2)
            count, _ = pipe.execute()
        if count <= limit:
            return None
        return max(1.0, math.ceil((window + 1) * RATE_WINDOW - now))

    # -- pledges ----------------------------------------------------------------------

    def pledges(self, member_ids: Iterable[str]) -> dict[str, Pledge]:
        """The changed pledges among these members (one round trip)."""
        ids = list(member_ids)
        raws = self.redis.mget([self.key("pledge", m) for m in ids]) if ids else []
        return {
            m: Pledge.from_dict(json.loads(raw))
            for m, raw in zip(ids, raws, strict=True)
            if raw is not None
        }

    def set_pledge(self, member_id: str, pledge: Pledge) -> None:
        self.redis.set(self.key("pledge", member_id), json.dumps(pledge.to_dict()))

    def reset_pledges(self, member_ids: Iterable[str]) -> None:
        keys = [self.key("pledge", m) for m in member_ids]
        if keys:
            self.redis.delete(*keys)

    # -- webhooks created through the API ---------------------------------------------

    def create_webhook(self, record: dict[str, Any]) -> dict[str, Any]:
        webhook_id = str(self.redis.incr(self.key("webhook-ids")))
        record = {**record, "id": webhook_id}
        with self.redis.pipeline() as pipe:
            pipe.set(self.key("webhook", webhook_id), json.dumps(record))
            pipe.sadd(self.key("webhooks"), webhook_id)
            pipe.execute()
        return record

    def webhook(self, webhook_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.key("webhook", webhook_id))
        return json.loads(raw) if raw else None

    def webhooks(self) -> list[dict[str, Any]]:
        ids = sorted(self.redis.smembers(self.key("webhooks")), key=int)
        if not ids:
            return []
        raws = self.redis.mget([self.key("webhook", i) for i in ids])
        return [json.loads(raw) for raw in raws if raw]

    def save_webhook(self, record: dict[str, Any]) -> None:
        self.redis.set(self.key("webhook", record["id"]), json.dumps(record))

    def delete_webhook(self, webhook_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("webhook", webhook_id))
            pipe.srem(self.key("webhooks"), webhook_id)
            pipe.execute()

    # -- deliveries and stats ---------------------------------------------------------

    def record_deliveries(self, deliveries: list[dict[str, Any]]) -> None:
        if not deliveries:
            return
        key = self.key("deliveries")
        with self.redis.pipeline() as pipe:
            pipe.lpush(key, *[json.dumps(d) for d in deliveries])
            pipe.ltrim(key, 0, DELIVERIES_KEPT - 1)
            pipe.execute()

    def deliveries(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key("deliveries"), 0, -1)]

    def count_call(self, route: str, user_id: str | None, status: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self.key("stats", "routes"), route, 1)
            pipe.hincrby(self.key("stats", "statuses"), f"{route}|{status}", 1)
            if user_id:
                pipe.hincrby(self.key("stats", "users"), f"{route}|{user_id}", 1)
            pipe.execute()

    def stats(self) -> dict[str, Any]:
        """`{"routes": {route: n}, "by_user": {route: {user: n}}, "by_status": ...}`."""
        with self.redis.pipeline() as pipe:
            for name in ("routes", "users", "statuses"):
                pipe.hgetall(self.key("stats", name))
            routes, users, statuses = pipe.execute()
        return {
            "routes": {route: int(n) for route, n in sorted(routes.items())},
            "by_user": _nest(users),
            "by_status": _nest(statuses),
        }

    def reset_stats(self) -> None:
        self.redis.delete(*[self.key("stats", n) for n in ("routes", "users", "statuses")])

    def reset_deliveries(self) -> None:
        self.redis.delete(self.key("deliveries"))


def _nest(flat: dict[str, str]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for field, count in sorted(flat.items()):
        route, _, sub = field.rpartition("|")
        nested.setdefault(route, {})[sub] = int(count)
    return nested
