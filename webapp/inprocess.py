"""A requests transport that hands HTTP requests to a WSGI app in this process.

The embedded sandbox and the site talk to each other only over HTTP, as they
would with the real Patreon. Routing those requests through the app itself,
instead of a socket, means the site works on a single-threaded server, from the
CLI, and under Flask's test client, with no address to configure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

WSGIApp = Callable[..., Any]


class InProcessTransport(BaseAdapter):
    def __init__(self, app: WSGIApp):
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        parts = urlsplit(request.url)
        client = Client(self.app)
        answer = client.open(
            path=parts.path or "/",
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=request.method,
            headers=list(request.headers.items()),
            data=_body_bytes(request.body),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.get_data()
        response.url = request.url
        response.request = request
        response.encoding = answer.mimetype_params.get("charset", "utf-8")
        answer.close()
        return response

    def close(self) -> None:
        """Nothing to release: no sockets are opened."""


def _body_bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else body


def transports_for(origin: str, app: WSGIApp) -> Mapping[str, BaseAdapter]:
    return {origin.rstrip("/") + "/": InProcessTransport(app)}
