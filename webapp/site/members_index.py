"""The campaign's members in Redis, indexed for the dashboard.

A sync writes a complete new generation of keys and then switches a pointer,
so readers never see a half-written index. Within a generation:

  rows            HASH  member id -> row (JSON)
  names           ZSET  "name<US>id", all score 0: ordered by name (lexicographic)
  status:{status} ZSET  the same entries, one set per patron status
  tier:{tier id}  ZSET  the same entries, one set per entitled tier
  tiers           SET   tier ids that have a set
  summary         HASH  synced_at, monthly_cents

The first page of an unfiltered list reads one slice of `names` and the rows
of that page only, however large the campaign.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from webapp.patreon.membership import ACTIVE_PATRON
from webapp.patreon.webhooks import MemberEvent
from webapp.site.services import Services

STATUSES = ("active_patron", "declined_patron", "former_patron", "none")
SEPARATOR = "\x1f"
WRITE_BATCH = 1000


@dataclass(frozen=True)
class MemberRow:
    id: str
    user_id: str
    name: str
    status: str  # one of STATUSES
    cents: int = 0
    tier_ids: tuple[str, ...] = ()
    last_charge_status: str | None = None
    last_charge_date: str | None = None
    pledge_start: str | None = None

    @property
    def entry(self) -> str:
        return f"{self.name.casefold()}{SEPARATOR}{self.id}"

    @property
    def counts_monthly(self) -> int:
        return self.cents if self.status == ACTIVE_PATRON else 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> MemberRow:
        data = json.loads(text)
        data["tier_ids"] = tuple(data.get("tier_ids") or ())
        return cls(**data)

    @classmethod
    def from_member(cls, member: dict[str, Any]) -> MemberRow:
        """From a normalized member resource (a sync page or a webhook body)."""
        user = member.get("user") or {}
        tiers = member.get("currently_entitled_tiers") or []
        return cls(
            id=str(member["id"]),
            user_id=str(user.get("id") or ""),
            name=member.get("full_name") or user.get("full_name") or "(no name)",
            status=member.get("patron_status") or "none",
            cents=int(member.get("currently_entitled_amount_cents") or 0),
            tier_ids=tuple(str(t["id"]) for t in tiers if isinstance(t, dict) and t.get("id")),
            last_charge_status=member.get("last_charge_status"),
            last_charge_date=member.get("last_charge_date"),
            pledge_start=member.get("pledge_relationship_start"),
        )


@dataclass(frozen=True)
class MembersPage:
    rows: list[MemberRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class Summary:
    synced_at: float | None
    monthly_cents: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_tier: dict[str, int] = field(default_factory=dict)

    @property
    def patrons(self) -> int:
        return self.by_status.get(ACTIVE_PATRON, 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


class MembersIndex:
    def __init__(self, services: Services, campaign_id: str):
        self.redis = services.redis
        self.base = services.keys.members(campaign_id)

    # -- keys -------------------------------------------------------------------

    def _generation(self) -> str | None:
        return self.redis.get(f"{self.base}:current")

    def _key(self, generation: str, name: str) -> str:
        return f"{self.base}:{generation}:{name}"

    def _index_keys(self, generation: str, row: MemberRow) -> list[str]:
        keys = [self._key(generation, "names"), self._key(generation, f"status:{row.status}")]
        keys += [self._key(generation, f"tier:{t}") for t in row.tier_ids]
        return keys

    # -- writing ----------------------------------------------------------------

    def rebuild(self, members: Iterable[dict[str, Any]]) -> int:
        """Replace the whole index with `members` (normalized resources).

        If reading the members fails part way, the half-written generation is
        removed and the index in use stays as it was.
        """
        generation = uuid.uuid4().hex[:12]
        count, monthly = 0, 0
        try:
            for batch in _batches(members, WRITE_BATCH):
                rows = [MemberRow.from_member(member) for member in batch]
                self._add_rows(generation, rows)
                count += len(rows)
                monthly += sum(row.counts_monthly for row in rows)
            summary = self._key(generation, "summary")
            self.redis.hset(summary, mapping={"synced_at": time.time(), "monthly_cents": monthly})
        except BaseException:
            with contextlib.suppress(redis.RedisError):
                self._drop(generation)
            raise
        old = self.redis.getset(f"{self.base}:current", generation)
        if old:
            self._drop(old)
        return count

    def _add_rows(self, generation: str, rows: list[MemberRow]) -> None:
        """A batch of rows in a few commands: one HSET, one ZADD per index set."""
        if not rows:
            return
        sets: dict[str, dict[str, int]] = {}
        for row in rows:
            for key in self._index_keys(generation, row):
                sets.setdefault(key, {})[row.entry] = 0
        tier_ids = {t for row in rows for t in row.tier_ids}
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._key(generation, "rows"), mapping={r.id: r.to_json() for r in rows})
        for key, entries in sets.items():
            pipe.zadd(key, entries)
        if tier_ids:
            pipe.sadd(self._key(generation, "tiers"), *tier_ids)
        pipe.execute()

    def apply_event(self, event: MemberEvent) -> None:
        """Bring one member's row up to date (a webhook), creating the index if need be."""
        generation = self._generation() or self._start_empty()
        row = MemberRow.from_member(event.member)
        if event.trigger == "members:delete":
            row = MemberRow(id=row.id, user_id=row.user_id, name=row.name, status="former_patron")
        previous = self.redis.hget(self._key(generation, "rows"), row.id)
        pipe = self.redis.pipeline(transaction=True)
        delta = row.counts_monthly
        if previous:
            old = MemberRow.from_json(previous)
            for key in self._index_keys(generation, old):
                pipe.zrem(key, old.entry)
            delta -= old.counts_monthly
        self._add(pipe, generation, row)
        pipe.hincrby(self._key(generation, "summary"), "monthly_cents", delta)
        pipe.execute()

    def _add(self, pipe: Any, generation: str, row: MemberRow) -> None:
        pipe.hset(self._key(generation, "rows"), row.id, row.to_json())
        for key in self._index_keys(generation, row):
            pipe.zadd(key, {row.entry: 0})
        if row.tier_ids:
            pipe.sadd(self._key(generation, "tiers"), *row.tier_ids)

    def _start_empty(self) -> str:
        generation = uuid.uuid4().hex[:12]
        if self.redis.set(f"{self.base}:current", generation, nx=True):
            return generation
        return self._generation() or generation

    def _drop(self, generation: str) -> None:
        tier_ids = self.redis.smembers(self._key(generation, "tiers"))
        names = ["rows", "names", "summary", "tiers"]
        names += [f"status:{s}" for s in STATUSES] + [f"tier:{t}" for t in tier_ids]
        self.redis.unlink(*(self._key(generation, n) for n in names))

    # -- reading ----------------------------------------------------------------

    def summary(self, tier_ids: Iterable[str]) -> Summary:
        generation = self._generation()
        if generation is None:
            return Summary(synced_at=None, monthly_cents=0)
        tier_ids = list(tier_ids)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._key(generation, "summary"))
        for status in STATUSES:
            pipe.zcard(self._key(generation, f"status:{status}"))
        for tier_id in tier_ids:
            pipe.zcard(self._key(generation, f"tier:{tier_id}"))
        answers = pipe.execute()
        stored, counts = answers[0], answers[1:]
        return Summary(
            synced_at=float(stored["synced_at"]) if stored.get("synced_at") else None,
            monthly_cents=int(stored.get("monthly_cents") or 0),
            by_status=dict(zip(STATUSES, counts[: len(STATUSES)], strict=True)),
            by_tier=dict(zip(tier_ids, counts[len(STATUSES) :], strict=True)),
        )

    def page(
        self,
        *,
        status: str | None = None,
        tier: str | None = None,
        search: str = "",
        page: int = 1,
        per_page: int = 50,
    ) -> MembersPage:
        generation = self._generation()
        if generation is None:
            return MembersPage(rows=[], total=0, page=1, per_page=per_page)
        if not (status or tier or search):
            names = self._key(generation, "names")
            total = self.redis.zcard(names)
            page = _within(page, total, per_page)
            start = (page - 1) * per_page
            entries = self.redis.zrange(names, start, start + per_page - 1)
        else:
            matching = self._matching(generation, status, tier, search)
            total = len(matching)
            page = _within(page, total, per_page)
            start = (page - 1) * per_page
            entries = matching[start : start + per_page]
        return MembersPage(
            rows=self._rows(generation, entries), total=total, page=page, per_page=per_page
        )

    def iter_rows(
        self, *, status: str | None = None, tier: str | None = None, search: str = ""
    ) -> Iterator[MemberRow]:
        """Every matching row in name order (for the CSV export).

        Not a generator on purpose: which members match is read now, so a Redis
        failure reaches the caller before a streamed answer has started (a 503,
        not a 200 cut short); only the rows are read as the iterator is consumed.
        """
        generation = self._generation()
        if generation is None:
            return iter(())
        entries = self._matching(generation, status, tier, search)
        return self._rows_in_batches(generation, entries)

    def _rows_in_batches(self, generation: str, entries: list[str]) -> Iterator[MemberRow]:
        for start in range(0, len(entries), WRITE_BATCH):
            yield from self._rows(generation, entries[start : start + WRITE_BATCH])

    def _matching(
        self, generation: str, status: str | None, tier: str | None, search: str
    ) -> list[str]:
        sets = [self._key(generation, f"status:{status}")] if status else []
        if tier:
            sets.append(self._key(generation, f"tier:{tier}"))
        entries = self.redis.zrange(sets[0] if sets else self._key(generation, "names"), 0, -1)
        if len(sets) == 2:
            allowed = set(self.redis.zrange(sets[1], 0, -1))
            entries = [e for e in entries if e in allowed]
        needle = search.strip().casefold()
        if needle:
            entries = [e for e in entries if needle in e.partition(SEPARATOR)[0]]
        return entries

    def _rows(self, generation: str, entries: list[str]) -> list[MemberRow]:
        if not entries:
            return []
        ids = [e.rpartition(SEPARATOR)[2] for e in entries]
        raw = self.redis.hmget(self._key(generation, "rows"), ids)
        return [MemberRow.from_json(r) for r in raw if r]


def _within(page: int, total: int, per_page: int) -> int:
    """`page` moved into 1..last page (a page past the end shows the last one)."""
    return min(max(1, page), max(1, math.ceil(total / per_page)))


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
