"""Patron Gate: a Flask site that puts a creator's pages behind Login with Patreon.

Layers, one folder each:
  webapp/patreon/  the Patreon API client (no Flask)
  webapp/site/     the site: auth, gating, pages, dashboard, webhooks
  webapp/sandbox/  a local Patreon, reached only over HTTP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from webapp.config import CALLBACK_PATH, INTERNAL_ORIGIN, Config
from webapp.extensions import redis_store
from webapp.inprocess import transports_for

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `environ` (default: the process environment and `.env`)."""
    config = load_config(environ)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    register_config(app, config)
    register_extensions(app, config)
    register_sandbox(app, config)
    register_blueprints(app)
    return app


def load_config(environ: Mapping[str, str] | None) -> Config:
    if environ is None and os.environ.get("APP_ENV") != "production":
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env")
    return Config.from_env(environ)


def register_config(app: Flask, config: Config) -> None:
    app.config.update(
        PATRON_GATE=config,
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.is_production,
        PREFERRED_URL_SCHEME="https" if config.is_production else "http",
        DEBUG=False if config.is_production else app.debug,
    )
    for warning in config.warnings:
        log.warning(warning)


def register_extensions(app: Flask, config: Config) -> None:
    redis_store.init_app(app, config.redis_url)


def register_sandbox(app: Flask, config: Config) -> None:
    if not config.sandbox:
        return
    from webapp.sandbox import SandboxSettings, create_sandbox_blueprint
    from webapp.site.keys import RedisKeys

    settings = SandboxSettings(
        client_id=config.patreon_client_id,
        client_secret=config.patreon_client_secret,
        redirect_uris=(config.patreon_redirect_uri or CALLBACK_PATH,),
        key_prefix=RedisKeys(config.redis_prefix).sandbox_prefix,
        token_ttl=config.sandbox_token_ttl,
        extra_members=config.sandbox_members,
        webhook_secret=config.webhook_secrets[0] if config.webhook_secrets else None,
        webhook_urls=(f"{INTERNAL_ORIGIN}/webhooks/patreon",),
        creator_access_token=config.creator_access_token,
        creator_refresh_token=config.creator_refresh_token,
    )
    blueprint = create_sandbox_blueprint(
        settings, redis=app.extensions["redis"], transports=transports_for(INTERNAL_ORIGIN, app)
    )
    app.register_blueprint(blueprint, url_prefix="/sandbox")


def register_blueprints(app: Flask) -> None:
    from webapp.site import health

    app.register_blueprint(health.bp)
