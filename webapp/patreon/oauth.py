"""The OAuth helper: authorize URLs, code exchange and refresh, through Authlib.

Patreon expects the client credentials in the form body (`client_secret_post`).
Its refresh tokens are single use, so `refresh_token` runs under the store's
lock and re-reads the store first: whoever waited adopts the token the winner
stored instead of spending the same refresh token again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from requests.adapters import BaseAdapter

from webapp.patreon.errors import InvalidGrant, PatreonUnavailable, TokenRefreshError
from webapp.patreon.stores import PROCESS_LOCK, TokenStore, ensure_store
from webapp.patreon.tokens import StoredToken

log = logging.getLogger(__name__)

PATREON_BASE_URL = "https://www.patreon.com"


class PatreonOAuth:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | None = None,
        scopes: Iterable[str] = (),
        state: str | None = None,
        token: StoredToken | None = None,
        store: TokenStore | None = None,
        base_url: str = PATREON_BASE_URL,
        authorize_url: str | None = None,
        transports: Mapping[str, BaseAdapter] | None = None,
        timeout: float = 10.0,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = tuple(str(s) for s in scopes)
        self.state = state
        self.cached_token = token
        self.store = ensure_store(store) if store is not None else None
        self.base_url = base_url.rstrip("/")
        self.authorize_url = authorize_url or f"{self.base_url}/oauth2/authorize"
        self.token_url = f"{self.base_url}/api/oauth2/token"
        self.transports = dict(transports or {})
        self.timeout = timeout

    # -- authorize ----------------------------------------------------------

    @property
    def oauth_uri(self) -> str:
        """The authorize URL from the configured redirect URI, scopes and state."""
        return self.create_oauth_uri()

    def create_oauth_uri(
        self,
        redirect_uri: str | None = None,
        scopes: Iterable[str] | None = None,
        state: str | None = None,
    ) -> str:
        redirect_uri = redirect_uri or self.redirect_uri
        if not redirect_uri:
            raise ValueError("a redirect URI is needed: configure one or pass redirect_uri=")
        chosen = self.scopes if scopes is None else tuple(str(s) for s in scopes)
        with self._session(redirect_uri=redirect_uri) as session:
            # Patreon wants scopes joined by spaces; Authlib does that for a list.
            url, _ = session.create_authorization_url(
                self.authorize_url, state=state or self.state, scope=" ".join(chosen) or None
            )
        return url

    # -- token endpoint -----------------------------------------------------

    def get_oauth_token_from_code(
        self, code: str, *, redirect_uri: str | None = None, code_verifier: str | None = None
    ) -> StoredToken:
        """Exchange a callback's code. The token is returned, not cached: one helper
        serves every visitor, so caching here would hand one user's token to the next."""
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        with self._session(redirect_uri=redirect_uri or self.redirect_uri) as session:
            answer = self._token_call(
                lambda: session.fetch_token(
                    self.token_url, code=code, timeout=self.timeout, **extra
                )
            )
        return StoredToken.from_response(answer)

    def refresh_token(self, token: StoredToken) -> StoredToken:
        """Refresh `token` once across every thread and process sharing the store.

        The new token is put in the store (and cached) before the old one is
        forgotten. If the store already holds a different, unexpired token,
        someone else refreshed: it is adopted and nothing is sent upstream. If
        the store's token has expired too, that newest token is the one refreshed.
        """
        ours = self._is_ours(token)
        with self._refresh_lock():
            stored = self.store.get() if self.store else None
            if stored is not None and stored.access_token != token.access_token:
                if not stored.is_expired(leeway=0):
                    return self._remember(stored, ours)  # someone else refreshed
                token = stored  # our copy is older than the store's: refresh the newest
            try:
                fresh = self._exchange_refresh_token(token)
            except InvalidGrant:
                return self._after_invalid_grant(token, ours)
            if self.store is not None:
                self.store.put(fresh)
            log.info("refreshed a Patreon token (expires in %ss)", fresh.expires_in)
            return self._remember(fresh, ours)

    def _is_ours(self, token: StoredToken) -> bool:
        """Whether `token` is this helper's own (its cached token, or its store's).

        Only then is the refreshed token cached here: a helper shared by many
        visitors must never start calling the API as the last one refreshed.
        """
        if self.cached_token is not None:
            return self.cached_token.access_token == token.access_token
        return self.store is not None

    def _remember(self, token: StoredToken, ours: bool) -> StoredToken:
        if ours:
            self.cached_token = token
        return token

    def _after_invalid_grant(self, token: StoredToken, ours: bool) -> StoredToken:
        # Another process may have spent the refresh token a moment ago.
        stored = self.store.get() if self.store else None
        if stored is not None and stored.access_token != token.access_token:
            if not stored.is_expired(leeway=0):
                return self._remember(stored, ours)
        elif stored is not None:
            self.store.delete()  # the dead token is ours: nobody can use it again
        if ours:
            self.cached_token = None
        raise InvalidGrant("invalid_grant", "the refresh token is no longer valid; authorize again")

    def _exchange_refresh_token(self, token: StoredToken) -> StoredToken:
        if not token.refresh_token:
            raise InvalidGrant("invalid_grant", "the token has no refresh token")
        with self._session() as session:
            answer = self._token_call(
                lambda: session.refresh_token(
                    self.token_url, refresh_token=token.refresh_token, timeout=self.timeout
                )
            )
        return StoredToken.from_response(answer)

    def _refresh_lock(self) -> AbstractContextManager[Any]:
        lock = getattr(self.store, "lock", None)
        return lock() if callable(lock) else PROCESS_LOCK

    @staticmethod
    def _token_call(call: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        try:
            answer = call()
        except OAuthError as exc:
            error_class = InvalidGrant if exc.error == "invalid_grant" else TokenRefreshError
            raise error_class(exc.error or "oauth_error", exc.description) from None
        except requests.RequestException as exc:
            raise PatreonUnavailable(f"token endpoint failed: {type(exc).__name__}") from None
        except ValueError as exc:
            raise TokenRefreshError("invalid_response", str(exc)) from None
        if not answer.get("access_token"):
            raise TokenRefreshError("invalid_response", "the answer holds no access token")
        return answer

    @contextlib.contextmanager
    def _session(self, redirect_uri: str | None = None) -> Iterator[OAuth2Session]:
        session = OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method="client_secret_post",
        )
        for prefix, adapter in self.transports.items():
            session.mount(prefix, adapter)
        for hook in ("access_token_response", "refresh_token_response"):
            session.register_compliance_hook(hook, _raise_when_unavailable)
        try:
            yield session
        finally:
            session.close()


def _raise_when_unavailable(response: requests.Response) -> requests.Response:
    # 429 and 5xx say nothing about the grant: never treat them as invalid_grant.
    if response.status_code == 429 or response.status_code >= 500:
        raise PatreonUnavailable(f"token endpoint answered {response.status_code}")
    return response
