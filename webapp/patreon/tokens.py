"""The stored form of an OAuth token."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LEEWAY = 60


@dataclass(frozen=True)
class StoredToken:
    # Tokens are left out of repr so that logging a token object cannot leak it.
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None
    expires_in_epoch: float | None = None
    scope: str | None = None
    token_type: str = "Bearer"

    @classmethod
    def from_response(cls, response: Mapping[str, Any], now: float | None = None) -> StoredToken:
        """Build from a token endpoint answer, computing when it expires."""
        now = time.time() if now is None else now
        expires_in = response.get("expires_in")
        expires_in = int(expires_in) if expires_in not in (None, "") else None
        return cls(
            access_token=str(response["access_token"]),
            refresh_token=response.get("refresh_token") or None,
            expires_in=expires_in,
            expires_in_epoch=now + expires_in if expires_in is not None else None,
            scope=_scope_text(response.get("scope")),
            token_type=str(response.get("token_type") or "Bearer"),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredToken:
        epoch = data.get("expires_in_epoch")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token") or None,
            expires_in=data.get("expires_in"),
            expires_in_epoch=float(epoch) if epoch is not None else None,
            scope=_scope_text(data.get("scope")),
            token_type=str(data.get("token_type") or "Bearer"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "expires_in_epoch": self.expires_in_epoch,
            "scope": self.scope,
            "token_type": self.token_type,
        }

    @property
    def scopes(self) -> frozenset[str] | None:
        """Granted scopes, or None when the token does not say (e.g. a portal token)."""
        return frozenset(self.scope.split()) if self.scope else None

    def is_expired(self, leeway: float = DEFAULT_LEEWAY, now: float | None = None) -> bool:
        if self.expires_in_epoch is None:
            return False
        return (time.time() if now is None else now) >= self.expires_in_epoch - leeway

    def seconds_left(self, now: float | None = None) -> float | None:
        if self.expires_in_epoch is None:
            return None
        return self.expires_in_epoch - (time.time() if now is None else now)


def _scope_text(scope: Any) -> str | None:
    if not scope:
        return None
    if isinstance(scope, list | tuple | set | frozenset):
        return " ".join(str(s) for s in scope)
    return str(scope)
