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

import redis
from flask import Flask
from requests.adapters import BaseAdapter

from webapp.config import INTERNAL_ORIGIN, Config
from webapp.extensions import csrf, login_manager, redis_store
from webapp.inprocess import transports_for

ROOT = Path(__file__).resolve().parent.parent
MAX_REQUEST_BYTES = 1024 * 1024
STATIC_MAX_AGE = 3600  # CSS and images are not fingerprinted: an hour, not forever
log = logging.getLogger(__name__)


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `environ` (default: the process environment and `.env`)."""
    config = load_config(environ)
    register_logging()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    transports = transports_for(INTERNAL_ORIGIN, app) if config.sandbox else {}
    register_config(app, config)
    register_extensions(app, config)
    register_services(app, config, transports)
    register_sandbox(app, config)
    register_blueprints(app)
    register_request_hooks(app, config)
    register_cli(app)
    seed_creator_token_quietly(app)
    return app


def load_config(environ: Mapping[str, str] | None) -> Config:
    if environ is None and os.environ.get("APP_ENV") != "production":
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env")
    return Config.from_env(environ)


def register_logging() -> None:
    """Log INFO and up to stderr (the PaaS collects it) unless logging is set up already."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def register_config(app: Flask, config: Config) -> None:
    from webapp.site.users import SESSION_LIFETIME

    app.config.update(
        PATRON_GATE=config,
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.is_production,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        PREFERRED_URL_SCHEME="https" if config.is_production else "http",
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SEND_FILE_MAX_AGE_DEFAULT=STATIC_MAX_AGE,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    if config.is_production:
        # Never the Werkzeug debugger outside development, whatever FLASK_DEBUG says.
        app.debug = False
    for warning in config.warnings:
        log.warning(warning)


def register_extensions(app: Flask, config: Config) -> None:
    from flask_login import current_user

    redis_store.init_app(app, config.redis_url)
    csrf.init_app(app)
    # Flask-Login's own context processor loads the user (a Redis read) for every
    # template; the lazy proxy loads it only for templates that use it, so pages
    # that must render while Redis is down (503, the sandbox's errors) can.
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})


def register_services(app: Flask, config: Config, transports: Mapping[str, BaseAdapter]) -> None:
    from webapp.site.auth import register_oauth
    from webapp.site.services import build_services

    app.extensions["patron_gate"] = build_services(config, redis_store.client_for(app), transports)
    register_oauth(app, config, dict(transports))


def register_sandbox(app: Flask, config: Config) -> None:
    """Mount the local Patreon at /sandbox (development only: config refuses it otherwise)."""
    if not config.sandbox:
        return
    from webapp.config import CALLBACK_PATH
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
        settings, redis=redis_store.client_for(app), transports=transports_for(INTERNAL_ORIGIN, app)
    )
    # The sandbox plays Patreon: its token and API routes take server-to-server
    # POSTs, and its own forms carry single-use ids instead of our CSRF token.
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint, url_prefix="/sandbox")


def register_blueprints(app: Flask) -> None:
    from webapp.site import auth, dashboard, health, pages, webhooks

    for module in (health, auth, pages, dashboard, webhooks):
        app.register_blueprint(module.bp)
    csrf.exempt(webhooks.bp)  # Patreon signs its requests instead


def register_request_hooks(app: Flask, config: Config) -> None:
    from webapp.site.errors import register_error_handlers
    from webapp.site.gate import register_gate
    from webapp.site.security import register_security_headers
    from webapp.site.templating import register_template_context

    register_gate(app)
    register_security_headers(app, production=config.is_production)
    register_error_handlers(app)
    register_template_context(app, config)


def register_cli(app: Flask) -> None:
    from webapp.site.cli import register_cli as register_patreon_commands

    register_patreon_commands(app)


def seed_creator_token_quietly(app: Flask) -> None:
    """Store the environment's creator token at start-up, if Redis is up yet."""
    from webapp.site.campaign import seed_creator_token

    try:
        seed_creator_token(app.extensions["patron_gate"])
    except redis.RedisError:
        log.warning("Redis is not answering at start-up; the creator token is stored on first use")
