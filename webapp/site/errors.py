"""Error pages: every failure a visitor can cause or meet gets a plain answer.

HTML for pages, JSON for `/api/` and `/webhooks/`; never a stack trace. Redis
trouble anywhere becomes a 503 with Retry-After, and the site recovers on its
own when Redis answers again (the connection pool reconnects).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.site.context import pledge_link
from webapp.site.rules import Rule

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
JSON_PREFIXES = ("/api/", "/webhooks/")


class BadRequest(Exception):
    """400 with a reason a visitor can act on (and, optionally, a plainer title)."""

    def __init__(self, reason: str, title: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.title = title


class ServiceUnavailable(Exception):
    """503: something the site depends on is not answering; try again shortly."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class AccessDenied(Exception):
    """403: logged in, but the rule for this page is not met."""

    def __init__(self, rule: Rule):
        super().__init__(rule.text)
        self.rule = rule


TITLES = {
    400: "That request could not be understood",
    401: "Not authorized",
    403: "Your membership doesn't include this page",
    404: "Page not found",
    405: "That method is not allowed here",
    413: "That request is too large",
    500: "Something went wrong on our side",
    503: "Temporarily unavailable",
}


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


REDIS_DOWN = "Our data store is not answering. Please try again shortly."


def error_response(
    status: int, reason: str, title: str | None = None, **context: Any
) -> ResponseReturnValue:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    title = title or TITLES.get(status, "Error")
    if wants_json():
        return jsonify(error=title, reason=reason), status, headers
    # 500 and 503 may come from Redis being down: the page must not need it.
    context.setdefault("plain", status in (500, 503))
    try:
        page = render_template("error.html", status=status, title=title, reason=reason, **context)
    except redis.RedisError:
        if context["plain"]:
            raise
        # E.g. a 404 for a logged-in visitor while Redis is down: say what is wrong.
        log.error("Redis failed while rendering a %s page", status)
        return error_response(503, REDIS_DOWN)
    return page, status, headers


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest):
        return error_response(400, error.reason, error.title)

    @app.errorhandler(ServiceUnavailable)
    def unavailable(error: ServiceUnavailable):
        return error_response(503, error.reason)

    @app.errorhandler(AccessDenied)
    def access_denied(error: AccessDenied):
        return error_response(
            403,
            f"To open this page you need {error.rule.describe()}.",
            pledge_url=pledge_link(),
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        return error_response(
            400, "The form expired or was sent from another site. Reload the page and try again."
        )

    @app.errorhandler(redis.RedisError)
    def redis_down(error: redis.RedisError):
        log.error("Redis failed: %s", type(error).__name__)
        return error_response(503, REDIS_DOWN)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return error_response(error.code or 500, error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "The error has been logged. Please try again later.")
