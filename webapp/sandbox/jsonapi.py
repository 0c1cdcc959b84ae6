"""JSON:API as Patreon v2 speaks it: sparse fields, includes, errors.

Patreon returns no attribute unless it is named in `fields[type]` and no
relationship unless it is named in `include`. A resource reached through an
include appears once in `included`, however many paths lead to it, carrying
the relationships of every include path that passes through it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The attributes Patreon documents per resource type; `fields[type]` may name only these.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "user": _names(
        "about can_see_nsfw created email first_name full_name hide_pledges image_url "
        "is_creator is_email_verified last_name like_count social_connections thumb_url url "
        "vanity"
    ),
    "campaign": _names(
        "created_at creation_name discord_server_id google_analytics_id has_rss "
        "has_sent_rss_notify image_small_url image_url is_charged_immediately is_monthly "
        "is_nsfw main_video_embed main_video_url one_liner patron_count pay_per_name "
        "pledge_url published_at rss_artwork_url rss_feed_title show_earnings summary "
        "thanks_embed thanks_msg thanks_video_url url vanity"
    ),
    "member": _names(
        "campaign_lifetime_support_cents currently_entitled_amount_cents email full_name "
        "is_follower is_free_trial is_gifted last_charge_date last_charge_status "
        "lifetime_support_cents next_charge_date note patron_status pledge_cadence "
        "pledge_relationship_start will_pay_amount_cents"
    ),
    "tier": _names(
        "amount_cents created_at description discord_role_ids edited_at image_url "
        "patron_count post_count published published_at remaining requires_shipping title "
        "unpublished_at url user_limit"
    ),
    "address": _names(
        "addressee city country created_at line_1 line_2 phone_number postal_code state"
    ),
    "pledge-event": _names(
        "amount_cents currency_code date payment_status pledge_payment_status tier_id "
        "tier_title type"
    ),
    "post": _names(
        "app_id app_status content embed_data embed_url is_paid is_public published_at tiers "
        "title url"
    ),
    "webhook": _names("last_attempted_at num_consecutive_times_failed paused secret triggers uri"),
    "client": _names(
        "author_name category default_scopes description domain icon_url name "
        "privacy_policy_url redirect_uris tos_url version"
    ),
    "benefit": _names(
        "app_external_id app_meta benefit_type created_at deliverables_due_today_count "
        "delivered_deliverables_count description is_deleted is_ended is_published "
        "next_deliverable_due_date not_delivered_deliverables_count rule_type tiers_count "
        "title"
    ),
    "goal": _names("amount_cents completed_percentage created_at description reached_at title"),
}

_FIELDS_PARAM = re.compile(r"^fields\[([a-z_-]+)\]$")

Related = Callable[[], "Node | list[Node] | None"]


class ApiError(Exception):
    """An answer in Patreon's error shape: `{"errors": [{code, code_name, ...}]}`."""

    def __init__(
        self,
        status: int,
        code_name: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status = status
        self.code_name = code_name
        self.detail = detail
        self.title = title or code_name
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error = {
            "code": _ERROR_CODES.get(self.code_name, 0),
            "code_name": self.code_name,
            "detail": self.detail,
            "id": str(uuid.uuid4()),
            "status": str(self.status),
            "title": self.title,
            **self.extra,
        }
        return {"errors": [error]}


# Numeric codes are the sandbox's own; clients should read `code_name` and `status`.
_ERROR_CODES = {
    "Unauthorized": 1,
    "ParameterInvalid": 2,
    "Forbidden": 3,
    "NotFound": 4,
    "MethodNotAllowed": 5,
    "RequestThrottled": 111,
    "ServiceUnavailable": 503,
}


def bad_parameter(detail: str, parameter: str) -> ApiError:
    return ApiError(
        400, "ParameterInvalid", detail, title="Invalid parameter", source={"parameter": parameter}
    )


@dataclass(frozen=True)
class Node:
    """One resource: every attribute it has, and how to reach each relationship."""

    type: str
    id: str
    attributes: Mapping[str, Any]
    related: Mapping[str, Related] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.id)


@dataclass(frozen=True)
class Query:
    """The `include` and `fields[...]` of a request, checked against a route."""

    includes: tuple[str, ...] = ()
    fields: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, args: Mapping[str, str], allowed_includes: Iterable[str]) -> Query:
        allowed = set(allowed_includes)
        includes = tuple(_split(args.get("include", "")))
        unknown = [name for name in includes if name not in allowed]
        if unknown:
            raise bad_parameter(
                f"Unknown include {', '.join(unknown)}; this route can include "
                f"{', '.join(sorted(allowed)) or 'nothing'}",
                "include",
            )
        fields: dict[str, frozenset[str]] = {}
        for name, value in args.items():
            match = _FIELDS_PARAM.match(name)
            if name.startswith("fields") and not match:
                raise bad_parameter(f"Malformed parameter {name}; use fields[type]=a,b", name)
            if match:
                fields[match.group(1)] = _checked_fields(match.group(1), value, name)
        return cls(includes=includes, fields=fields)


def _checked_fields(resource_type: str, value: str, parameter: str) -> frozenset[str]:
    known = ATTRIBUTES.get(resource_type)
    if known is None:
        raise bad_parameter(f"Unknown resource type {resource_type!r} in {parameter}", parameter)
    names = frozenset(_split(value))
    unknown = sorted(names - known)
    if unknown:
        raise bad_parameter(
            f"{', '.join(unknown)} {'is not a field' if len(unknown) == 1 else 'are not fields'}"
            f" of {resource_type}",
            parameter,
        )
    return names


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


ALL_FIELDS: Mapping[str, frozenset[str]] = ATTRIBUTES  # every attribute (webhook bodies)


def document(
    primary: Node | list[Node] | None,
    includes: Iterable[str] = (),
    fields: Mapping[str, frozenset[str]] | None = None,
    **top_level: Any,
) -> dict[str, Any]:
    """A compound document: `data`, `included` (if any include), and e.g. `meta`, `links`."""
    return _Renderer(fields or {}).render(primary, _include_tree(includes), top_level)


def _include_tree(includes: Iterable[str]) -> dict[str, dict]:
    """`["memberships", "memberships.campaign"]` -> `{"memberships": {"campaign": {}}}`."""
    tree: dict[str, dict] = {}
    for path in includes:
        branch = tree
        for name in path.split("."):
            branch = branch.setdefault(name, {})
    return tree


class _Renderer:
    def __init__(self, fields: Mapping[str, frozenset[str]]):
        self.fields = fields
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.primary_keys: set[tuple[str, str]] = set()

    def render(
        self, primary: Node | list[Node] | None, tree: dict[str, dict], top_level: dict[str, Any]
    ) -> dict[str, Any]:
        nodes = primary if isinstance(primary, list) else [primary] if primary else []
        self.primary_keys = {node.key for node in nodes}
        data = [self._visit(node, tree) for node in nodes]
        included = [r for key, r in self.resources.items() if key not in self.primary_keys]
        answer: dict[str, Any] = {
            "data": data if isinstance(primary, list) else data[0] if data else None
        }
        if tree:
            answer["included"] = included
        answer.update(top_level)
        return answer

    def _visit(self, node: Node, tree: dict[str, dict]) -> dict[str, Any]:
        resource = self.resources.get(node.key)
        if resource is None:
            wanted = self.fields.get(node.type, frozenset())
            resource = self.resources[node.key] = {
                "attributes": {k: v for k, v in node.attributes.items() if k in wanted},
                "id": node.id,
                "type": node.type,
            }
        for name, subtree in tree.items():
            value = node.related[name]()
            relationships = resource.setdefault("relationships", {})
            relationships[name] = {"data": _linkage(value)}
            for child in value if isinstance(value, list) else [value] if value else []:
                self._visit(child, subtree)
        return resource


def _linkage(value: Node | list[Node] | None) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [{"id": node.id, "type": node.type} for node in value]
    return {"id": value.id, "type": value.type}
