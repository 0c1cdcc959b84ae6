"""Login with Patreon (Authlib's Flask integration) and logout.

Authlib keeps a single-use `state` and the PKCE verifier in the session and
checks both at the callback; a replayed or foreign state fails there. `next`
is bound to that state and is only ever a local path.
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from webapp.config import Config
from webapp.patreon import PatreonError, StoredToken
from webapp.patreon.errors import TRANSIENT_ERRORS
from webapp.patreon.membership import snapshot_from_identity
from webapp.site.context import current_campaign
from webapp.site.errors import BadRequest, ServiceUnavailable
from webapp.site.membership import IDENTITY_QUERY, MembershipService, Profile
from webapp.site.services import Services, services
from webapp.site.users import User, end_session, start_session

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Login did not complete"
LOGIN_NEXT = "login_next"  # session: state -> where to go after the login
MAX_PENDING_LOGINS = 5
MAX_NEXT_LENGTH = 2000
MAX_ERROR_CODE_LENGTH = 40
UNSAFE_IN_CODE = re.compile(r"[^A-Za-z0-9_.-]")


def register_oauth(app: Flask, config: Config, transports: dict) -> None:
    # One Authlib registry per app: Authlib caches its client per registry, and a
    # module-level one would hand a second app (e.g. in tests) the first app's client.
    def mount_transports(session_: requests.Session) -> None:
        for prefix, adapter in transports.items():
            session_.mount(prefix, adapter)

    oauth = OAuth(app)
    oauth.register(
        "patreon",
        client_id=config.patreon_client_id,
        client_secret=config.patreon_client_secret,
        authorize_url=config.patreon_authorize_url,
        access_token_url=config.token_url,
        client_kwargs={
            "scope": " ".join(config.patreon_scopes),
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_post",
        },
        compliance_fix=mount_transports,
    )


def patreon_oauth() -> FlaskOAuth2App:
    return current_app.extensions["authlib.integrations.flask_client"].patreon


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else "/"."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return "/"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def safe_error_code(error: str) -> str:
    """An OAuth error code fit for a log line: short, one line, plain characters."""
    return UNSAFE_IN_CODE.sub("_", error[:MAX_ERROR_CODE_LENGTH])


def login_failed(reason: str) -> BadRequest:
    return BadRequest(reason, title=LOGIN_FAILED)


def callback_url() -> str:
    return services().config.patreon_redirect_uri or url_for("auth.callback", _external=True)


@bp.get("/login")
def login() -> Response:
    state = secrets.token_urlsafe(32)
    pending = dict(session.get(LOGIN_NEXT) or {})
    pending[state] = safe_next(request.args.get("next"))
    # Keep only the newest few: abandoned logins must not grow the cookie.
    pending = dict(list(pending.items())[-MAX_PENDING_LOGINS:])
    session[LOGIN_NEXT] = pending
    response = patreon_oauth().authorize_redirect(callback_url(), state=state)
    _drop_authlib_states_not_in(pending)
    return response


def _drop_authlib_states_not_in(pending: dict[str, str]) -> None:
    """Forget Authlib's state entries of logins that are no longer pending.

    Authlib keeps each started login's state and PKCE verifier in the session
    as `_state_<client name>_<state>` (authlib.integrations.base_client.
    FrameworkIntegration) for an hour, and removes one only when its callback
    succeeds: abandoned and denied logins pile up ~160 bytes each until the
    cookie passes the 4 KB browsers keep. This relies on that key format; if
    Authlib changes it, the cookie-size tests in tests/site/test_auth.py fail.
    """
    prefix = f"_state_{patreon_oauth().name}_"
    for key in [k for k in session if k.startswith(prefix)]:
        if key.removeprefix(prefix) not in pending:
            session.pop(key)


@bp.get("/auth/patreon/callback")
def callback() -> Response:
    state = request.args.get("state", "")
    target = (session.get(LOGIN_NEXT) or {}).get(state, "/")
    _forget_pending(state)
    token = _exchange_code()
    user = complete_login(services(), token)
    start_session(user.id)
    login_user(user)
    log.info("user %s logged in", user.id)
    return redirect(target)


def _forget_pending(state: str) -> None:
    pending = dict(session.get(LOGIN_NEXT) or {})
    if pending.pop(state, None) is not None:
        session[LOGIN_NEXT] = pending


def _exchange_code() -> StoredToken:
    error = request.args.get("error")
    if error == "access_denied":
        raise login_failed("You chose not to allow access on Patreon, so you are not logged in.")
    if error:
        # Anyone can send a visitor here with ?error=<any text>: show none of it.
        log.info("Patreon answered the login with error %s", safe_error_code(error))
        raise login_failed("Patreon did not log you in. Please try again.")
    if not request.args.get("code"):
        raise login_failed("Patreon's answer carried no login code. Please log in again.")
    try:
        answer = patreon_oauth().authorize_access_token(timeout=10)
    except MismatchingStateError:
        raise login_failed(
            "This login link has expired, was already used, or was started in another "
            "browser. Please log in again."
        ) from None
    except OAuthError as exc:
        log.info("the token endpoint refused a login code: %s", exc.error)
        raise login_failed(
            "Patreon did not accept the login code (it may have expired or been used). "
            "Please log in again."
        ) from None
    except (requests.RequestException, ValueError):
        raise ServiceUnavailable("Patreon could not be reached to finish the login.") from None
    if not isinstance(answer, dict) or not answer.get("access_token"):
        # Authlib returns a 429's body as if it were a token: Patreon is busy, not refusing.
        raise ServiceUnavailable("Patreon could not be reached to finish the login.")
    return StoredToken.from_response(answer)


def complete_login(svc: Services, token: StoredToken) -> User:
    """Read who logged in and what they pledge, and store it all with their token.

    The identity is read through a copy bound to this token: should the token
    need a refresh, the refreshed one stays on the copy (and is what gets
    stored), never on the process-wide client every request shares.
    """
    client = svc.user_client.with_token(token)
    try:
        identity = client.fetch_identity(IDENTITY_QUERY).data
    except TRANSIENT_ERRORS:  # unreachable, 5xx or throttled: try again later
        raise ServiceUnavailable("Patreon could not be reached to finish the login.") from None
    except PatreonError as exc:
        log.warning("identity could not be read after a login: %s", exc)
        raise login_failed(
            "Patreon did not let us read your profile. Please log in again."
        ) from None
    campaign = current_campaign()
    campaign_id = campaign.id if campaign else svc.config.patreon_campaign_id
    profile = Profile.from_identity(identity)
    snapshot = snapshot_from_identity(identity, campaign_id) if campaign_id else None
    pipe = svc.redis.pipeline(transaction=True)
    svc.token_store(svc.keys.user_token(profile.id), pipe).put(client.oauth.cached_token)
    pipe.set(svc.keys.user(profile.id), profile.to_json())
    if snapshot is not None:
        MembershipService(svc).save(snapshot, pipe)
    pipe.execute()
    return User(profile=profile, membership=snapshot)


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        services().user_store(current_user.id).delete()
        log.info("user %s logged out", current_user.id)
    end_session()
    return redirect(url_for("pages.home"))
