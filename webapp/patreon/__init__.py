"""A Python Patreon API v2 client after the concepts of patreon-api.ts.

It knows nothing of Flask: the site, the CLI and the tests all use it the same way.
"""

from webapp.patreon.clients import PatreonClient, PatreonCreatorClient, PatreonUserClient
from webapp.patreon.errors import (
    InvalidGrant,
    MissingToken,
    PatreonAPIError,
    PatreonError,
    PatreonForbidden,
    PatreonNotFound,
    PatreonRateLimited,
    PatreonServerError,
    PatreonUnauthorized,
    PatreonUnavailable,
    ScopeError,
    TokenRefreshError,
)
from webapp.patreon.http import RetryPolicy
from webapp.patreon.jsonapi import Document, normalize
from webapp.patreon.membership import MembershipSnapshot
from webapp.patreon.oauth import PatreonOAuth
from webapp.patreon.query import QueryBuilder
from webapp.patreon.scopes import PatreonOauthScope
from webapp.patreon.stores import (
    FetchStore,
    KVStore,
    MemoryStore,
    StoreError,
    TokenStore,
    ensure_store,
    fernet_cipher,
)
from webapp.patreon.tokens import StoredToken
from webapp.patreon.webhooks import parse_member_event, sign, verify_signature

__all__ = [
    "Document",
    "FetchStore",
    "InvalidGrant",
    "KVStore",
    "MembershipSnapshot",
    "MemoryStore",
    "MissingToken",
    "PatreonAPIError",
    "PatreonClient",
    "PatreonCreatorClient",
    "PatreonError",
    "PatreonForbidden",
    "PatreonNotFound",
    "PatreonOAuth",
    "PatreonOauthScope",
    "PatreonRateLimited",
    "PatreonServerError",
    "PatreonUnauthorized",
    "PatreonUnavailable",
    "PatreonUserClient",
    "QueryBuilder",
    "RetryPolicy",
    "ScopeError",
    "StoreError",
    "StoredToken",
    "TokenRefreshError",
    "TokenStore",
    "ensure_store",
    "fernet_cipher",
    "normalize",
    "parse_member_event",
    "sign",
    "verify_signature",
]
