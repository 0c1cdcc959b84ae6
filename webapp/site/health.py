"""Liveness and readiness for the platform's health checks."""

from __future__ import annotations

import redis
from cryptography.fernet import InvalidToken, MultiFernet
from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from webapp.site.campaign import parse_campaign
from webapp.site.services import services

bp = Blueprint("health", __name__)

RETRY_AFTER_SECONDS = 5
UNDECRYPTABLE_CREATOR_TOKEN = (
    "The stored creator token cannot be decrypted with the configured keys: "
    "TOKEN_ENCRYPTION_KEY (or SECRET_KEY, which it is derived from when unset) changed. "
    "Put the key it was stored with back in TOKEN_ENCRYPTION_KEY, after the new one."
)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int, dict[str, str]]:
    """Ready when Redis answers and the stored creator token can be decrypted.

    Whether the campaign is known is reported, not required: a fresh deploy
    must become ready before the creator connects it.
    """
    svc = services()
    try:
        creator_token, campaign = svc.redis.mget(svc.keys.creator_token, svc.keys.campaign)
    except redis.RedisError:
        return not_ready("Redis does not answer")
    if creator_token is not None and not decrypts(svc.cipher, creator_token):
        return not_ready(UNDECRYPTABLE_CREATOR_TOKEN)
    return jsonify(status="ready", campaign_known=parse_campaign(campaign) is not None)


def decrypts(cipher: MultiFernet, stored: str) -> bool:
    try:
        cipher.decrypt(stored.encode())
    except InvalidToken:
        return False
    return True


def not_ready(reason: str) -> tuple[Response, int, dict[str, str]]:
    current_app.logger.warning("readiness: %s", reason)
    return (
        jsonify(status="unavailable", reason=reason),
        503,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
