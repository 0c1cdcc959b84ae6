"""Run the sandbox on its own port: `python -m webapp.sandbox --port 5001`.

Environment (all optional; the defaults suit a site on http://127.0.0.1:5000):

  REDIS_URL                  unset: an in-process store, lost on exit
  REDIS_PREFIX               `gate:`; keys go under `{REDIS_PREFIX}sandbox:`
  SANDBOX_CLIENT_ID          `patron-gate-sandbox`
  SANDBOX_CLIENT_SECRET      `sandbox-secret`
  SANDBOX_REDIRECT_URIS      comma list; default the site's callback on
                             127.0.0.1:5000 and localhost:5000
  SANDBOX_WEBHOOK_SECRET     signs webhooks to SANDBOX_WEBHOOK_URLS (unset: none sent)
  SANDBOX_WEBHOOK_URLS       comma list of URLs the control page sends webhooks to
  SANDBOX_TOKEN_TTL          access token lifetime in seconds (3600)
  SANDBOX_MEMBERS            generated members of campaign 5000 (0)
  SANDBOX_CREATOR_ACCESS_TOKEN, SANDBOX_CREATOR_REFRESH_TOKEN
                             the creator token pair the "developer portal" issues

It refuses to start when APP_ENV=production: a fake Patreon has no place there.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import fakeredis
import redis
from werkzeug.serving import run_simple

from webapp.sandbox.app import create_sandbox_app
from webapp.sandbox.settings import SandboxSettings

DEFAULT_CLIENT_ID = "patron-gate-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:5000/auth/patreon/callback",
    "http://localhost:5000/auth/patreon/callback",
)


class SettingsError(ValueError):
    """The environment cannot run the sandbox; the message says which variable."""


def settings_from_env(environ: Mapping[str, str]) -> SandboxSettings:
    def text(name: str, default: str | None = None) -> str | None:
        value = environ.get(name, "").strip()
        return value or default

    def listed(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        raw = text(name)
        return tuple(p.strip() for p in raw.split(",") if p.strip()) if raw else default

    def number(name: str, default: int, minimum: int) -> int:
        raw = text(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < minimum:
            raise SettingsError(f"{name} must be a whole number of at least {minimum}")
        return int(raw)

    return SandboxSettings(
        client_id=text("SANDBOX_CLIENT_ID", DEFAULT_CLIENT_ID),
        client_secret=text("SANDBOX_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
        redirect_uris=listed("SANDBOX_REDIRECT_URIS", DEFAULT_REDIRECT_URIS),
        key_prefix=f"{text('REDIS_PREFIX', 'gate:')}sandbox:",
        token_ttl=number("SANDBOX_TOKEN_TTL", 3600, minimum=1),
        extra_members=number("SANDBOX_MEMBERS", 0, minimum=0),
        webhook_secret=text("SANDBOX_WEBHOOK_SECRET"),
        webhook_urls=listed("SANDBOX_WEBHOOK_URLS"),
        creator_access_token=text("SANDBOX_CREATOR_ACCESS_TOKEN"),
        creator_refresh_token=text("SANDBOX_CREATOR_REFRESH_TOKEN"),
    )


def connect(url: str | None) -> redis.Redis:
    if not url:
        return fakeredis.FakeRedis(decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m webapp.sandbox", description="Run the Patreon sandbox on its own port."
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if environ.get("APP_ENV", "").strip() == "production":
        print("The sandbox cannot run with APP_ENV=production.", file=sys.stderr)
        return 2
    try:
        settings = settings_from_env(environ)
    except SettingsError as exc:
        print(f"Cannot start the sandbox: {exc}", file=sys.stderr)
        return 2
    app = create_sandbox_app(settings, connect(environ.get("REDIS_URL")))
    print(f"Patreon sandbox: http://{args.host}:{args.port}/sandbox/", file=sys.stderr)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
