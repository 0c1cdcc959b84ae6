"""Response headers every page gets: CSP, framing, referrer, caching, HSTS."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

from webapp.config import CALLBACK_PATH

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def register_security_headers(app: Flask, *, production: bool) -> None:
    @app.after_request
    def secure(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # The callback URL carries the OAuth code: never send it on as a referrer.
        headers["Referrer-Policy"] = (
            "no-referrer" if request.path == CALLBACK_PATH else "strict-origin"
        )
        if not request.path.startswith("/static/"):
            # Pages are per visitor (or gated): no shared cache may keep them.
            headers["Cache-Control"] = "private, no-store"
        if production:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response
