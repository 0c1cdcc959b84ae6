"""Every extension instance, created once here and bound to the app in create_app."""

from __future__ import annotations

import fakeredis
import redis
from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from redis.backoff import NoBackoff
from redis.retry import Retry


class RedisExtension:
    """One Redis client per process: the configured server, or an in-process one."""

    def init_app(self, app: Flask, url: str | None) -> None:
        app.extensions["redis"] = connect_redis(url)

    @property
    def client(self) -> redis.Redis:
        return self.client_for(current_app)

    @staticmethod
    def client_for(app: Flask) -> redis.Redis:
        return app.extensions["redis"]


def connect_redis(url: str | None) -> redis.Redis:
    if url is None:
        # Development default: data lives in this process only (a banner says so).
        return fakeredis.FakeRedis(decode_responses=True)
    # Short timeouts: a request must fail fast (503) while Redis is down,
    # and the pool reconnects on its own when it is back.
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        # One immediate retry on a fresh connection: enough to get past a pooled
        # connection that died with a Redis restart, without redis-py's default
        # backoff keeping a request waiting seconds while Redis is down.
        retry=Retry(NoBackoff(), 1),
    )


redis_store = RedisExtension()
login_manager = LoginManager()
csrf = CSRFProtect()
