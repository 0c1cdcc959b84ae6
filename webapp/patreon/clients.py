"""Creator and user clients: resource calls with token and scope validation.

Token validation: before a call, a token past `expires_in_epoch` (minus a
leeway) is refreshed; a call answered 401 refreshes once and retries once.
Either way the refreshed token ends up in `oauth.cached_token` and the store.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from requests.adapters import BaseAdapter

from webapp.patreon.errors import MissingToken, PatreonAPIError, PatreonUnauthorized
from webapp.patreon.http import PatreonHTTP, RetryPolicy, error_objects
from webapp.patreon.jsonapi import Document, Resource, normalize
from webapp.patreon.oauth import PATREON_BASE_URL, PatreonOAuth
from webapp.patreon.query import ROUTES, QueryBuilder
from webapp.patreon.scopes import validate_scopes
from webapp.patreon.stores import TokenStore, ensure_store
from webapp.patreon.tokens import DEFAULT_LEEWAY, StoredToken


class PatreonClient:
    """What the creator and user clients share: every v2 resource call."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token: StoredToken | None = None,
        store: TokenStore | None = None,
        redirect_uri: str | None = None,
        scopes: Iterable[str] = (),
        base_url: str = PATREON_BASE_URL,
        authorize_url: str | None = None,
        scope_validation: str = "off",
        validate_token: bool = True,
        token_leeway: float = DEFAULT_LEEWAY,
        retry: RetryPolicy | None = None,
        transports: Mapping[str, BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if scope_validation not in ("off", "warn", "raise"):
            raise ValueError("scope_validation must be off, warn or raise")
        self.oauth = PatreonOAuth(
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            scopes=scopes,
            token=token,
            store=store,
            base_url=base_url,
            authorize_url=authorize_url,
            transports=transports,
            timeout=(retry or RetryPolicy()).timeout,
        )
        self.http = PatreonHTTP(
            f"{self.oauth.base_url}/api/oauth2/v2", retry=retry, transports=transports, sleep=sleep
        )
        self.scope_validation = scope_validation
        self.validate_token = validate_token
        self.token_leeway = token_leeway

    def with_token(self, token: StoredToken | None, store: TokenStore | None = None) -> Self:
        """A copy bound to another token (and store), sharing the HTTP session."""
        bound = copy.copy(self)
        bound.oauth = copy.copy(self.oauth)
        bound.oauth.cached_token = token
        bound.oauth.store = ensure_store(store) if store is not None else None
        return bound

    @property
    def token(self) -> StoredToken | None:
        """The bound token: the cached one, else the store's (then cached)."""
        if self.oauth.cached_token is None and self.oauth.store is not None:
            self.oauth.cached_token = self.oauth.store.get()
        return self.oauth.cached_token

    # -- resources ------------------------------------------------------------

    def fetch_identity(
        self, query: QueryBuilder | None = None, *, token: StoredToken | None = None
    ) -> Document:
        return self._send("GET", query or QueryBuilder.identity, None, token)

    def fetch_campaigns(
        self, query: QueryBuilder | None = None, *, token: StoredToken | None = None
    ) -> Document:
        return self._send("GET", query or QueryBuilder.campaigns, None, token)

    def fetch_campaign(
        self,
        campaign_id: str,
        query: QueryBuilder | None = None,
        *,
        token: StoredToken | None = None,
    ) -> Document:
        return self._send("GET", query or QueryBuilder.campaign, campaign_id, token)

    def fetch_campaign_members(
        self,
        campaign_id: str,
        query: QueryBuilder | None = None,
        *,
        token: StoredToken | None = None,
    ) -> Document:
        return self._send("GET", query or QueryBuilder.campaign_members, campaign_id, token)

    def iter_campaign_members(
        self,
        campaign_id: str,
        query: QueryBuilder | None = None,
        *,
        page_size: int = 1000,
        token: StoredToken | None = None,
        on_page: Callable[[Document], None] | None = None,
    ) -> Iterator[Resource]:
        """Every member, page after page, each once.

        Stops at the last page (no cursor), on a cursor seen before, when the
        total is reached, or on a page with no member not seen before, so an API
        that hands out a fresh cursor for the same page cannot loop forever.
        `on_page` sees each page as it arrives (e.g. to report progress).
        """
        query = (query or QueryBuilder.campaign_members).page(count=page_size)
        seen_cursors: set[str] = set()
        seen_ids: set[str] = set()
        while True:
            document = self.fetch_campaign_members(campaign_id, query, token=token)
            if on_page is not None:
                on_page(document)
            new = [m for m in document.items if m["id"] not in seen_ids]
            seen_ids.update(m["id"] for m in new)
            yield from new
            cursor = document.next_cursor
            total = document.total
            if not new or not cursor or cursor in seen_cursors:
                return
            if total is not None and len(seen_ids) >= total:
                return
            seen_cursors.add(cursor)
            query = query.page(cursor=cursor)

    def fetch_member(
        self, member_id: str, query: QueryBuilder | None = None, *, token: StoredToken | None = None
    ) -> Document:
        return self._send("GET", query or QueryBuilder.member, member_id, token)

    def fetch_campaign_posts(
        self,
        campaign_id: str,
        query: QueryBuilder | None = None,
        *,
        token: StoredToken | None = None,
    ) -> Document:
        return self._send("GET", query or QueryBuilder.campaign_posts, campaign_id, token)

    def fetch_post(
        self, post_id: str, query: QueryBuilder | None = None, *, token: StoredToken | None = None
    ) -> Document:
        return self._send("GET", query or QueryBuilder.post, post_id, token)

    def fetch_webhooks(
        self, query: QueryBuilder | None = None, *, token: StoredToken | None = None
    ) -> Document:
        return self._send("GET", query or QueryBuilder.webhooks, None, token)

    def create_webhook(
        self,
        campaign_id: str,
        uri: str,
        triggers: Iterable[str],
        *,
        token: StoredToken | None = None,
    ) -> Document:
        body = {
            "data": {
                "type": "webhook",
                "attributes": {"triggers": list(triggers), "uri": uri},
                "relationships": {"campaign": {"data": {"type": "campaign", "id": campaign_id}}},
            }
        }
        return self._send("POST", QueryBuilder.webhooks, None, token, body)

    def edit_webhook(
        self,
        webhook_id: str,
        *,
        uri: str | None = None,
        triggers: Iterable[str] | None = None,
        paused: bool | None = None,
        token: StoredToken | None = None,
    ) -> Document:
        attributes: dict[str, Any] = {}
        if uri is not None:
            attributes["uri"] = uri
        if triggers is not None:
            attributes["triggers"] = list(triggers)
        if paused is not None:
            attributes["paused"] = paused
        body = {"data": {"type": "webhook", "id": webhook_id, "attributes": attributes}}
        return self._send("PATCH", QueryBuilder(ROUTES["webhook"]), webhook_id, token, body)

    def delete_webhook(self, webhook_id: str, *, token: StoredToken | None = None) -> None:
        self._send("DELETE", QueryBuilder(ROUTES["webhook"]), webhook_id, token)

    # -- the one request path -----------------------------------------------

    def _send(
        self,
        method: str,
        query: QueryBuilder,
        resource_id: str | None,
        token: StoredToken | None,
        body: Any = None,
    ) -> Document:
        path = query.route.url_path(resource_id)
        token = token or self.token
        if token is None:
            raise MissingToken(
                f"no token for {method} {query.route.name}: log in or store one first"
            )
        validate_scopes(query, token.scopes or self.oauth.scopes or None, self.scope_validation)
        if self.validate_token and token.is_expired(self.token_leeway):
            token = self.oauth.refresh_token(token)
        params = query.params()
        response = self.http.request(method, path, token, params=params, json=body)
        if response.status_code == 401 and self.validate_token and token.refresh_token:
            token = self.oauth.refresh_token(token)
            response = self.http.request(method, path, token, params=params, json=body)
        if response.status_code == 401:
            raise PatreonUnauthorized(401, error_objects(response))
        if response.status_code == 204 or not response.content:
            return Document(data=None, raw={})
        try:
            return normalize(response.json())
        except ValueError as exc:
            raise PatreonAPIError(
                response.status_code, message=f"not a JSON:API answer ({exc})"
            ) from None


class PatreonCreatorClient(PatreonClient):
    """The creator's own client: the portal token (or the store's refreshed one)."""


class PatreonUserClient(PatreonClient):
    """Logs users in with OAuth and calls the API as them."""

    def fetch_token(self, url_or_request: Any) -> StoredToken | None:
        """Exchange the `code` of an OAuth callback (a URL or a request object)."""
        code = code_from(url_or_request)
        if not code:
            return None
        return self.oauth.get_oauth_token_from_code(code)

    def create_instance(self, request: Any) -> PatreonUserClient:
        """A client bound to the token of this callback request (`instance.token`)."""
        token = self.fetch_token(request)
        if token is None:
            raise MissingToken("the callback carries no code")
        return self.with_token(token)


def code_from(url_or_request: Any) -> str | None:
    url = url_or_request if isinstance(url_or_request, str) else getattr(url_or_request, "url", "")
    values = parse_qs(urlsplit(str(url)).query).get("code")
    return values[0] if values else None
