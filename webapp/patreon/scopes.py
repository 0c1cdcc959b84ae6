"""OAuth scopes, and the check that a request only asks for what was granted."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import StrEnum

from webapp.patreon.errors import ScopeError
from webapp.patreon.query import QueryBuilder

log = logging.getLogger(__name__)


class PatreonOauthScope(StrEnum):
    IDENTITY = "identity"
    IDENTITY_EMAIL = "identity[email]"
    IDENTITY_MEMBERSHIPS = "identity.memberships"
    CAMPAIGNS = "campaigns"
    CAMPAIGNS_MEMBERS = "campaigns.members"
    CAMPAIGNS_MEMBERS_EMAIL = "campaigns.members[email]"
    CAMPAIGNS_MEMBERS_ADDRESS = "campaigns.members.address"
    CAMPAIGNS_POSTS = "campaigns.posts"
    CAMPAIGNS_WEBHOOK = "w:campaigns.webhook"


S = PatreonOauthScope

# The scope each route's main resource needs.
ROUTE_SCOPES: dict[str, S] = {
    "identity": S.IDENTITY,
    "campaigns": S.CAMPAIGNS,
    "campaign": S.CAMPAIGNS,
    "campaign_members": S.CAMPAIGNS_MEMBERS,
    "member": S.CAMPAIGNS_MEMBERS,
    "campaign_posts": S.CAMPAIGNS_POSTS,
    "post": S.CAMPAIGNS_POSTS,
    "webhooks": S.CAMPAIGNS_WEBHOOK,
    "webhook": S.CAMPAIGNS_WEBHOOK,
}

# Protected relationships: (route, include) -> scope. Patreon answers 403 without it.
INCLUDE_SCOPES: dict[tuple[str, str], S] = {
    ("identity", "campaign"): S.CAMPAIGNS,
    ("campaign_members", "address"): S.CAMPAIGNS_MEMBERS_ADDRESS,
    ("member", "address"): S.CAMPAIGNS_MEMBERS_ADDRESS,
}

# Protected attributes: (route, type, attribute) -> scope.
FIELD_SCOPES: dict[tuple[str, str, str], S] = {
    ("identity", "user", "email"): S.IDENTITY_EMAIL,
    ("campaign_members", "member", "email"): S.CAMPAIGNS_MEMBERS_EMAIL,
    ("member", "member", "email"): S.CAMPAIGNS_MEMBERS_EMAIL,
}
ADDRESS_TYPE = "address"


def required_scopes(query: QueryBuilder) -> set[str]:
    """Every scope Patreon will insist on for this query."""
    route = query.route.name
    needed = {ROUTE_SCOPES[route].value}
    for include in query.includes:
        scope = INCLUDE_SCOPES.get((route, include))
        if scope:
            needed.add(scope.value)
    for resource_type, attributes in query.attributes.items():
        if resource_type == ADDRESS_TYPE:
            needed.add(S.CAMPAIGNS_MEMBERS_ADDRESS.value)
        for attribute in attributes:
            scope = FIELD_SCOPES.get((route, resource_type, attribute))
            if scope:
                needed.add(scope.value)
    return needed


def validate_scopes(query: QueryBuilder, granted: Iterable[str] | None, mode: str) -> None:
    """Warn or raise, before the request, when the query needs ungranted scopes.

    `granted` None means the scopes are unknown (e.g. a portal token), so there
    is nothing to compare against and the check is skipped.
    """
    if mode == "off" or granted is None:
        return
    missing = sorted(required_scopes(query) - set(granted))
    if not missing:
        return
    if mode == "raise":
        raise ScopeError(missing, query.route.name)
    log.warning("Patreon %s request needs scope(s) %s", query.route.name, ", ".join(missing))
