"""QueryBuilder: which resource, which relationships and attributes, which page.

Patreon v2 returns no attribute unless it is asked for with `fields[type]`, and
no relationship unless it is named in `include`, so every query says exactly
what it reads. Builders are immutable: each call returns a new one, so a shared
starting point such as `QueryBuilder.identity` can never be changed by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import ClassVar
from urllib.parse import urlencode

MAX_PAGE_COUNT = 1000


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # with {id} where the route needs one
    includes: frozenset[str]

    def url_path(self, resource_id: str | None = None) -> str:
        if "{id}" not in self.path:
            return self.path
        if not resource_id:
            raise ValueError(f"the {self.name} route needs an id")
        return self.path.format(id=resource_id)


_CAMPAIGN_INCLUDES = frozenset({"tiers", "creator", "benefits", "goals"})
_MEMBER_INCLUDES = frozenset(
    {"address", "campaign", "currently_entitled_tiers", "user", "pledge_history"}
)
_POST_INCLUDES = frozenset({"campaign", "user"})

ROUTES: Mapping[str, Route] = MappingProxyType(
    {
        route.name: route
        for route in (
            Route(
                "identity",
                "/identity",
                frozenset(
                    {
                        "memberships",
                        "campaign",
                        "memberships.campaign",
                        "memberships.currently_entitled_tiers",
                    }
                ),
            ),
            Route("campaigns", "/campaigns", _CAMPAIGN_INCLUDES),
            Route("campaign", "/campaigns/{id}", _CAMPAIGN_INCLUDES),
            Route("campaign_members", "/campaigns/{id}/members", _MEMBER_INCLUDES),
            Route("member", "/members/{id}", _MEMBER_INCLUDES),
            Route("campaign_posts", "/campaigns/{id}/posts", _POST_INCLUDES),
            Route("post", "/posts/{id}", _POST_INCLUDES),
            Route("webhooks", "/webhooks", frozenset({"campaign", "client"})),
            Route("webhook", "/webhooks/{id}", frozenset({"campaign", "client"})),
        )
    }
)


@dataclass(frozen=True)
class QueryBuilder:
    route: Route
    includes: tuple[str, ...] = ()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    page_count: int | None = None
    cursor: str | None = None
    sort_keys: tuple[str, ...] = ()

    # Starting points, one per route (set below the class).
    identity: ClassVar[QueryBuilder]
    campaigns: ClassVar[QueryBuilder]
    campaign: ClassVar[QueryBuilder]
    campaign_members: ClassVar[QueryBuilder]
    member: ClassVar[QueryBuilder]
    campaign_posts: ClassVar[QueryBuilder]
    post: ClassVar[QueryBuilder]
    webhooks: ClassVar[QueryBuilder]

    def include(self, *relationships: str) -> QueryBuilder:
        unknown = [r for r in relationships if r not in self.route.includes]
        if unknown:
            raise ValueError(
                f"{self.route.name} cannot include {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.route.includes))}"
            )
        merged = self.includes + tuple(r for r in relationships if r not in self.includes)
        return replace(self, includes=merged)

    def fields(
        self, by_type: Mapping[str, Iterable[str]] | None = None, **more: Iterable[str]
    ) -> QueryBuilder:
        """Attributes to read, per resource type: `.fields(user=["full_name"])`."""
        merged = dict(self.attributes)
        for resource_type, names in {**(by_type or {}), **more}.items():
            current = merged.get(resource_type, ())
            merged[resource_type] = current + tuple(n for n in names if n not in current)
        return replace(self, attributes=MappingProxyType(merged))

    def page(self, count: int | None = None, cursor: str | None = None) -> QueryBuilder:
        if count is not None and not 1 <= count <= MAX_PAGE_COUNT:
            raise ValueError(f"page count must be between 1 and {MAX_PAGE_COUNT}")
        return replace(
            self,
            page_count=self.page_count if count is None else count,
            cursor=cursor,
        )

    def sort(self, *keys: str) -> QueryBuilder:
        return replace(self, sort_keys=tuple(keys))

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if self.includes:
            params.append(("include", ",".join(self.includes)))
        for resource_type, names in self.attributes.items():
            params.append((f"fields[{resource_type}]", ",".join(names)))
        if self.page_count is not None:
            params.append(("page[count]", str(self.page_count)))
        if self.cursor:
            params.append(("page[cursor]", self.cursor))
        if self.sort_keys:
            params.append(("sort", ",".join(self.sort_keys)))
        return params

    def query_string(self) -> str:
        """URL-encoded, brackets included (`fields%5Buser%5D=full_name`)."""
        return urlencode(self.params())


QueryBuilder.identity = QueryBuilder(ROUTES["identity"])
QueryBuilder.campaigns = QueryBuilder(ROUTES["campaigns"])
QueryBuilder.campaign = QueryBuilder(ROUTES["campaign"])
QueryBuilder.campaign_members = QueryBuilder(ROUTES["campaign_members"])
QueryBuilder.member = QueryBuilder(ROUTES["member"])
QueryBuilder.campaign_posts = QueryBuilder(ROUTES["campaign_posts"])
QueryBuilder.post = QueryBuilder(ROUTES["post"])
QueryBuilder.webhooks = QueryBuilder(ROUTES["webhooks"])
