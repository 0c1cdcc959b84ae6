"""`flask patreon ...`: the creator token, the members sync and the webhook from a terminal."""

from __future__ import annotations

import json
import re
import time

import click._termui_impl
import pytest

from tests.conftest import base_env
from tests.site.helpers import PatreonTrouble, sandbox_calls, services, site_state
from webapp import create_app
from webapp.patreon import StoredToken
from webapp.patreon.webhooks import MEMBER_TRIGGERS
from webapp.site.members_index import MembersIndex

SITE_WEBHOOK = "http://patron-gate.internal/webhooks/patreon"


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=["patreon", *args])

    return run


def secrets_in(app) -> list[str]:
    """Every token the creator has: none of them may ever be printed."""
    svc = services(app)
    stored = svc.creator_store().get()
    values = [svc.config.creator_access_token, svc.config.creator_refresh_token]
    if stored is not None:
        values += [stored.access_token, stored.refresh_token]
    return [v for v in values if v]


# -- store-creator-token ----------------------------------------------------------------


def test_store_creator_token_stores_the_environments_token_when_none_is_stored(app, run):
    svc = services(app)
    svc.redis.delete(svc.keys.creator_token)
    result = run("store-creator-token")
    assert result.exit_code == 0, result.output
    assert "Stored the creator token" in result.output
    stored = svc.creator_store().get()
    assert stored.access_token == svc.config.creator_access_token
    assert stored.refresh_token == svc.config.creator_refresh_token
    assert svc.config.creator_access_token not in svc.redis.get(svc.keys.creator_token)
    for secret in secrets_in(app):
        assert secret not in result.output


def test_store_creator_token_never_overwrites_a_stored_token(app, run):
    svc = services(app)
    newer = StoredToken(
        access_token="refreshed-access", refresh_token="refreshed-refresh", expires_in=3600
    )
    svc.creator_store().put(newer)
    raw = svc.redis.get(svc.keys.creator_token)
    result = run("store-creator-token")
    assert result.exit_code == 0
    assert "already stored" in result.output
    assert svc.redis.get(svc.keys.creator_token) == raw
    assert svc.creator_store().get().access_token == "refreshed-access"


def test_store_creator_token_never_overwrites_a_token_it_cannot_decrypt(app, run):
    svc = services(app)
    # Encrypted with a key this process does not have (e.g. a rotation gone wrong):
    # the right key may come back, so the token must survive.
    svc.redis.set(svc.keys.creator_token, "gAAAAABencrypted-with-another-key")
    result = run("store-creator-token")
    assert result.exit_code == 0
    assert "already stored" in result.output
    assert svc.redis.get(svc.keys.creator_token) == "gAAAAABencrypted-with-another-key"


def test_store_creator_token_without_one_in_the_environment_is_an_error():
    app = create_app(
        base_env(PATREON_SANDBOX="off", PATREON_CLIENT_ID="id", PATREON_CLIENT_SECRET="secret")
    )
    result = app.test_cli_runner().invoke(args=["patreon", "store-creator-token"])
    assert result.exit_code == 1
    assert "PATREON_CREATOR_ACCESS_TOKEN is not set" in result.output
    assert site_state(app) == {}


# -- token-status -------------------------------------------------------------------------


def test_token_status_describes_the_stored_token_and_never_prints_it(app, run):
    svc = services(app)
    result = run("token-status")
    assert result.exit_code == 0
    assert "expiry is unknown" in result.output and "Refresh token: present" in result.output
    for secret in secrets_in(app):
        assert secret not in result.output

    in_two_days = StoredToken(
        access_token="access-two-days",
        refresh_token="refresh-two-days",
        expires_in=172800,
        expires_in_epoch=time.time() + 172800,
    )
    svc.redis.delete(svc.keys.creator_token)
    svc.creator_store().put(in_two_days)
    result = run("token-status")
    assert "expires in 2.0 days" in result.output
    assert "access-two-days" not in result.output and "refresh-two-days" not in result.output

    expired = StoredToken(access_token="old-access", expires_in_epoch=time.time() - 60)
    svc.creator_store().put(expired)
    result = run("token-status")
    assert "has expired" in result.output and "Refresh token: missing" in result.output
    assert "old-access" not in result.output


def test_token_status_without_a_token_says_how_to_store_one(app, run):
    svc = services(app)
    svc.redis.delete(svc.keys.creator_token)
    result = run("token-status")
    assert result.exit_code == 0
    assert "No creator token is stored" in result.output
    assert "store-creator-token" in result.output


def test_token_status_tells_an_undecryptable_token_from_a_missing_one(app, run):
    """Pointing at store-creator-token would be a dead end: it never overwrites."""
    svc = services(app)
    svc.redis.set(svc.keys.creator_token, "gAAAAABencrypted-with-another-key")
    result = run("token-status")
    assert "cannot be decrypted" in result.output
    assert "TOKEN_ENCRYPTION_KEY" in result.output
    assert "No creator token is stored" not in result.output
    assert "gAAAAAB" not in result.output


# -- sync ---------------------------------------------------------------------------------


@pytest.mark.parametrize("app_env", [base_env(SANDBOX_MEMBERS="2500")])
def test_sync_reads_every_member_page_by_page_with_a_progress_bar(app, run, monkeypatch):
    # A terminal, so click draws the bar (it stays quiet when writing to a pipe).
    monkeypatch.setattr(click._termui_impl, "isatty", lambda stream: True)
    result = run("sync")
    assert result.exit_code == 0, result.output
    assert re.search(r"Synced 2,505 members in \d+\.\ds\.", result.output)
    progress = re.findall(r"Reading members .*?(\d+)/2505", result.output)
    assert progress == ["0", "1000", "2000", "2505"]
    assert MembersIndex(services(app), "5000").summary([]).total == 2505
    assert sandbox_calls(app.test_client(), "campaign_members") == 3


def test_sync_when_patreon_fails_is_a_plain_error_and_keeps_the_index(app, run, monkeypatch):
    assert run("sync").exit_code == 0
    before = site_state(app)
    trouble = PatreonTrouble(monkeypatch)
    trouble.mode, trouble.only = "429", "/members"
    result = run("sync")
    assert result.exit_code == 1
    assert result.output.startswith("Error: sync failed: Patreon answered 429")
    assert "Traceback" not in result.output
    after = site_state(app)
    assert {k: v for k, v in after.items() if k.startswith("members:")} == {
        k: v for k, v in before.items() if k.startswith("members:")
    }


# -- register-webhook -----------------------------------------------------------------------


def sandbox_webhooks(app) -> list[dict]:
    """The webhooks Patreon (the sandbox) holds for this client, read through its API."""
    token = services(app).creator_store().get().access_token
    answer = app.test_client().get(
        "/sandbox/api/oauth2/v2/webhooks",
        query_string={"fields[webhook]": "uri,triggers,secret,paused"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    return [dict(w["attributes"], id=w["id"]) for w in answer.json["data"]]


def test_register_webhook_creates_it_through_the_api_and_prints_the_secret_once(app, run):
    result = run("register-webhook", "--uri", SITE_WEBHOOK)
    assert result.exit_code == 0, result.output
    match = re.search(r"Webhook (\S+) created for campaign 5000\.", result.output)
    secret = result.output.strip().splitlines()[-1]
    [webhook] = sandbox_webhooks(app)
    assert webhook["id"] == match.group(1)
    assert webhook["uri"] == SITE_WEBHOOK
    assert sorted(webhook["triggers"]) == sorted(MEMBER_TRIGGERS)
    assert webhook["secret"] == secret and len(secret) >= 20
    assert webhook["paused"] is False
    for token in secrets_in(app):
        assert token not in result.output


@pytest.mark.parametrize("uri", ["not a url", "ftp://example.com/hook"])
def test_register_webhook_with_an_unusable_uri_is_refused_plainly(app, run, uri):
    result = run("register-webhook", "--uri", uri)
    assert result.exit_code == 1
    assert result.output.startswith("Error: Patreon refused:")
    assert "Traceback" not in result.output
    assert sandbox_webhooks(app) == []


def test_register_webhook_requires_a_uri(run):
    result = run("register-webhook")
    assert result.exit_code == 2
    assert "--uri" in result.output


def test_register_webhook_while_patreon_is_down_is_a_plain_error(app, run, monkeypatch):
    trouble = PatreonTrouble(monkeypatch)
    trouble.mode = "down"
    result = run("register-webhook", "--uri", SITE_WEBHOOK)
    assert result.exit_code == 1
    assert "Patreon refused" in result.output and "Traceback" not in result.output
    trouble.mode = None
    assert sandbox_webhooks(app) == []


def test_the_printed_secret_is_what_the_site_needs_to_accept_the_webhooks_deliveries(
    redis_url, redis_prefix
):
    """README step 5: register, then set the printed secret as PATREON_WEBHOOK_SECRET."""
    env = base_env(REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    before = create_app(env)
    output = (
        before.test_cli_runner()
        .invoke(args=["patreon", "register-webhook", "--uri", SITE_WEBHOOK])
        .output
    )
    secret = output.strip().splitlines()[-1]
    # The sandbox signs each delivery with the secret of its target: the site's configured
    # one, and the secret of the webhook just created. The site knows only the first.
    assert deliveries_of_a_pledge_change(before, "declined_patron") == {
        "configured": 200,
        "webhook 1": 401,
    }
    after = create_app({**env, "PATREON_WEBHOOK_SECRET": secret})  # the operator's next step
    assert deliveries_of_a_pledge_change(after, "active_patron")["webhook 1"] == 200


def deliveries_of_a_pledge_change(app, status: str) -> dict[str, int]:
    """Change Lee's pledge on the control page; each target's answer to the webhook."""
    client = app.test_client()
    page = client.get("/sandbox/").get_data(as_text=True)
    key = re.search(r'name="browser_key" value="([^"]+)"', page).group(1)
    form = {"browser_key": key, "status": status, "tier": "6001", "amount_cents": ""}
    saved = client.post(
        "/sandbox/personas/patron-low/pledge", data={**form, "event": "members:pledge:update"}
    )
    assert "n=2" in saved.headers["Location"]
    svc = services(app)
    newest = svc.redis.lrange(f"{svc.keys.sandbox_prefix}deliveries", 0, 1)
    return {d["target"]: d["status"] for d in map(json.loads, newest)}
