"""Liveness and readiness for the platform's health checks."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

from webapp.extensions import redis_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        redis_store.client.ping()
    except redis.RedisError:
        current_app.logger.warning("readiness: Redis does not answer")
        return (
            jsonify(status="unavailable", reason="Redis does not answer"),
            503,
            {"Retry-After": "5"},
        )
    return jsonify(status="ready")
