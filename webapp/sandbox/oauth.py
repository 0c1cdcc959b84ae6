"""OAuth: the consent page and the token endpoint, with Patreon's rules.

- The redirect URI must match a registered one exactly; a bad client id or
  redirect URI gets an error page, never a redirect (it could be anyone's URL).
- Scopes are separated by spaces; a comma-joined scope is refused.
- Codes are single use, expire after 10 minutes, and are bound to the client
  and the exact redirect URI. PKCE (S256 only) is checked when the authorize
  request carried a challenge.
- Refresh tokens are single use: every refresh rotates both tokens, and a spent
  one answers `invalid_grant`. Redemption is one atomic GETDEL, so of two racing
  refreshes of one token exactly one wins.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response

from webapp.sandbox.core import (
    PageError,
    browser_key,
    count_as,
    current,
    form_text,
    no_store,
    same_browser,
    same_secret,
    world,
)
from webapp.sandbox.personas import ALL_SCOPES, PERSONAS, SCOPE_DESCRIPTIONS
from webapp.sandbox.state import CODE_TTL, CONSENT_TTL, Grant, IssuedTokens

# When an authorize request names no scope, Patreon grants the basic identity.
DEFAULT_SCOPES = ("identity",)
# Checked on the consent page unless the user picks another: a typical visitor.
DEFAULT_PERSONA = "patron-low"
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class OAuthError(Exception):
    """A token endpoint error, answered as `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        answer = jsonify(error=self.error, error_description=self.description)
        answer.status_code = self.status
        if self.status == 401:
            answer.headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
        return no_store(answer)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/oauth2/authorize", view_func=authorize, methods=["GET"])
    bp.add_url_rule("/oauth2/authorize", view_func=consent, methods=["POST"])
    bp.add_url_rule("/api/oauth2/token", view_func=token, methods=["POST"])
    bp.register_error_handler(OAuthError, OAuthError.response)


# -- authorize -----------------------------------------------------------------------


def authorize() -> str:
    """The consent page: who the app is, what it asks for, and who you are."""
    args = request.args
    client_id, redirect_uri = _checked_client_and_redirect(args)
    if args.get("response_type") != "code":
        raise _bad_request("response_type must be code (the authorization code flow).")
    scopes = _checked_scopes(args.get("scope"))
    challenge = _checked_challenge(args.get("code_challenge"), args.get("code_challenge_method"))
    consent_id = current().state.put_once(
        "consent",
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scopes": scopes,
            "state": args.get("state"),
            "code_challenge": challenge,
            "browser": browser_key(),
        },
        CONSENT_TTL,
    )
    here = world()
    personas = [
        {
            "slug": p.slug,
            "blurb": p.blurb,
            "user": here.user(p.user_id),
            "badge": here.status_badge(p.user_id),
        }
        for p in PERSONAS.values()
    ]
    return render_template(
        "sandbox/consent.html",
        app_name=current().settings.app_name,
        scopes=[(s, SCOPE_DESCRIPTIONS[s]) for s in scopes],
        personas=personas,
        consent_id=consent_id,
        avatar_url=here.avatar_url,
        return_to=urlsplit(redirect_uri).netloc or redirect_uri,
        default_persona=DEFAULT_PERSONA,
    )


def consent() -> Response:
    """Allow or Deny. The request must come from the browser that opened the page."""
    consent_id = form_text("consent_id")
    pending = current().state.peek("consent", consent_id)
    if pending is None or not same_browser(pending.get("browser")):
        raise _expired_consent()
    record = current().state.take_once("consent", consent_id)
    if record is None:
        raise _expired_consent()
    if form_text("decision") != "allow":
        return _back_to_client(record, error="access_denied")
    persona = PERSONAS.get(form_text("persona"))
    if persona is None:
        raise _bad_request("Pick one of the personas to log in as.")
    code = current().state.put_once(
        "code",
        {
            "client_id": record["client_id"],
            "redirect_uri": record["redirect_uri"],
            "user_id": persona.user_id,
            "scopes": record["scopes"],
            "code_challenge": record["code_challenge"],
        },
        CODE_TTL,
    )
    return _back_to_client(record, code=code)


def _checked_client_and_redirect(args: Mapping[str, str]) -> tuple[str, str]:
    settings = current().settings
    client_id = args.get("client_id", "")
    if not same_secret(client_id, settings.client_id):
        raise _bad_request("Unknown client_id: no app is registered under that id.")
    redirect_uri = args.get("redirect_uri", "")
    if not _registered(redirect_uri, settings.redirect_uris):
        raise _bad_request(
            "redirect_uri does not match a registered redirect URI exactly. "
            f"Registered: {', '.join(settings.redirect_uris)}"
        )
    return client_id, redirect_uri


def _registered(uri: str, registered: tuple[str, ...]) -> bool:
    # A path-only entry means that path on the origin the browser came to:
    # the embedded sandbox answers under whatever host serves the site.
    origin = request.host_url.rstrip("/")
    return bool(uri) and any(
        uri == (origin + entry if entry.startswith("/") else entry) for entry in registered
    )


def _checked_scopes(raw: str | None) -> list[str]:
    if raw is None or not raw.strip():
        return list(DEFAULT_SCOPES)
    if "," in raw:
        raise _bad_request(
            f"Scopes are separated by spaces, not commas (got {raw!r}). "
            "Join them with spaces, e.g. 'identity identity.memberships'."
        )
    scopes = list(dict.fromkeys(raw.split()))
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise _bad_request(f"Unknown scope {', '.join(unknown)}.")
    return scopes


def _checked_challenge(challenge: str | None, method: str | None) -> str | None:
    if not challenge:
        return None
    if method != "S256":
        raise _bad_request("code_challenge_method must be S256 (plain is not supported).")
    if not _PKCE_VALUE.match(challenge):
        raise _bad_request("code_challenge is not a base64url SHA-256 digest.")
    return challenge


def _back_to_client(record: dict, **params: str) -> Response:
    if record.get("state") is not None:
        params["state"] = record["state"]
    parts = urlsplit(record["redirect_uri"])
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    response = redirect(urlunsplit(parts._replace(query=query)), code=302)
    response.headers["Referrer-Policy"] = "no-referrer"
    return no_store(response)


def _bad_request(message: str) -> PageError:
    return PageError(400, "This login request is not valid", message)


def _expired_consent() -> PageError:
    return PageError(
        400,
        "This consent page has expired",
        "It was already answered, is older than 15 minutes, or was opened in another "
        "browser. Go back to the site and log in again.",
    )


# -- token endpoint ------------------------------------------------------------------

_ROUTE_NAMES = {"authorization_code": "token:authorization_code", "refresh_token": "token:refresh"}


def token() -> Response:
    form = request.form
    grant_type = form.get("grant_type", "")
    route = _ROUTE_NAMES.get(grant_type, "token:other")
    count_as(route)
    _authenticate_client(form.get("client_id", ""), form.get("client_secret", ""))
    if grant_type == "authorization_code":
        issued = _redeem_code(form)
    elif grant_type == "refresh_token":
        issued = _redeem_refresh_token(form.get("refresh_token", ""))
    else:
        raise OAuthError("unsupported_grant_type", "Use authorization_code or refresh_token.")
    count_as(route, issued.grant.user_id)
    settings = current().settings
    return no_store(
        jsonify(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_in=settings.token_ttl,
            scope=" ".join(issued.grant.scopes),
            token_type="Bearer",
            version="0.0.1",
        )
    )


def _authenticate_client(client_id: str, client_secret: str) -> None:
    settings = current().settings
    # Both compared in full, whatever the first one says: the timing tells nothing.
    known = same_secret(client_id, settings.client_id)
    secret_ok = same_secret(client_secret, settings.client_secret)
    if not (known and secret_ok):
        raise OAuthError(
            "invalid_client",
            "Unknown client or wrong secret (send client_id and client_secret in the form body).",
            status=401,
        )


def _redeem_code(form: Mapping[str, str]) -> IssuedTokens:
    sandbox = current()
    record = sandbox.state.take_once("code", form.get("code", ""))
    if record is None:
        raise OAuthError("invalid_grant", "The code is unknown, expired or already used.")
    if record["client_id"] != form.get("client_id"):
        raise OAuthError("invalid_grant", "The code was issued to another client.")
    if form.get("redirect_uri") != record["redirect_uri"]:
        raise OAuthError(
            "invalid_grant", "redirect_uri does not match the one of the authorize request."
        )
    _check_verifier(record.get("code_challenge"), form.get("code_verifier"))
    grant = Grant(
        grant_id=secrets.token_urlsafe(12),
        client_id=record["client_id"],
        user_id=record["user_id"],
        scopes=tuple(record["scopes"]),
    )
    return sandbox.state.issue_tokens(grant, sandbox.settings.token_ttl)


def _check_verifier(challenge: str | None, verifier: str | None) -> None:
    if challenge is None:
        return  # no PKCE in the authorize request: a verifier is ignored, as on Patreon
    if not verifier:
        raise OAuthError("invalid_grant", "code_verifier is required: a challenge was sent.")
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if not _PKCE_VALUE.match(verifier) or not same_secret(expected, challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")


def _redeem_refresh_token(refresh_token: str) -> IssuedTokens:
    sandbox = current()
    if not refresh_token:
        raise OAuthError("invalid_request", "refresh_token is missing.")
    grant = sandbox.state.take_refresh_grant(refresh_token)
    if grant is None:
        raise OAuthError("invalid_grant", "The refresh token is unknown or was already used.")
    if grant.client_id != sandbox.settings.client_id:
        raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
    # The same grant id: a refresh does not reset the rate limit.
    return sandbox.state.issue_tokens(grant, sandbox.settings.token_ttl)
