"""Patreon's JSON:API documents, flattened into plain dicts.

A normalized resource is `{"id", "type", **attributes, **relationships}` where
each relationship is resolved from `included` (a dict, a list, or None). The raw
document stays available on `Document.raw` for anything the flattening drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]
_Key = tuple[str, str]

# Deep enough for identity -> memberships -> currently_entitled_tiers.
MAX_DEPTH = 3


@dataclass(frozen=True)
class Document:
    data: Resource | list[Resource] | None
    raw: Mapping[str, Any]

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.raw.get("meta") or {}

    @property
    def next_cursor(self) -> str | None:
        pagination = self.meta.get("pagination") or {}
        cursors = pagination.get("cursors") or {}
        return cursors.get("next") or None

    @property
    def total(self) -> int | None:
        total = (self.meta.get("pagination") or {}).get("total")
        return int(total) if total is not None else None

    @property
    def items(self) -> list[Resource]:
        if self.data is None:
            return []
        return self.data if isinstance(self.data, list) else [self.data]


def normalize(document: Mapping[str, Any]) -> Document:
    if not isinstance(document, Mapping) or "data" not in document:
        raise ValueError("not a JSON:API document (no 'data')")
    index: dict[_Key, Mapping[str, Any]] = {}
    for item in document.get("included") or ():
        if isinstance(item, Mapping) and "type" in item and "id" in item:
            index[(str(item["type"]), str(item["id"]))] = item
    data = document["data"]
    if isinstance(data, list):
        flat: Resource | list[Resource] | None = [_resource(r, index, ()) for r in data]
    elif isinstance(data, Mapping):
        flat = _resource(data, index, ())
    else:
        flat = None
    return Document(data=flat, raw=document)


def _resource(
    item: Mapping[str, Any], index: dict[_Key, Mapping[str, Any]], path: tuple[_Key, ...]
) -> Resource:
    key = (str(item.get("type")), str(item.get("id")))
    flat: Resource = {"id": key[1], "type": key[0]}
    flat.update(item.get("attributes") or {})
    if len(path) >= MAX_DEPTH:
        return flat
    for name, relationship in (item.get("relationships") or {}).items():
        if isinstance(relationship, Mapping) and "data" in relationship:
            flat[name] = _related(relationship["data"], index, (*path, key))
    return flat


def _related(linkage: Any, index: dict[_Key, Mapping[str, Any]], path: tuple[_Key, ...]) -> Any:
    if isinstance(linkage, list):
        return [_one(link, index, path) for link in linkage if isinstance(link, Mapping)]
    if isinstance(linkage, Mapping):
        return _one(linkage, index, path)
    return None


def _one(
    link: Mapping[str, Any], index: dict[_Key, Mapping[str, Any]], path: tuple[_Key, ...]
) -> Resource:
    key = (str(link.get("type")), str(link.get("id")))
    found = index.get(key)
    if found is None or key in path:
        # Not included, or a cycle back to a resource being resolved: identity only.
        return {"id": key[1], "type": key[0]}
    return _resource(found, index, path)
