"""Building the sandbox: a blueprint for the site, or an app of its own."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from flask import Blueprint, Flask, g, redirect, request
from redis import Redis, RedisError
from requests.adapters import BaseAdapter
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webapp.sandbox import api, control, oauth, pages
from webapp.sandbox.core import PageError, Sandbox, remember_browser, render_page_error
from webapp.sandbox.jsonapi import ApiError
from webapp.sandbox.personas import Generated
from webapp.sandbox.settings import SandboxSettings
from webapp.sandbox.state import SandboxState

ROOT = Path(__file__).resolve().parents[2]
MOUNT = "/sandbox"
log = logging.getLogger(__name__)


def create_sandbox_blueprint(
    settings: SandboxSettings,
    *,
    redis: Redis,
    transports: Mapping[str, BaseAdapter],
    clock: Callable[[], float] = time.time,
) -> Blueprint:
    """The sandbox as a blueprint named `sandbox`; mount it at `/sandbox`.

    `redis` is a client with decode_responses=True; every key goes under
    `settings.key_prefix`. `transports` (URL prefix -> requests adapter) are
    mounted on the session that sends webhooks, e.g. to reach the site in-process.
    `clock` is there for tests that need time to pass.
    """
    sandbox = Sandbox(
        settings=settings,
        state=SandboxState(redis, settings.key_prefix, clock),
        generated=Generated(settings.extra_members),
        transports=dict(transports),
        clock=clock,
    )
    bp = Blueprint("sandbox", __name__, template_folder=str(ROOT / "templates"))

    @bp.before_request
    def bind_sandbox() -> None:
        g.sandbox = sandbox
        sandbox.ensure_portal_tokens()

    bp.after_request(_count_call)
    bp.after_request(remember_browser)
    bp.after_request(_private_by_default)
    bp.register_error_handler(PageError, render_page_error)
    bp.register_error_handler(RedisError, _redis_down)
    for module in (oauth, api, control, pages):
        module.register(bp)
    return bp


def create_sandbox_app(
    settings: SandboxSettings,
    redis: Redis,
    *,
    transports: Mapping[str, BaseAdapter] | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """A sandbox-only app (its own port); the blueprint is at `/sandbox` here too."""
    app = Flask(
        __name__,
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    blueprint = create_sandbox_blueprint(
        settings, redis=redis, transports=transports or {}, clock=clock
    )
    app.register_blueprint(blueprint, url_prefix=MOUNT)
    app.add_url_rule("/", "home", lambda: redirect(f"{MOUNT}/"))
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_security_headers)
    return app


def _count_call(response: Response) -> Response:
    """Count API and token calls per route (and per user) for `/sandbox/stats`."""
    route = g.get("sandbox_route")
    if route:
        try:
            g.sandbox.state.count_call(route, g.get("sandbox_user"), response.status_code)
        except RedisError:
            log.warning("sandbox: could not count a %s call (Redis)", route)
    return response


def _private_by_default(response: Response) -> Response:
    # Consent pages, the control page and API answers are per browser or per
    # token: no cache may keep them. Avatars say otherwise themselves.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _redis_down(error: Exception) -> Response:
    """503 in the caller's language: OAuth JSON, JSON:API, or a page; never a 500."""
    log.warning("sandbox: Redis failed: %s", type(error).__name__)
    detail = "The sandbox's store (Redis) does not answer; try again shortly."
    if request.endpoint == "sandbox.token":
        response = oauth.OAuthError("temporarily_unavailable", detail, status=503).response()
    elif "/api/oauth2/v2/" in request.path:
        response = api.api_error_response(ApiError(503, "ServiceUnavailable", detail))
    else:
        body, status = render_page_error(PageError(503, "The sandbox is unavailable", detail))
        response = Response(body, status, mimetype="text/html")
    response.headers["Retry-After"] = "5"
    return response


def _http_error(error: HTTPException) -> Response | tuple[str, int]:
    """Routing errors of the standalone app: JSON under the API, a page elsewhere."""
    status = error.code or 500
    if request.path.startswith(f"{MOUNT}/api/"):
        code_name = "MethodNotAllowed" if status == 405 else "NotFound"
        return api.api_error_response(ApiError(status, code_name, error.description or error.name))
    return render_page_error(PageError(status, error.name, error.description or ""))


def _security_headers(response: Response) -> Response:
    # The site sets its own; these are for the sandbox on its own port.
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response
