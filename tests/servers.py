"""Serve a WSGI app over real HTTP on a free local port, for tests.

    with serving(app) as server:
        requests.get(f"{server.origin}/healthz")

The server runs in a daemon thread (threaded: one thread per request, so an app
may call itself), binds 127.0.0.1 on a port the OS picks, and logs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        """Keep test output free of access-log lines."""


@dataclass
class LocalServer:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_server(app: WSGIApp, host: str = "127.0.0.1") -> LocalServer:
    """Serve `app` on a free port until `stop()`."""
    server = make_server(host, 0, app, threaded=True, request_handler=_QuietHandler)
    # A short poll interval makes stop() quick; the default waits up to half a second.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-{server.port}",
        daemon=True,
    )
    thread.start()
    return LocalServer(server, thread)


@contextmanager
def serving(app: WSGIApp, host: str = "127.0.0.1") -> Iterator[LocalServer]:
    server = start_server(app, host)
    try:
        yield server
    finally:
        server.stop()
