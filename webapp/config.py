"""Settings read from the environment (and a `.env` file in development).

Everything is read and checked once, in `Config.from_env`, so a deployment with
a missing or malformed value stops at start-up with every problem listed,
instead of failing on the first request that needs the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.fernet import Fernet

from webapp.patreon.oauth import PATREON_BASE_URL
from webapp.site.rules import Rule, RuleError, parse_access_rules

log = logging.getLogger(__name__)

DEFAULT_SCOPES = ("identity", "identity.memberships")
# The example pages' rules. ACCESS_RULES is laid over them, so configuring rules for
# other pages never leaves these open; naming a path (e.g. "public") still changes it.
# The dashboard is gated in code (@requires("creator")), so no setting can open it.
EXAMPLE_ACCESS_RULES = {"/members": "patron", "/members/vip": "patron>=1000"}
# The embedded sandbox is reached in-process (see webapp/inprocess.py), under an
# origin that can never resolve on a network, so a mistake cannot leak a request.
INTERNAL_ORIGIN = "http://patron-gate.internal"
SANDBOX_CLIENT_ID = "patron-gate-sandbox"
CALLBACK_PATH = "/auth/patreon/callback"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """The environment cannot run the site; the message lists every problem."""


@dataclass(frozen=True)
class Config:
    app_env: str
    secret_key: str = field(repr=False)
    token_encryption_keys: tuple[str, ...] = field(repr=False)
    redis_url: str | None
    redis_prefix: str
    patreon_client_id: str
    patreon_client_secret: str = field(repr=False)
    patreon_redirect_uri: str | None
    patreon_scopes: tuple[str, ...]
    patreon_base_url: str
    patreon_authorize_url: str
    patreon_campaign_id: str | None
    creator_access_token: str | None = field(repr=False)
    creator_refresh_token: str | None = field(repr=False)
    webhook_secrets: tuple[str, ...] = field(repr=False)
    sandbox: bool
    membership_ttl: int
    membership_grace: int
    access_rules: Mapping[str, Rule]
    scope_validation: str
    sandbox_token_ttl: int
    sandbox_members: int
    warnings: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def token_url(self) -> str:
        return f"{self.patreon_base_url}/api/oauth2/token"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        return _Reader(os.environ if environ is None else environ).read()


class _Reader:
    """Reads one environment, collecting every problem before failing."""

    def __init__(self, environ: Mapping[str, str]):
        self.env = environ
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        if value is None or not value.strip():
            return default
        return value.strip()

    def read(self) -> Config:
        app_env = self.get("APP_ENV", "development")
        if app_env not in ("development", "production"):
            self.errors.append(f"APP_ENV must be development or production, not {app_env!r}")
        production = app_env == "production"

        secret_key = self._secret_key(production)
        client_id = self.get("PATREON_CLIENT_ID")
        sandbox = self._sandbox(production, client_id)
        base_url = self._base_url(sandbox)
        config = Config(
            app_env=app_env,
            secret_key=secret_key,
            token_encryption_keys=self._token_keys(secret_key),
            redis_url=self._redis_url(production),
            redis_prefix=self.get("REDIS_PREFIX", "gate:"),
            patreon_client_id=client_id or SANDBOX_CLIENT_ID,
            patreon_client_secret=self._client_secret(production, sandbox, secret_key),
            patreon_redirect_uri=self._redirect_uri(),
            patreon_scopes=self._scopes(),
            patreon_base_url=base_url,
            # The browser must reach the embedded sandbox's consent page on this site.
            patreon_authorize_url=(
                "/sandbox/oauth2/authorize" if sandbox else f"{base_url}/oauth2/authorize"
            ),
            patreon_campaign_id=self.get("PATREON_CAMPAIGN_ID"),
            creator_access_token=self._creator_token("ACCESS", sandbox, secret_key),
            creator_refresh_token=self._creator_token("REFRESH", sandbox, secret_key),
            webhook_secrets=self._webhook_secrets(sandbox, secret_key),
            sandbox=sandbox,
            membership_ttl=self._int("MEMBERSHIP_TTL", 300, minimum=1),
            membership_grace=self._int("MEMBERSHIP_GRACE", 86400, minimum=0),
            access_rules=self._access_rules(),
            scope_validation=self._scope_validation(),
            sandbox_token_ttl=self._int("SANDBOX_TOKEN_TTL", 3600, minimum=1),
            sandbox_members=self._int("SANDBOX_MEMBERS", 0, minimum=0),
            warnings=tuple(self.warnings),
        )
        if self.errors:
            raise ConfigError("cannot start:\n  - " + "\n  - ".join(self.errors))
        return config

    def _secret_key(self, production: bool) -> str:
        key = self.get("SECRET_KEY")
        if key:
            return key
        if production:
            self.errors.append("SECRET_KEY is required in production")
        else:
            self.warnings.append(
                "SECRET_KEY is not set: using a random key, so sessions and stored "
                "tokens do not survive a restart"
            )
        return secrets.token_urlsafe(32)

    def _token_keys(self, secret_key: str) -> tuple[str, ...]:
        raw = self.get("TOKEN_ENCRYPTION_KEY")
        if not raw:
            return (derive_fernet_key(secret_key, "token-encryption"),)
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                self.errors.append(
                    f"TOKEN_ENCRYPTION_KEY: key {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                )
        return keys

    def _redis_url(self, production: bool) -> str | None:
        url = self.get("REDIS_URL")
        if url is None:
            if production:
                self.errors.append("REDIS_URL is required in production")
            else:
                self.warnings.append(
                    "REDIS_URL is not set: using an in-process store; data is lost on restart"
                )
            return None
        if not url.startswith(("redis://", "rediss://", "unix://")):
            self.errors.append("REDIS_URL must start with redis://, rediss:// or unix://")
        return url

    def _sandbox(self, production: bool, client_id: str | None) -> bool:
        raw = (self.get("PATREON_SANDBOX") or "").lower()
        if raw and raw not in _TRUE | _FALSE:
            self.errors.append(f"PATREON_SANDBOX must be on or off, not {raw!r}")
        wanted = raw in _TRUE if raw else (not production and client_id is None)
        if production and wanted:
            self.errors.append("PATREON_SANDBOX cannot be enabled in production")
            return False
        if client_id is None and not wanted:
            if production:
                self.errors.append("PATREON_CLIENT_ID is required in production")
            else:
                self.errors.append("PATREON_CLIENT_ID is not set and PATREON_SANDBOX is off")
        return wanted

    def _client_secret(self, production: bool, sandbox: bool, secret_key: str) -> str:
        secret = self.get("PATREON_CLIENT_SECRET")
        if secret:
            return secret
        if sandbox:
            return derive_secret(secret_key, "sandbox-client-secret")
        self.errors.append(
            "PATREON_CLIENT_SECRET is required"
            + (" in production" if production else " when PATREON_CLIENT_ID is set")
        )
        return ""

    def _redirect_uri(self) -> str | None:
        uri = self.get("PATREON_REDIRECT_URI")
        if uri and not uri.startswith(("http://", "https://")):
            self.errors.append("PATREON_REDIRECT_URI must be an absolute http(s) URL")
        return uri

    def _scopes(self) -> tuple[str, ...]:
        raw = self.get("PATREON_SCOPES")
        if raw is None:
            return DEFAULT_SCOPES
        if "," in raw:
            self.errors.append("PATREON_SCOPES are separated by spaces, not commas")
        scopes = tuple(raw.split())
        if "identity" not in scopes:
            self.errors.append("PATREON_SCOPES must include identity (the site reads who logs in)")
        return scopes

    def _base_url(self, sandbox: bool) -> str:
        if sandbox:
            return f"{INTERNAL_ORIGIN}/sandbox"
        url = self.get("PATREON_BASE_URL", PATREON_BASE_URL).rstrip("/")
        if not url.startswith(("http://", "https://")):
            self.errors.append("PATREON_BASE_URL must be an absolute http(s) URL")
        return url

    def _creator_token(self, kind: str, sandbox: bool, secret_key: str) -> str | None:
        token = self.get(f"PATREON_CREATOR_{kind}_TOKEN")
        if token or not sandbox:
            return token
        # The sandbox's "developer portal" issues this pair to the site's creator.
        return derive_secret(secret_key, f"sandbox-creator-{kind.lower()}-token")

    def _webhook_secrets(self, sandbox: bool, secret_key: str) -> tuple[str, ...]:
        raw = self.get("PATREON_WEBHOOK_SECRET")
        if raw:
            return tuple(s.strip() for s in raw.split(",") if s.strip())
        if sandbox:
            return (derive_secret(secret_key, "sandbox-webhook-secret"),)
        return ()

    def _int(self, name: str, default: int, *, minimum: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(f"{name} must be a whole number of seconds or items, not {raw!r}")
            return default
        if value < minimum:
            self.errors.append(f"{name} must be at least {minimum}")
        return value

    def _access_rules(self) -> Mapping[str, Rule]:
        try:
            configured = parse_access_rules(self.get("ACCESS_RULES"))
        except RuleError as exc:
            self.errors.append(f"ACCESS_RULES: {exc}")
            configured = {}
        return {**parse_access_rules(EXAMPLE_ACCESS_RULES), **configured}

    def _scope_validation(self) -> str:
        mode = (self.get("SCOPE_VALIDATION") or "warn").lower()
        if mode not in ("off", "warn", "raise"):
            self.errors.append(f"SCOPE_VALIDATION must be off, warn or raise, not {mode!r}")
        return mode


def derive_secret(secret_key: str, purpose: str) -> str:
    """A stable secret for one purpose, so one SECRET_KEY can seed several."""
    return derive_fernet_key(secret_key, purpose).rstrip("=")


def derive_fernet_key(secret_key: str, purpose: str) -> str:
    """32 bytes derived from SECRET_KEY for `purpose`, url-safe base64 (a Fernet key)."""
    digest = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()
