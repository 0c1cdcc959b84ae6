"""A tiny Patreon stand-in over real HTTP that counts what it is sent.

It plays Patreon's token rules that matter for refresh races: refresh tokens
are single use, and a spent one answers `invalid_grant`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Upstream:
    def __init__(self, refresh_delay: float = 0.2):
        self.refresh_delay = refresh_delay
        self.lock = threading.Lock()
        self.refresh_tokens_sent: Counter[str] = Counter()
        self.live_refresh_tokens: set[str] = set()
        self.live_access_tokens: set[str] = set()
        self.issued = 0
        self.on_refresh = None  # optional hook(refresh_token) -> dict answer or None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def grant(self, access: str, refresh: str) -> None:
        self.live_access_tokens.add(access)
        self.live_refresh_tokens.add(refresh)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def refresh(self, refresh_token: str) -> tuple[int, dict]:
        time.sleep(self.refresh_delay)  # widen the window a racing refresh would need
        with self.lock:
            self.refresh_tokens_sent[refresh_token] += 1
            if self.on_refresh is not None:
                return self.on_refresh(refresh_token)
            if refresh_token not in self.live_refresh_tokens:
                return 400, {"error": "invalid_grant"}
            self.live_refresh_tokens.discard(refresh_token)
            self.issued += 1
            access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
            self.grant(access, refresh)
        return 200, {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 2678400,
            "token_type": "Bearer",
            "scope": "identity campaigns",
        }

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if body.get("grant_type") == ["refresh_token"]:
                    self._answer(*upstream.refresh(body["refresh_token"][0]))
                else:
                    self._answer(400, {"error": "unsupported_grant_type"})

            def do_GET(self):
                access = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if access in upstream.live_access_tokens:
                    self._answer(200, {"data": {"type": "user", "id": "100", "attributes": {}}})
                else:
                    self._answer(401, {"errors": [{"code_name": "Unauthorized", "status": "401"}]})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
