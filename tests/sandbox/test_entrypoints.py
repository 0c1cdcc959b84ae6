"""How the sandbox is started: inside the site, on its own port, never in production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import base_env
from webapp import create_app
from webapp.config import INTERNAL_ORIGIN, ConfigError
from webapp.inprocess import transports_for
from webapp.sandbox.__main__ import SettingsError, main, settings_from_env

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "production-secret",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PATREON_CLIENT_ID": "real-client",
    "PATREON_CLIENT_SECRET": "real-secret",
}


# -- inside the site -----------------------------------------------------------------


def test_the_development_site_mounts_the_sandbox_and_its_portal_token_works():
    app = create_app(base_env())
    config = app.config["PATRON_GATE"]
    assert app.test_client().get("/sandbox/").status_code == 200
    session = requests.Session()
    for prefix, adapter in transports_for(INTERNAL_ORIGIN, app).items():
        session.mount(prefix, adapter)
    identity = session.get(
        f"{config.patreon_base_url}/api/oauth2/v2/identity",
        params={"include": "campaign", "fields[campaign]": "pledge_url"},
        headers={"Authorization": f"Bearer {config.creator_access_token}"},
    )
    assert identity.status_code == 200
    assert identity.json()["included"][0]["attributes"] == {"pledge_url": "/sandbox/c/5000/join"}


def test_the_sites_sandbox_keys_live_under_its_redis_prefix():
    app = create_app(base_env(REDIS_PREFIX="site-a:"))
    app.test_client().get("/sandbox/")
    keys = app.extensions["redis"].keys("*")
    assert all(k.startswith("site-a:") for k in keys)
    assert any(k.startswith("site-a:sandbox:") for k in keys)


def test_the_sandbox_cannot_be_enabled_in_production():
    with pytest.raises(ConfigError, match="PATREON_SANDBOX cannot be enabled in production"):
        create_app({**PRODUCTION, "PATREON_SANDBOX": "1"})


def test_a_production_site_has_no_sandbox():
    app = create_app(PRODUCTION)
    assert "sandbox" not in app.blueprints
    assert app.test_client().get("/sandbox/").status_code == 404
    assert app.test_client().get("/sandbox/oauth2/authorize").status_code == 404


def test_a_site_with_a_real_client_id_has_no_sandbox_by_default():
    app = create_app(base_env(PATREON_CLIENT_ID="real", PATREON_CLIENT_SECRET="secret"))
    assert "sandbox" not in app.blueprints


# -- on its own port -----------------------------------------------------------------


def run_module(*args: str, env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "webapp.sandbox", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_python_m_webapp_sandbox_refuses_production():
    done = run_module("--port", "1", env={"APP_ENV": "production"})
    assert done.returncode == 2
    assert "APP_ENV=production" in done.stderr


def test_main_refuses_a_bad_number():
    assert main(["--port", "1"], {"SANDBOX_MEMBERS": "many"}) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_m_webapp_sandbox_serves_on_its_port():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SANDBOX_MEMBERS": "3", "APP_ENV": ""}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = None
        for _ in range(100):
            try:
                page = requests.get(f"http://127.0.0.1:{port}/sandbox/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200
        assert ">8<" in page.text  # 5 persona members + 3 generated
        css = requests.get(f"http://127.0.0.1:{port}/static/css/site.css", timeout=2)
        assert css.status_code == 200 and "--color-primary" in css.text
        root = requests.get(f"http://127.0.0.1:{port}/", timeout=2, allow_redirects=False)
        assert root.headers["Location"].endswith("/sandbox/")
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_settings_from_the_environment():
    settings = settings_from_env(
        {
            "REDIS_PREFIX": "demo:",
            "SANDBOX_CLIENT_ID": "cid",
            "SANDBOX_CLIENT_SECRET": "secret",
            "SANDBOX_REDIRECT_URIS": "http://a.test/cb, /callback",
            "SANDBOX_WEBHOOK_SECRET": "whs",
            "SANDBOX_WEBHOOK_URLS": "http://a.test/webhooks/patreon",
            "SANDBOX_TOKEN_TTL": "60",
            "SANDBOX_MEMBERS": "250",
            "SANDBOX_CREATOR_ACCESS_TOKEN": "cat",
            "SANDBOX_CREATOR_REFRESH_TOKEN": "crt",
        }
    )
    assert settings.key_prefix == "demo:sandbox:"
    assert settings.redirect_uris == ("http://a.test/cb", "/callback")
    assert (settings.client_id, settings.client_secret) == ("cid", "secret")
    assert (settings.token_ttl, settings.extra_members) == (60, 250)
    assert settings.webhook_urls == ("http://a.test/webhooks/patreon",)
    assert (settings.creator_access_token, settings.creator_refresh_token) == ("cat", "crt")


def test_settings_defaults_suit_a_local_site():
    settings = settings_from_env({})
    assert settings.key_prefix == "gate:sandbox:"
    assert settings.client_id == "patron-gate-sandbox"
    assert "http://127.0.0.1:5000/auth/patreon/callback" in settings.redirect_uris
    assert settings.webhook_secret is None and settings.creator_access_token is None


@pytest.mark.parametrize("name", ["SANDBOX_TOKEN_TTL", "SANDBOX_MEMBERS"])
def test_settings_refuse_bad_numbers(name):
    with pytest.raises(SettingsError, match=name):
        settings_from_env({name: "-1" if name == "SANDBOX_MEMBERS" else "0"})


# -- over real HTTP, as the client's integration tests use it ------------------------


def test_sandbox_http_logs_a_persona_in_and_serves_the_api(sandbox_http):
    tokens = sandbox_http.token_for("patron-high")
    identity = requests.get(
        f"{sandbox_http.base_url}/api/oauth2/v2/identity",
        params={"fields[user]": "full_name"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert identity.json()["data"]["attributes"] == {"full_name": "Harper High"}
    assert sandbox_http.redirect_uri == f"{sandbox_http.origin}/callback"


@pytest.mark.parametrize("sandbox_http", [{"extra_members": 1200}], indirect=True)
def test_sandbox_http_takes_settings_overrides(sandbox_http):
    members = requests.get(
        f"{sandbox_http.base_url}/api/oauth2/v2/campaigns/5000/members",
        params={"page[count]": "1000"},
        headers={"Authorization": f"Bearer {sandbox_http.creator_access_token}"},
        timeout=5,
    ).json()
    assert members["meta"]["pagination"]["total"] == 1205
    assert members["links"]["next"].startswith(sandbox_http.base_url)
