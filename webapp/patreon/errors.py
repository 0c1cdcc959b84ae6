"""Typed errors. Each API error carries Patreon's own error objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class PatreonError(Exception):
    """Base of every error this client raises."""


class MissingToken(PatreonError):
    """A call needs a token and none was given, cached or stored."""


class ScopeError(PatreonError):
    """The request needs scopes the token was not granted (SCOPE_VALIDATION=raise)."""

    def __init__(self, missing: Sequence[str], route: str):
        self.missing = tuple(missing)
        super().__init__(f"{route} needs scope(s) {', '.join(self.missing)}")


class TokenRefreshError(PatreonError):
    """The token endpoint refused a refresh (or a code exchange)."""

    def __init__(self, error: str, description: str | None = None):
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)


class InvalidGrant(TokenRefreshError):
    """The code or refresh token is dead: the user (or creator) must authorize again."""


class PatreonUnavailable(PatreonError):
    """Patreon could not be reached, timed out, or kept failing after retries."""


class PatreonAPIError(PatreonError):
    """Patreon answered with an error status."""

    def __init__(self, status: int, errors: Sequence[Mapping[str, Any]] = (), message: str = ""):
        self.status = status
        self.errors = [dict(e) for e in errors]
        detail = message or "; ".join(
            str(e.get("detail") or e.get("title") or e.get("code_name") or "") for e in self.errors
        )
        super().__init__(f"Patreon answered {status}" + (f": {detail}" if detail else ""))


class PatreonUnauthorized(PatreonAPIError):
    """401: the token is unknown or expired (after one refresh and retry)."""


class PatreonForbidden(PatreonAPIError):
    """403: the token lacks a scope, or the resource is not the token owner's."""


class PatreonNotFound(PatreonAPIError):
    """404."""


class PatreonRateLimited(PatreonAPIError):
    """429 that persisted through the allowed retries."""

    def __init__(
        self, status: int, errors: Sequence[Mapping[str, Any]] = (), retry_after: float = 0
    ):
        self.retry_after = retry_after
        super().__init__(status, errors)


class PatreonServerError(PatreonAPIError):
    """5xx that persisted through the allowed retries."""


def api_error_for(
    status: int, errors: Sequence[Mapping[str, Any]], retry_after: float = 0
) -> PatreonAPIError:
    if status == 401:
        return PatreonUnauthorized(status, errors)
    if status == 403:
        return PatreonForbidden(status, errors)
    if status == 404:
        return PatreonNotFound(status, errors)
    if status == 429:
        return PatreonRateLimited(status, errors, retry_after=retry_after)
    if status >= 500:
        return PatreonServerError(status, errors)
    return PatreonAPIError(status, errors)


# Failures that say nothing about the user, only that Patreon could not answer now.
TRANSIENT_ERRORS = (PatreonUnavailable, PatreonServerError, PatreonRateLimited)
