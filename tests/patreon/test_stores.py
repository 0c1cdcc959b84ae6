import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fakeredis
import pytest
import requests
from cryptography.fernet import Fernet

from tests.patreon.conftest import token
from webapp.patreon import (
    FetchStore,
    KVStore,
    MemoryStore,
    PatreonCreatorClient,
    StoreError,
    ensure_store,
    fernet_cipher,
)


def test_memory_store_round_trip():
    store = MemoryStore()
    assert store.get() is None and store.list() == []
    store.put(token("a"))
    assert store.get() == token("a", now=store.get().expires_in_epoch - 3600)
    store.delete()
    assert store.get() is None


def test_stores_refuse_an_empty_token():
    store = MemoryStore(token("good"))
    with pytest.raises(ValueError):
        store.put(None)
    assert store.get().access_token == "access-good"


class DictStorage(dict):
    """The smallest KV storage: get/set/delete by key, no lock."""

    def set(self, key, value):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_kv_store_over_any_get_set_delete_storage():
    storage = DictStorage()
    store = KVStore(storage, "patreon_creator_token")
    store.put(token("a"))
    assert json.loads(storage["patreon_creator_token"])["access_token"] == "access-a"
    assert store.get().access_token == "access-a"
    assert [t.access_token for t in store.list()] == ["access-a"]
    with store.lock():  # no storage lock: falls back to a process lock
        pass
    store.delete()
    assert store.get() is None


def test_kv_store_encrypts_so_no_token_is_stored_in_plaintext():
    storage = fakeredis.FakeRedis()
    store = KVStore(storage, "t", cipher=fernet_cipher([Fernet.generate_key().decode()]))
    store.put(token("secret-value"))
    raw = storage.get("t")
    assert b"secret-value" not in raw
    assert store.get().access_token == "access-secret-value"


def test_key_rotation_decrypts_with_old_keys_and_encrypts_with_the_first():
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    storage = DictStorage()
    KVStore(storage, "t", cipher=fernet_cipher([old_key])).put(token("a"))
    rotated = KVStore(storage, "t", cipher=fernet_cipher([new_key, old_key]))
    assert rotated.get().access_token == "access-a"
    rotated.put(token("b"))
    assert KVStore(storage, "t", cipher=fernet_cipher([new_key])).get().access_token == "access-b"


def test_an_undecryptable_token_reads_as_missing_and_is_kept(caplog):
    storage = DictStorage()
    KVStore(storage, "t", cipher=fernet_cipher([Fernet.generate_key().decode()])).put(token("a"))
    before = storage["t"]
    stranger = KVStore(storage, "t", cipher=fernet_cipher([Fernet.generate_key().decode()]))
    assert stranger.get() is None
    assert storage["t"] == before
    assert "cannot be decrypted" in caplog.text
    assert "access-a" not in caplog.text


def test_kv_store_uses_the_storage_lock_when_it_has_one():
    storage = fakeredis.FakeRedis()
    store = KVStore(storage, "t", lock_key="lock:t", lock_timeout=5)
    with store.lock():
        assert storage.exists("lock:t")
    assert not storage.exists("lock:t")


def test_a_custom_store_is_any_object_with_the_four_methods():
    values = {}

    class CustomStore:
        def get(self):
            return values.get("creator_token")

        def put(self, value):
            values["creator_token"] = value

        def delete(self):
            values.pop("creator_token", None)

        def list(self):
            return list(values.values())

    store = ensure_store(CustomStore())
    client = PatreonCreatorClient(client_id="c", client_secret="s", store=store)
    store.put(token("custom"))
    assert client.token.access_token == "access-custom"
    with pytest.raises(TypeError, match="list"):
        ensure_store(object())


class TokenServer(BaseHTTPRequestHandler):
    """An HTTP token server like the guide's Fetch store expects: GET and PUT."""

    stored: bytes | None = None
    secret = "server-token"

    def do_GET(self):
        if not self._authorized():
            return
        if TokenServer.stored is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(TokenServer.stored)

    def do_PUT(self):
        if not self._authorized():
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        TokenServer.stored = None if body == b"null" else body
        self.send_response(204)
        self.end_headers()

    def _authorized(self):
        if self.headers.get("Authorization") == self.secret:
            return True
        self.send_response(401)
        self.end_headers()
        return False

    def log_message(self, *args):
        pass


@pytest.fixture
def token_server():
    TokenServer.stored = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/patreon-token"
    server.shutdown()
    server.server_close()


def test_fetch_store_gets_and_puts_over_real_http(token_server):
    store = FetchStore(token_server, headers={"Authorization": "server-token"})
    assert store.get() is None
    store.put(token("fetched"))
    assert json.loads(TokenServer.stored)["access_token"] == "access-fetched"
    assert store.get().access_token == "access-fetched"
    store.delete()
    assert store.get() is None


def test_fetch_store_with_the_callers_own_session(token_server):
    session = requests.Session()
    session.headers["Authorization"] = "server-token"
    store = FetchStore(token_server, session=session)
    store.put(token("s"))
    assert store.list()[0].access_token == "access-s"


def test_fetch_store_reports_a_refusing_server(token_server):
    store = FetchStore(token_server, headers={"Authorization": "wrong"})
    with pytest.raises(StoreError, match="401"):
        store.get()
    with pytest.raises(StoreError):
        FetchStore("http://127.0.0.1:9/none", timeout=1).get()
