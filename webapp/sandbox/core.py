"""The sandbox object every view works with, and what views share.

One `Sandbox` exists per blueprint; a `before_request` hook puts it on `g`, so
view functions are plain module-level functions that call `current()`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import g, render_template, request, url_for
from requests.adapters import BaseAdapter
from werkzeug.wrappers import Response

from webapp.sandbox.personas import ALL_SCOPES, CREATOR_USER_ID, MEMBERSHIPS, Generated
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.state import Grant, SandboxState
from webapp.sandbox.world import World

log = logging.getLogger(__name__)

BROWSER_COOKIE = "sandbox_browser"


@dataclass
class Sandbox:
    settings: SandboxSettings
    state: SandboxState
    generated: Generated
    transports: Mapping[str, BaseAdapter]
    clock: Callable[[], float]
    portal_registered: bool = field(default=False, init=False)

    def ensure_portal_tokens(self) -> None:
        """Register the developer portal's creator token pair (once per Redis, ever).

        Done on the first request rather than at start-up, so the site starts
        even while Redis is down.
        """
        if self.portal_registered:
            return
        access = self.settings.creator_access_token
        refresh = self.settings.creator_refresh_token
        if access and refresh:
            grant = Grant(
                grant_id="portal-" + hashlib.sha256(access.encode()).hexdigest()[:16],
                client_id=self.settings.client_id,
                user_id=CREATOR_USER_ID,
                scopes=ALL_SCOPES,
            )
            if self.state.register_portal_tokens(access, refresh, grant, self.settings.token_ttl):
                log.info("sandbox: registered the developer portal's creator token")
        self.portal_registered = True

    def http_session(self) -> requests.Session:
        """A session for webhook deliveries, with the in-process transports mounted."""
        session = requests.Session()
        for prefix, adapter in self.transports.items():
            session.mount(prefix, adapter)
        return session


def current() -> Sandbox:
    return g.sandbox


def world() -> World:
    """This request's view of the data (persona pledges read from Redis once)."""
    if "sandbox_world" not in g:
        sandbox = current()
        pledges = sandbox.state.pledges(MEMBERSHIPS)
        g.sandbox_world = World(sandbox.generated, pledges, prefix=mount_path())
    return g.sandbox_world


def fresh_world() -> World:
    """A new view after this request changed a pledge (a World is a snapshot)."""
    g.pop("sandbox_world", None)
    return world()


def mount_path() -> str:
    """Where the blueprint is mounted, e.g. `/sandbox` (root-relative, no host)."""
    return url_for("sandbox.control_page").rstrip("/")


def count_as(route: str, user_id: str | None = None) -> None:
    """Name this call in the stats (`GET /sandbox/stats`)."""
    g.sandbox_route = route
    if user_id is not None:
        g.sandbox_user = user_id


class PageError(Exception):
    """A browser-facing error: rendered as a small HTML page with this status."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def render_page_error(error: PageError) -> tuple[str, int]:
    page = render_template(
        "sandbox/error.html", title=error.title, message=error.message, status=error.status
    )
    return page, error.status


# -- browser binding (forms must come from the browser that loaded them) -------------


def browser_key() -> str:
    """This browser's random key, kept in a cookie scoped to the sandbox.

    Forms carry it (control page) or are bound to it (consent requests), so a
    form posted from another site, which cannot read or send the cookie
    (SameSite=Lax), is refused.
    """
    key = request.cookies.get(BROWSER_COOKIE, "")
    if len(key) >= 32:
        return key
    if "sandbox_new_browser_key" not in g:
        g.sandbox_new_browser_key = secrets.token_urlsafe(32)
    return g.sandbox_new_browser_key


def same_browser(expected: str | None) -> bool:
    cookie = request.cookies.get(BROWSER_COOKIE, "")
    return bool(cookie and expected) and same_secret(cookie, str(expected))


def same_secret(given: str, known: str) -> bool:
    """Compare in constant time. As bytes: compare_digest raises TypeError on
    non-ASCII str, and visitors choose what they send (a 500 otherwise)."""
    return hmac.compare_digest(given.encode(), known.encode())


def remember_browser(response: Response) -> Response:
    new_key = g.get("sandbox_new_browser_key")
    if new_key:
        response.set_cookie(
            BROWSER_COOKIE,
            new_key,
            max_age=30 * 24 * 3600,
            path=mount_path() + "/",
            httponly=True,
            samesite="Lax",
        )
    return response


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def form_text(name: str, default: str = "") -> str:
    value: Any = request.form.get(name, default)
    return str(value).strip()
