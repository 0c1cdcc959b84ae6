"""`/api/oauth2/v2/...`: Patreon's resource routes, as strict as Patreon.

Every call goes through `begin`: the bearer token (401), the per-token rate
limit (429), the `include` and `fields[...]` parameters (400), and the scopes
the route and those parameters need (403). Only then does a view look at data,
and a token reads only its own user's campaign (403 for another's).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from webapp.sandbox.core import count_as, current, world
from webapp.sandbox.jsonapi import ALL_FIELDS, ApiError, Node, Query, bad_parameter, document
from webapp.sandbox.personas import CAMPAIGN_ID, Campaign, Membership
from webapp.sandbox.state import Grant
from webapp.sandbox.webhooks import TRIGGERS
from webapp.sandbox.world import World

DEFAULT_PAGE_COUNT = 20
MAX_PAGE_COUNT = 1000
MAX_PAGE_COUNT_WITH_HISTORY = 500

ADDRESS_SCOPE = "campaigns.members.address"
MEMBER_EMAIL_SCOPE = "campaigns.members[email]"
# The token owner's own email, wherever their user appears (identity, campaign creator).
OWN_EMAIL = {("user", "email"): "identity[email]"}
MEMBER_EMAILS = {("member", "email"): MEMBER_EMAIL_SCOPE, ("user", "email"): MEMBER_EMAIL_SCOPE}


@dataclass(frozen=True)
class ApiRoute:
    name: str  # as in the client's QueryBuilder routes, and in the stats
    scope: str  # what the main resource needs
    includes: frozenset[str] = frozenset()
    include_scopes: Mapping[str, str] = field(default_factory=dict)
    field_scopes: Mapping[tuple[str, str], str] = field(default_factory=dict)


_CAMPAIGN_INCLUDES = frozenset({"tiers", "creator", "benefits", "goals"})
_MEMBER_INCLUDES = frozenset(
    {"address", "campaign", "currently_entitled_tiers", "user", "pledge_history"}
)
_MEMBER_ROUTE = {
    "scope": "campaigns.members",
    "includes": _MEMBER_INCLUDES,
    "include_scopes": {"address": ADDRESS_SCOPE},
    "field_scopes": MEMBER_EMAILS,
}
_POST_ROUTE = {
    "scope": "campaigns.posts",
    "includes": frozenset({"campaign", "user"}),
    "field_scopes": OWN_EMAIL,
}
_WEBHOOK_ROUTE = {"scope": "w:campaigns.webhook", "includes": frozenset({"campaign", "client"})}

ROUTES: dict[str, ApiRoute] = {
    route.name: route
    for route in (
        ApiRoute(
            "identity",
            "identity",
            frozenset(
                {
                    "memberships",
                    "campaign",
                    "memberships.campaign",
                    "memberships.currently_entitled_tiers",
                }
            ),
            include_scopes={"campaign": "campaigns"},
            field_scopes=OWN_EMAIL,
        ),
        ApiRoute("campaigns", "campaigns", _CAMPAIGN_INCLUDES, field_scopes=OWN_EMAIL),
        ApiRoute("campaign", "campaigns", _CAMPAIGN_INCLUDES, field_scopes=OWN_EMAIL),
        ApiRoute("campaign_members", **_MEMBER_ROUTE),
        ApiRoute("member", **_MEMBER_ROUTE),
        ApiRoute("campaign_posts", **_POST_ROUTE),
        ApiRoute("post", **_POST_ROUTE),
        ApiRoute("webhooks", **_WEBHOOK_ROUTE),
        ApiRoute("webhooks:create", **_WEBHOOK_ROUTE),
        ApiRoute("webhook:edit", **_WEBHOOK_ROUTE),
        ApiRoute("webhook:delete", **_WEBHOOK_ROUTE),
    )
}

V2 = "/api/oauth2/v2"


def register(bp: Blueprint) -> None:
    for path, view, methods in _RULES:
        bp.add_url_rule(V2 + path, view_func=view, methods=methods)
    bp.add_url_rule(
        V2 + "/<path:unknown>",
        view_func=no_such_route,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    )
    bp.register_error_handler(ApiError, api_error_response)


def api_error_response(error: ApiError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


# -- the common start of every call --------------------------------------------------


@dataclass(frozen=True)
class Call:
    grant: Grant
    query: Query
    world: World

    def owned_campaign(self, campaign_id: str) -> Campaign:
        found = self.world.campaign(campaign_id)
        if found is None:
            raise ApiError(404, "NotFound", f"There is no campaign {campaign_id}.")
        if found.creator_id != self.grant.user_id:
            raise ApiError(403, "Forbidden", "A token may only read its own user's campaign.")
        return found

    def answer(self, primary: Node | list[Node] | None, **top_level: Any) -> Response:
        return jsonify(document(primary, self.query.includes, self.query.fields, **top_level))


def begin(route_name: str) -> Call:
    route = ROUTES[route_name]
    count_as(route.name)
    grant = _authenticate()
    count_as(route.name, grant.user_id)
    _rate_limit(grant)
    query = Query.parse(request.args, route.includes)
    missing = sorted(_required_scopes(route, query) - set(grant.scopes))
    if missing:
        raise ApiError(
            403,
            "Forbidden",
            f"This request needs the scope {', '.join(missing)}, which the token was not granted.",
        )
    return Call(grant, query, world())


def _authenticate() -> Grant:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    grant = current().state.access_grant(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise ApiError(
            401,
            "Unauthorized",
            "The access token is missing, unknown or expired. Refresh it or log in again.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return grant


def _rate_limit(grant: Grant) -> None:
    limit = current().settings.requests_per_minute
    wait = current().state.hit_rate_limit(grant.grant_id, limit)
    if wait is not None:
        seconds = int(wait)
        raise ApiError(
            429,
            "RequestThrottled",
            f"More than {limit} requests a minute with this token. Retry in {seconds}s.",
            title="You have made too many attempts. Please try again later.",
            headers={"Retry-After": str(seconds)},
            retry_after_seconds=seconds,
        )


def _required_scopes(route: ApiRoute, query: Query) -> set[str]:
    needed = {route.scope}
    needed.update(route.include_scopes[i] for i in query.includes if i in route.include_scopes)
    for resource_type, names in query.fields.items():
        if resource_type == "address":
            needed.add(ADDRESS_SCOPE)
        needed.update(
            route.field_scopes[(resource_type, n)]
            for n in names
            if (resource_type, n) in route.field_scopes
        )
    return needed


# -- identity and campaigns ----------------------------------------------------------


def identity() -> Response:
    call = begin("identity")
    user = call.world.user(call.grant.user_id)
    if user is None:
        raise ApiError(404, "NotFound", "The token's user no longer exists.")
    memberships = call.world.memberships_of(user.id)
    if "identity.memberships" not in call.grant.scopes:
        # Without it Patreon shows only the membership to the client creator's campaign.
        memberships = [m for m in memberships if m.campaign_id == CAMPAIGN_ID]
    return call.answer(call.world.user_node(user, memberships))


def campaigns() -> Response:
    call = begin("campaigns")
    own = call.world.campaign_of(call.grant.user_id)
    nodes = [call.world.campaign_node(own)] if own else []
    return call.answer(nodes, meta={"pagination": {"cursors": {"next": None}, "total": len(nodes)}})


def campaign(campaign_id: str) -> Response:
    call = begin("campaign")
    return call.answer(call.world.campaign_node(call.owned_campaign(campaign_id)))


# -- members -------------------------------------------------------------------------


def campaign_members(campaign_id: str) -> Response:
    call = begin("campaign_members")
    owned = call.owned_campaign(campaign_id)
    history = "pledge_history" in call.query.includes
    count, offset = _page(owned.id, MAX_PAGE_COUNT_WITH_HISTORY if history else MAX_PAGE_COUNT)
    total = call.world.member_count(owned.id)
    page = call.world.members_page(owned.id, offset, count)
    return call.answer(
        [call.world.member_node(m) for m in page], **_pagination(owned.id, offset + count, total)
    )


def member(member_id: str) -> Response:
    call = begin("member")
    found: Membership | None = call.world.membership(member_id)
    if found is None:
        raise ApiError(404, "NotFound", f"There is no member {member_id}.")
    call.owned_campaign(found.campaign_id)
    return call.answer(call.world.member_node(found))


# -- posts ---------------------------------------------------------------------------


def campaign_posts(campaign_id: str) -> Response:
    call = begin("campaign_posts")
    owned = call.owned_campaign(campaign_id)
    posts = sorted(call.world.posts_of(owned.id), key=lambda p: p.published_at)
    sort = request.args.get("sort")
    if sort not in (None, "published_at", "-published_at"):
        raise bad_parameter("Posts sort by published_at or -published_at.", "sort")
    if sort == "-published_at":
        posts.reverse()
    count, offset = _page(owned.id, MAX_PAGE_COUNT)
    nodes = [call.world.post_node(p) for p in posts[offset : offset + count]]
    return call.answer(nodes, **_pagination(owned.id, offset + count, len(posts)))


def post(post_id: str) -> Response:
    call = begin("post")
    found = call.world.post(post_id)
    if found is None:
        raise ApiError(404, "NotFound", f"There is no post {post_id}.")
    call.owned_campaign(found.campaign_id)
    return call.answer(call.world.post_node(found))


# -- webhooks ------------------------------------------------------------------------


def webhooks() -> Response:
    call = begin("webhooks")
    mine = [w for w in current().state.webhooks() if _is_mine(call, w)]
    nodes = [call.world.webhook_node(w, _client_node()) for w in mine]
    return call.answer(nodes, meta={"pagination": {"cursors": {"next": None}, "total": len(nodes)}})


def create_webhook() -> Response:
    call = begin("webhooks:create")
    data = _webhook_data()
    attributes = _webhook_attributes(data, required=("uri", "triggers"))
    campaign_id = _related_campaign_id(data)
    call.owned_campaign(campaign_id)
    record = current().state.create_webhook(
        {
            "client_id": call.grant.client_id,
            "campaign_id": campaign_id,
            "uri": attributes["uri"],
            "triggers": attributes["triggers"],
            "paused": bool(attributes.get("paused", False)),
            "secret": secrets.token_urlsafe(32),
            "num_consecutive_times_failed": 0,
            "last_attempted_at": None,
        }
    )
    response = _webhook_answer(call, record)
    response.status_code = 201
    return response


def edit_webhook(webhook_id: str) -> Response:
    call = begin("webhook:edit")
    record = _my_webhook(call, webhook_id)
    changes = _webhook_attributes(_webhook_data(), required=())
    if changes.get("paused") is False:
        # Unpausing is how a client says "try again": the failure count starts over.
        changes["num_consecutive_times_failed"] = 0
    record.update(changes)
    current().state.save_webhook(record)
    return _webhook_answer(call, record)


def delete_webhook(webhook_id: str) -> Response:
    call = begin("webhook:delete")
    _my_webhook(call, webhook_id)
    current().state.delete_webhook(webhook_id)
    return Response(status=204)


def _webhook_answer(call: Call, record: dict[str, Any]) -> Response:
    # Writes answer with every attribute: the client needs the secret from here.
    fields = {**call.query.fields, "webhook": ALL_FIELDS["webhook"]}
    node = call.world.webhook_node(record, _client_node())
    return jsonify(document(node, call.query.includes, fields))


def _is_mine(call: Call, record: dict[str, Any]) -> bool:
    found = call.world.campaign(record["campaign_id"])
    return (
        record["client_id"] == call.grant.client_id
        and found is not None
        and found.creator_id == call.grant.user_id
    )


def _my_webhook(call: Call, webhook_id: str) -> dict[str, Any]:
    record = current().state.webhook(webhook_id)
    if record is None or not _is_mine(call, record):
        raise ApiError(404, "NotFound", f"There is no webhook {webhook_id} of this client.")
    return record


def _webhook_data() -> dict[str, Any]:
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "webhook":
        raise bad_parameter('The body must be {"data": {"type": "webhook", ...}}.', "data")
    return data


def _webhook_attributes(data: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_parameter("data.attributes must be an object.", "data.attributes")
    unknown = sorted(set(attributes) - {"uri", "triggers", "paused"})
    missing = [name for name in required if name not in attributes]
    if unknown or missing:
        raise bad_parameter(
            "A webhook takes uri, triggers and paused"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else ""),
            "data.attributes",
        )
    if "uri" in attributes and not _is_http_url(attributes["uri"]):
        raise bad_parameter("uri must be an absolute http(s) URL.", "data.attributes.uri")
    triggers = attributes.get("triggers")
    if "triggers" in attributes and not _valid_triggers(triggers):
        raise bad_parameter(
            f"triggers must be a non-empty list of: {', '.join(TRIGGERS)}",
            "data.attributes.triggers",
        )
    if not isinstance(attributes.get("paused", False), bool):
        raise bad_parameter("paused must be true or false.", "data.attributes.paused")
    return dict(attributes)


def _valid_triggers(triggers: Any) -> bool:
    return (
        isinstance(triggers, list)
        and bool(triggers)
        and all(isinstance(t, str) and t in TRIGGERS for t in triggers)
    )


def _related_campaign_id(data: dict[str, Any]) -> str:
    try:
        linkage = data["relationships"]["campaign"]["data"]
        campaign_id = linkage["id"]
    except (KeyError, TypeError):
        raise bad_parameter(
            "A webhook needs relationships.campaign.data.id.", "data.relationships"
        ) from None
    return str(campaign_id)


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _client_node() -> Node:
    settings = current().settings
    return Node(
        "client",
        settings.client_id,
        {
            "author_name": "Casey Creator",
            "category": "Membership",
            "default_scopes": "identity identity.memberships",
            "description": f"{settings.app_name}, registered in the sandbox's developer portal.",
            "domain": None,
            "icon_url": None,
            "name": settings.app_name,
            "privacy_policy_url": None,
            "redirect_uris": " ".join(settings.redirect_uris),
            "tos_url": None,
            "version": 2,
        },
    )


# -- pagination ----------------------------------------------------------------------


def _page(scope: str, max_count: int) -> tuple[int, int]:
    """`(count, offset)` from `page[count]` and the opaque `page[cursor]`."""
    raw_count = request.args.get("page[count]")
    if raw_count is None:
        count = DEFAULT_PAGE_COUNT
    elif not (raw_count.isascii() and raw_count.isdigit()) or not 1 <= int(raw_count) <= max_count:
        raise bad_parameter(f"page[count] must be between 1 and {max_count}.", "page[count]")
    else:
        count = int(raw_count)
    cursor = request.args.get("page[cursor]")
    return count, _offset_from_cursor(cursor, scope) if cursor else 0


def _cursor(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{offset}".encode()).decode().rstrip("=")


def _offset_from_cursor(cursor: str, scope: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    cursor_scope, _, offset = decoded.partition(":")
    if cursor_scope != scope or not offset.isdigit():
        raise bad_parameter("page[cursor] is not a cursor this route handed out.", "page[cursor]")
    return int(offset)


def _pagination(scope: str, next_offset: int, total: int) -> dict[str, Any]:
    next_cursor = _cursor(scope, next_offset) if next_offset < total else None
    answer: dict[str, Any] = {
        "meta": {"pagination": {"cursors": {"next": next_cursor}, "total": total}}
    }
    if next_cursor:
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "page[cursor]"]
        query = urlencode([*params, ("page[cursor]", next_cursor)])
        answer["links"] = {"next": f"{request.base_url}?{query}"}
    return answer


_RULES = (
    ("/identity", identity, ["GET"]),
    ("/campaigns", campaigns, ["GET"]),
    ("/campaigns/<campaign_id>", campaign, ["GET"]),
    ("/campaigns/<campaign_id>/members", campaign_members, ["GET"]),
    ("/members/<member_id>", member, ["GET"]),
    ("/campaigns/<campaign_id>/posts", campaign_posts, ["GET"]),
    ("/posts/<post_id>", post, ["GET"]),
    ("/webhooks", webhooks, ["GET"]),
    ("/webhooks", create_webhook, ["POST"]),
    ("/webhooks/<webhook_id>", edit_webhook, ["PATCH"]),
    ("/webhooks/<webhook_id>", delete_webhook, ["DELETE"]),
)
# The same rules alone, to tell "no such route" (404) from "wrong method" (405).
_KNOWN = Map(
    [Rule(path, endpoint=view.__name__, methods=methods) for path, view, methods in _RULES]
)


def no_such_route(unknown: str) -> Response:
    count_as("unknown")
    try:
        _KNOWN.bind("sandbox").match("/" + unknown, method=request.method)
    except MethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"{V2}/{unknown} takes {allowed}, not {request.method}.",
            headers={"Allow": allowed},
        ) from None
    except NotFound:
        pass
    raise ApiError(404, "NotFound", f"There is no API route {V2}/{unknown}.")
