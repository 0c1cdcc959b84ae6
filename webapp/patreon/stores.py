"""Token stores: where a token lives between requests and restarts.

Every store has the same four methods, `get/put/delete/list`, like the stores of
patreon-api.ts. Any object with those methods is a store (a custom store).
A store may also offer `lock()`: a lock shared by everyone who can refresh the
same token (Redis gives one across processes), so a single-use refresh token is
spent once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, runtime_checkable

import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from webapp.patreon.errors import PatreonError
from webapp.patreon.tokens import StoredToken

log = logging.getLogger(__name__)


# Serializes refreshes for stores that cannot lock across processes.
PROCESS_LOCK = threading.RLock()


class StoreError(PatreonError):
    """The store could not be read or written."""


@runtime_checkable
class TokenStore(Protocol):
    def get(self) -> StoredToken | None: ...

    def put(self, token: StoredToken) -> None: ...

    def delete(self) -> None: ...

    def list(self) -> list[StoredToken]: ...


class KVStorage(Protocol):
    """Anything with get/set/delete by key: a Redis client, a dict-like KV binding."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: str) -> Any: ...

    def delete(self, key: str) -> Any: ...


class Cipher(Protocol):
    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


def fernet_cipher(keys: Sequence[str]) -> MultiFernet:
    """The first key encrypts; every key decrypts, so keys can be rotated."""
    if not keys:
        raise ValueError("at least one Fernet key is needed")
    return MultiFernet([Fernet(k) for k in keys])


def ensure_store(store: object) -> TokenStore:
    missing = [m for m in ("get", "put", "delete", "list") if not callable(getattr(store, m, None))]
    if missing:
        raise TypeError(f"a token store needs get/put/delete/list; missing {', '.join(missing)}")
    return store  # type: ignore[return-value]


def _check_token(token: StoredToken) -> None:
    # A failed refresh must never replace a good token with an empty one.
    if not isinstance(token, StoredToken) or not token.access_token:
        raise ValueError("refusing to store an empty token")


class MemoryStore:
    """The manual store: a token kept in this process (tests, scripts)."""

    def __init__(self, token: StoredToken | None = None):
        self._token = token
        self._lock = threading.Lock()

    def get(self) -> StoredToken | None:
        return self._token

    def put(self, token: StoredToken) -> None:
        _check_token(token)
        self._token = token

    def delete(self) -> None:
        self._token = None

    def list(self) -> list[StoredToken]:
        return [self._token] if self._token else []

    def lock(self) -> AbstractContextManager[Any]:
        return self._lock


class KVStore:
    """A token under one key of a KV storage, optionally encrypted (Fernet)."""

    def __init__(
        self,
        storage: KVStorage,
        key: str,
        *,
        cipher: Cipher | None = None,
        lock_key: str | None = None,
        lock_timeout: float = 30.0,
        replace_only: bool = False,
    ):
        """`replace_only`: `put` only replaces a token that is still there, so a
        refresh finishing after a logout cannot bring the deleted token back
        (needs a storage whose `set` takes `xx=`, as Redis's does)."""
        self.storage = storage
        self.key = key
        self.replace_only = replace_only
        self.cipher = cipher
        self.lock_key = lock_key or f"{key}:lock"
        self.lock_timeout = lock_timeout

    def get(self) -> StoredToken | None:
        raw = self.storage.get(self.key)
        return None if raw is None else self._decode(raw)

    def put(self, token: StoredToken) -> None:
        _check_token(token)
        if self.replace_only:
            self.storage.set(self.key, self._encode(token), xx=True)
        else:
            self.storage.set(self.key, self._encode(token))

    def delete(self) -> None:
        self.storage.delete(self.key)

    def list(self) -> list[StoredToken]:
        token = self.get()
        return [token] if token else []

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The storage's own lock when it has one (Redis: shared across processes)."""
        make_lock = getattr(self.storage, "lock", None)
        if make_lock is None:
            with PROCESS_LOCK:
                yield
            return
        lock = make_lock(self.lock_key, timeout=self.lock_timeout)
        if not lock.acquire(blocking_timeout=self.lock_timeout):
            raise StoreError(f"gave up waiting for the refresh lock {self.lock_key}")
        try:
            yield
        finally:
            _release(lock, self.lock_key)

    def _encode(self, token: StoredToken) -> str:
        text = json.dumps(token.to_dict())
        if self.cipher is None:
            return text
        return self.cipher.encrypt(text.encode()).decode()

    def _decode(self, raw: str | bytes) -> StoredToken | None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        try:
            if self.cipher is not None:
                data = self.cipher.decrypt(data)
            return StoredToken.from_dict(json.loads(data))
        except InvalidToken:
            # Kept, not deleted: the right key may come back (rotation, restart).
            log.warning("token at %s cannot be decrypted with the configured keys", self.key)
        except (ValueError, KeyError, TypeError):
            log.warning("token at %s is not a stored token; ignoring it", self.key)
        return None


def _release(lock: Any, name: str) -> None:
    try:
        lock.release()
    except Exception:  # the lock timed out and may belong to someone else now
        log.warning("refresh lock %s expired before it was released", name)


class FetchStore:
    """A token kept by an HTTP server that answers GET and PUT at one URL.

    Pass a `requests.Session` carrying your own auth (headers, certificates);
    a missing token is a 404 or a `null` body; delete PUTs `null`.
    """

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ):
        self.url = url
        self.session = session or requests.Session()
        self.headers = headers or {}
        self.timeout = timeout

    def get(self) -> StoredToken | None:
        response = self._send("GET")
        if response.status_code in (204, 404):
            return None
        try:
            body = response.json()
            return StoredToken.from_dict(body) if body else None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"token server at {self.url} sent something that is not a token"
            ) from exc

    def put(self, token: StoredToken) -> None:
        _check_token(token)
        self._send("PUT", token.to_dict())

    def delete(self) -> None:
        self._send("PUT", None)

    def list(self) -> list[StoredToken]:
        token = self.get()
        return [token] if token else []

    def _send(self, method: str, body: Any = ...) -> requests.Response:
        kwargs: dict[str, Any] = {"headers": dict(self.headers), "timeout": self.timeout}
        if body is not ...:
            # Serialized here so that delete sends a JSON `null`, not an empty body.
            kwargs["data"] = json.dumps(body)
            kwargs["headers"]["Content-Type"] = "application/json"
        try:
            response = self.session.request(method, self.url, **kwargs)
        except requests.RequestException as exc:
            raise StoreError(f"token server at {self.url} could not be reached") from exc
        if response.status_code >= 400 and not (method == "GET" and response.status_code == 404):
            raise StoreError(
                f"token server at {self.url} answered {response.status_code} to {method}"
            )
        return response
