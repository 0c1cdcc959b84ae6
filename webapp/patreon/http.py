"""HTTP to Patreon's API: bearer auth, bounded retries, typed errors.

429s wait `Retry-After` (or the body's `retry_after_seconds`) when that is
within `max_wait`, and 5xx and timeouts back off, each a bounded number of
times: a caller on a request path must get an answer (or an error it can fall
back from) in bounded time, never a retry storm.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import BaseAdapter

from webapp.patreon.errors import PatreonRateLimited, PatreonUnavailable, api_error_for
from webapp.patreon.tokens import StoredToken

log = logging.getLogger(__name__)

USER_AGENT = "patron-gate/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    rate_limit_retries: int = 2
    max_wait: float = 30.0  # longest Retry-After worth waiting for
    server_error_retries: int = 2
    backoff: float = 0.5  # first wait after a 5xx or timeout; doubles each time
    timeout: float = 10.0


class PatreonHTTP:
    def __init__(
        self,
        api_base_url: str,
        *,
        retry: RetryPolicy | None = None,
        transports: Mapping[str, BaseAdapter] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.api_base_url = api_base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        for prefix, adapter in (transports or {}).items():
            self.session.mount(prefix, adapter)

    def request(
        self,
        method: str,
        path: str,
        token: StoredToken,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: Any = None,
    ) -> requests.Response:
        """Send once, retrying only throttling and server trouble.

        Returns 2xx and 401 answers (the caller decides about refreshing);
        raises a typed error for everything else.
        """
        what = f"{method} {path}"
        send = {
            "url": f"{self.api_base_url}{path}",
            "params": params,
            "json": json,
            "headers": {"Authorization": f"Bearer {token.access_token}"},
            "timeout": self.retry.timeout,
        }
        # A POST that timed out or failed may have been applied: never send it twice.
        retries = self.retry.server_error_retries if method != "POST" else 0
        throttled = failed = 0
        while True:
            try:
                response = self.session.request(method, **send)
            except requests.RequestException as exc:
                failed += 1
                if failed > retries:
                    raise PatreonUnavailable(f"{what}: {type(exc).__name__}") from None
                self._back_off(failed, f"{what}: {type(exc).__name__}")
                continue
            status = response.status_code
            if status < 400 or status == 401:
                return response
            if status == 429:
                throttled += 1
                self._wait_out_throttling(response, throttled, what)
            elif status >= 500 and failed < retries:
                failed += 1
                self._back_off(failed, f"{what} answered {status}")
            else:
                raise api_error_for(status, error_objects(response))

    def _wait_out_throttling(self, response: requests.Response, times: int, what: str) -> None:
        wait = retry_after_seconds(response)
        if times > self.retry.rate_limit_retries or wait > self.retry.max_wait:
            raise PatreonRateLimited(429, error_objects(response), retry_after=wait)
        log.warning("Patreon throttled %s; waiting %.1fs", what, wait)
        self.sleep(wait)

    def _back_off(self, attempt: int, what: str) -> None:
        wait = self.retry.backoff * 2 ** (attempt - 1)
        log.warning("%s; retrying in %.1fs", what, wait)
        self.sleep(wait)


def error_objects(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def retry_after_seconds(response: requests.Response, default: float = 1.0) -> float:
    """Seconds to wait from `Retry-After` (seconds or a date) or the error body."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            moment = email.utils.parsedate_to_datetime(header)
            return max(0.0, moment.timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    for error in error_objects(response):
        seconds = error.get("retry_after_seconds")
        if isinstance(seconds, int | float) and seconds >= 0:
            return float(seconds)
    return default
