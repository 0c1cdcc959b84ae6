"""A Redis lock as a context manager that tells whether it was acquired."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)


@contextmanager
def redis_lock(client: redis.Redis, name: str, *, timeout: float, wait: float) -> Iterator[bool]:
    """Hold `name` for at most `timeout` s; wait up to `wait` s (0: don't wait)."""
    lock = client.lock(name, timeout=timeout)
    acquired = lock.acquire(blocking=wait > 0, blocking_timeout=wait or None)
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except redis.exceptions.LockError:
                # Held past its timeout: someone else may own it now; leave it be.
                log.warning("lock %s expired before it was released", name)
