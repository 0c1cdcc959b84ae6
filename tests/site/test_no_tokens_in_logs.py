"""No access or refresh token in any log record, at DEBUG (SPEC §5, §9: log the user id,
not the token) over a login, a gated view that re-reads the pledge, a refresh, a logout."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest

from tests.site.helpers import age_snapshot, sandbox_calls, services

BROWSER_KEY = re.compile(r'name="browser_key" value="([^"]+)"')


def expire_locally(app, client) -> None:
    """The stored token is past its expiry: the site refreshes before asking Patreon."""
    store = services(app).user_store("202")
    store.put(dataclasses.replace(store.get(), expires_in_epoch=1.0))


def expire_at_patreon(app, client) -> None:
    """Patreon (the sandbox's control page) kills the access token: a 401, then a refresh."""
    page = client.get("/sandbox/").get_data(as_text=True)
    key = BROWSER_KEY.search(page).group(1)
    answer = client.post("/sandbox/personas/patron-high/expire", data={"browser_key": key})
    assert answer.status_code in (302, 303)


@pytest.mark.parametrize("expire", [expire_locally, expire_at_patreon])
def test_no_token_reaches_a_log_record(app, client, auth, caplog, expire):
    svc = services(app)
    with caplog.at_level(logging.DEBUG):
        auth.login("patron-high", "/members")
        first = svc.user_store("202").get()
        expire(app, client)
        age_snapshot(app, "202", 3600)  # stale: the gated view asks Patreon again
        assert client.get("/members/vip").status_code == 200
        refreshed = svc.user_store("202").get()
        auth.logout()
    assert refreshed.refresh_token != first.refresh_token  # a refresh did happen
    assert sandbox_calls(client, "token:refresh") >= 1
    creator = svc.creator_store().get()
    secrets = [
        token
        for stored in (first, refreshed, creator)
        for token in (stored.access_token, stored.refresh_token)
        if token
    ]
    assert caplog.records  # DEBUG logging was captured
    logged = [record_text(record) for record in caplog.records] + [caplog.text]
    for secret in secrets:
        assert not any(secret in text for text in logged)


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write: the message, its arguments, any traceback."""
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)
