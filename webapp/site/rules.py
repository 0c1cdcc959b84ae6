"""Access rules: who may open a page.

One `Rule` type serves both `ACCESS_RULES` (path prefix -> rule) and the
`@requires(...)` view decorator, so a rule means the same thing wherever it is
written. Rules are parsed at start-up; a bad one stops the app there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from webapp.patreon.membership import MembershipSnapshot

_PATRON_AT_LEAST = re.compile(r"^patron>=(\d{1,9})$")


class RuleError(ValueError):
    """A rule (or the ACCESS_RULES setting) that cannot be understood."""


class Viewer(Protocol):
    """What a rule needs to know about the person asking."""

    @property
    def is_authenticated(self) -> bool: ...

    @property
    def is_owner(self) -> bool: ...

    @property
    def membership(self) -> MembershipSnapshot | None: ...


@dataclass(frozen=True)
class Rule:
    kind: str  # public | login | patron | patron>= | tier | creator
    text: str
    amount_cents: int = 0
    tier: str = ""

    @classmethod
    def parse(cls, text: str) -> Rule:
        if not isinstance(text, str):
            raise RuleError(f"a rule must be a string, not {type(text).__name__}")
        text = text.strip()
        if text in ("public", "login", "patron", "creator"):
            return cls(kind=text, text=text)
        match = _PATRON_AT_LEAST.match(text)
        if match:
            return cls(kind="patron>=", text=text, amount_cents=int(match.group(1)))
        if text.startswith("tier:") and text[5:].strip():
            return cls(kind="tier", text=text, tier=text[5:].strip())
        raise RuleError(
            f"unknown rule {text!r}: use public, login, patron, patron>=CENTS, "
            "tier:ID_OR_TITLE or creator"
        )

    @property
    def needs_login(self) -> bool:
        return self.kind != "public"

    @property
    def needs_membership(self) -> bool:
        return self.kind in ("patron", "patron>=", "tier")

    def allows(self, viewer: Viewer) -> bool:
        if self.kind == "public":
            return True
        if not viewer.is_authenticated:
            return False
        if viewer.is_owner or self.kind == "login":
            return True
        if self.kind == "creator":
            return False
        return self._membership_allows(viewer.membership)

    def _membership_allows(self, membership: MembershipSnapshot | None) -> bool:
        if membership is None or not membership.is_active_patron:
            return False
        if self.kind == "patron":
            return True
        if self.kind == "patron>=":
            return membership.currently_entitled_amount_cents >= self.amount_cents
        return membership.is_entitled_to_tier(self.tier)

    def describe(self) -> str:
        """What a visitor needs, in words for the 403 page."""
        if self.kind == "public":
            return "nothing: this page is public"
        if self.kind == "login":
            return "a Patreon login"
        if self.kind == "patron":
            return "an active pledge to this campaign"
        if self.kind == "patron>=":
            return f"an active pledge of at least ${self.amount_cents / 100:,.2f} a month"
        if self.kind == "tier":
            return f"an active pledge at the “{self.tier}” tier"
        return "to be the creator of this campaign"


def parse_access_rules(raw: str | Mapping[str, str] | None) -> dict[str, Rule]:
    """Parse ACCESS_RULES (JSON text or a mapping) into path prefix -> Rule."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RuleError(f"not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(raw, Mapping):
        raise RuleError("must be a JSON object of URL path prefix -> rule")
    rules: dict[str, Rule] = {}
    for prefix, text in raw.items():
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise RuleError(f"path prefix {prefix!r} must start with '/'")
        try:
            rules[_normalise_prefix(prefix)] = Rule.parse(text)
        except RuleError as exc:
            raise RuleError(f"{prefix!r}: {exc}") from exc
    return rules


def _normalise_prefix(prefix: str) -> str:
    return prefix.rstrip("/") or "/"


def rule_for_path(rules: Mapping[str, Rule], path: str) -> tuple[str, Rule] | None:
    """The longest configured prefix that covers `path` (whole segments only)."""
    best: tuple[str, Rule] | None = None
    for prefix, rule in rules.items():
        covers = prefix == "/" or path == prefix or path.startswith(prefix + "/")
        if covers and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rule)
    return best
