"""POST /webhooks/patreon (SPEC §7): signed member events change access at once.

Bodies and signatures are built in tests/site/helpers.py from Patreon's shapes,
independently of the site's own `sign`.
"""

from __future__ import annotations

import json
import re

import pytest
import redis

from tests.conftest import base_env
from tests.site.conftest import AuthActions
from tests.site.helpers import (
    OTHER_CAMPAIGN_ID,
    WEBHOOK_SECRET,
    declined_body,
    member_body,
    patreon_signature,
    post_webhook,
    sandbox_calls,
    services,
    site_state,
    stored_snapshot,
)
from webapp import create_app
from webapp.site.members_index import MembersIndex

OLD_SECRET = "site-webhook-secret-previous"


@pytest.fixture
def app_env():
    # A long TTL: anything that opens or closes a page here is the webhook, not a re-read.
    return base_env(PATREON_WEBHOOK_SECRET=WEBHOOK_SECRET, MEMBERSHIP_TTL="3600")


@pytest.fixture
def patron(auth, client):
    """Lee Low (patron-low, $5 Supporter) logged in."""
    auth.login("patron-low")
    assert client.get("/members").status_code == 200
    assert client.get("/members/vip").status_code == 403
    return client


@pytest.fixture
def creator(app):
    """A second browser, logged in as the creator, after a members sync."""
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.login("creator")
    synced = browser.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/dashboard")})
    assert synced.status_code == 302
    return browser


def index_of(app) -> MembersIndex:
    return MembersIndex(services(app), "5000")


def csv_names(browser, **filters) -> list[str]:
    answer = browser.get("/dashboard/members.csv", query_string=filters)
    assert answer.status_code == 200
    return [line.split(",")[0] for line in answer.get_data(as_text=True).splitlines()[1:]]


def events(app) -> list[dict]:
    svc = services(app)
    return [json.loads(e) for e in svc.redis.lrange(svc.keys.webhook_events, 0, -1)]


# -- a valid event changes access at once ----------------------------------------------


def test_a_pledge_raised_to_vip_opens_the_vip_page_once_patreon_confirms_it(app, patron, creator):
    patreon_records(patron, "active_patron", tier="6002")
    identity_calls = sandbox_calls(patron, "identity")
    before = index_of(app).summary(["6001", "6002"])
    answer = post_webhook(patron, member_body("201", cents=1500, tiers=(("6002", "VIP"),)))
    assert answer.status_code == 200 and answer.json["status"] == "applied"
    # Stored at once, but stale: it widens access, so Patreon confirms it first.
    snapshot = stored_snapshot(app, "201")
    assert snapshot.source == "webhook" and snapshot.tier_titles == ("VIP",)
    assert snapshot.age() > 3600

    assert patron.get("/members/vip").status_code == 200
    # One identity call with Lee's token confirmed it; the confirmed snapshot is fresh.
    assert sandbox_calls(patron, "identity") == identity_calls + 1
    snapshot = stored_snapshot(app, "201")
    assert snapshot.source == "identity" and snapshot.tier_titles == ("VIP",)
    assert patron.get("/api/me").json["rules"]["/members/vip"]["passes"] is True
    assert sandbox_calls(patron, "identity") == identity_calls + 1

    # The dashboard's index moved Lee from Supporter to VIP, and the money with them.
    after = index_of(app).summary(["6001", "6002"])
    assert after.by_tier == {"6001": before.by_tier["6001"] - 1, "6002": before.by_tier["6002"] + 1}
    assert after.monthly_cents == before.monthly_cents + 1000
    assert after.patrons == before.patrons
    assert "Lee Low" in csv_names(creator, tier="6002")
    assert "Lee Low" not in csv_names(creator, tier="6001")
    dashboard = creator.get("/dashboard").get_data(as_text=True)
    assert "members:pledge:update" in dashboard and "Lee Low" in dashboard
    assert "$30.00" in dashboard  # $15 (Harper) + $15 (Lee), was $20


@pytest.mark.parametrize(
    ("trigger", "body"),
    [
        ("members:pledge:update", declined_body("201")),
        ("members:pledge:delete", member_body("201", status="former_patron", cents=0, tiers=())),
        # A deleted member is gone whatever the body still says about the pledge.
        ("members:delete", member_body("201", cents=500, tiers=(("6001", "Supporter"),))),
    ],
)
def test_a_declined_or_deleted_member_loses_members_at_once(app, patron, creator, trigger, body):
    identity_calls = sandbox_calls(patron, "identity")
    answer = post_webhook(patron, body, trigger)
    assert answer.status_code == 200 and answer.json["status"] == "applied"
    assert patron.get("/members").status_code == 403
    assert sandbox_calls(patron, "identity") == identity_calls  # no need to ask Patreon
    assert stored_snapshot(app, "201").is_active_patron is False
    assert "Lee Low" not in csv_names(creator, status="active_patron")
    assert index_of(app).summary([]).monthly_cents == 1500  # only Harper's $15 is left


def test_a_webhook_for_someone_who_never_logged_in_is_kept_for_their_first_visit(app, client):
    post_webhook(
        client, member_body("202", name="Harper High", cents=5000, tiers=(("6003", "Studio Pass"),))
    )
    assert stored_snapshot(app, "202").tier_ids == ("6003",)
    assert events(app)[0]["user_id"] == "202"


# -- refused deliveries change nothing -------------------------------------------------


def _other_body_signature(body: bytes) -> str:
    return patreon_signature(WEBHOOK_SECRET, body + b" ")


@pytest.mark.parametrize(
    "signature",
    [
        None,  # no header
        "",
        "not-hex-at-all",
        "0" * 32,
        patreon_signature("a-secret-we-never-configured", member_body("201")),
        _other_body_signature(member_body("201")),
        patreon_signature(WEBHOOK_SECRET, member_body("201"))[:-2],  # truncated
        "é" * 32,  # not ASCII
    ],
    ids=["missing", "empty", "garbage", "zeros", "wrong-secret", "other-body", "short", "unicode"],
)
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(app, patron, creator, signature):
    before = site_state(app)
    answer = post_webhook(patron, member_body("201"), signature=signature)
    assert answer.status_code == 401
    assert answer.json["error"] == "Not authorized"
    assert site_state(app) == before  # snapshot, index, events, seen-bodies: all untouched
    assert patron.get("/members/vip").status_code == 403


def test_the_signature_is_accepted_in_upper_case_hex(app, patron):
    patreon_records(patron, "active_patron", tier="6002")
    body = member_body("201")
    answer = post_webhook(patron, body, signature=patreon_signature(WEBHOOK_SECRET, body).upper())
    assert answer.status_code == 200
    assert patron.get("/members/vip").status_code == 200


@pytest.mark.parametrize(
    "app_env", [base_env(PATREON_WEBHOOK_SECRET=f"{WEBHOOK_SECRET}, {OLD_SECRET}")]
)
def test_every_configured_secret_is_accepted_while_the_secret_rotates(app, patron):
    patreon_records(patron, "active_patron", tier="6002")  # what the last event says
    assert post_webhook(patron, declined_body("201"), secret=OLD_SECRET).status_code == 200
    assert patron.get("/members").status_code == 403
    assert post_webhook(patron, member_body("201"), secret=WEBHOOK_SECRET).status_code == 200
    assert patron.get("/members/vip").status_code == 200
    stranger = post_webhook(patron, declined_body("201", name="x"), secret="retired-long-ago")
    assert stranger.status_code == 401
    assert patron.get("/members/vip").status_code == 200


def _document(data) -> bytes:
    return json.dumps({"data": data}).encode()


def _member_without(relationship: str) -> bytes:
    document = json.loads(member_body("201"))
    del document["data"]["relationships"][relationship]
    return json.dumps(document).encode()


def _member_with(**attributes) -> bytes:
    document = json.loads(member_body("201"))
    document["data"]["attributes"].update(attributes)
    return json.dumps(document).encode()


def _tiers_as_an_attribute(tiers) -> bytes:
    document = json.loads(_member_without("currently_entitled_tiers"))
    document["data"]["attributes"]["currently_entitled_tiers"] = tiers
    return json.dumps(document).encode()


def _relationships(value) -> bytes:
    document = json.loads(member_body("201"))
    document["data"]["relationships"] = value
    return json.dumps(document).encode()


# Deeper than Python's JSON parser can recurse.
DEEPLY_NESTED = b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("trigger", "body"),
    [
        ("members:update", b""),
        ("members:update", b"{not json"),
        ("members:update", b"\xff\xfe\x00garbage"),
        ("members:update", b"[1, 2, 3]"),
        ("members:update", b'{"included": []}'),
        ("members:update", _document(None)),
        ("members:update", _document([{"type": "member", "id": "m-1"}])),
        ("members:update", _document({"type": "user", "id": "201", "attributes": {}})),
        ("members:update", _member_without("user")),
        ("members:update", _member_without("campaign")),
        ("members:update", _member_with(currently_entitled_amount_cents="lots")),
        ("members:update", _member_with(currently_entitled_amount_cents={"cents": 5})),
        ("members:update", _member_with(full_name=["Lee", "Low"])),
        ("members:update", _member_with(patron_status={"active": True})),
        ("members:update", _member_with(currently_entitled_amount_cents=10**30)),
        ("members:update", _member_with(currently_entitled_amount_cents=-500)),
        ("members:update", _tiers_as_an_attribute([1])),
        ("members:update", _tiers_as_an_attribute(["VIP"])),
        ("members:update", _relationships(1)),
        ("members:update", _relationships([{"user": {"data": {"type": "user"}}}])),
        ("members:update", _document([1])),
        ("members:update", DEEPLY_NESTED),
        ("members:delete", DEEPLY_NESTED),
        ("posts:publish", member_body("201")),
        ("members:pledge:upgrade", member_body("201")),
        (None, member_body("201")),
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "json-array",
        "no-data",
        "null-data",
        "data-list",
        "not-a-member",
        "no-user",
        "no-campaign",
        "cents-text",
        "cents-object",
        "name-list",
        "status-object",
        "cents-huge",
        "cents-negative",
        "tiers-numbers",
        "tiers-text",
        "relationships-number",
        "relationships-list",
        "data-list-of-numbers",
        "deeply-nested",
        "deeply-nested-delete",
        "post-trigger",
        "unknown-trigger",
        "no-trigger",
    ],
)
def test_a_malformed_or_unknown_event_is_400_and_changes_nothing(app, patron, trigger, body):
    before = site_state(app)
    answer = post_webhook(patron, body, trigger)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.json["reason"]
    assert site_state(app) == before
    assert patron.get("/members/vip").status_code == 403


# -- repeated deliveries ---------------------------------------------------------------


def test_the_same_body_delivered_twice_is_applied_once(app, patron):
    body = member_body("201")
    assert post_webhook(patron, body).json["status"] == "applied"
    state = site_state(app)
    again = post_webhook(patron, body)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert site_state(app) == state
    assert len(events(app)) == 1


def test_an_old_body_replayed_never_overwrites_a_later_event(app, patron):
    upgrade = member_body("201")
    post_webhook(patron, upgrade)
    post_webhook(patron, declined_body("201"))
    assert patron.get("/members").status_code == 403

    # Patreon retrying the old delivery, or someone who captured it, under any trigger
    # (the trigger header is not covered by the signature).
    for trigger in ("members:pledge:update", "members:update", "members:pledge:create"):
        replay = post_webhook(patron, upgrade, trigger)
        assert replay.status_code == 200 and replay.json["status"] == "duplicate"
    assert patron.get("/members").status_code == 403
    assert stored_snapshot(app, "201").patron_status == "declined_patron"
    assert [e["patron_status"] for e in events(app)] == ["declined_patron", "active_patron"]


def test_a_member_deleted_with_the_body_of_their_last_update_is_still_deleted(app, patron):
    body = member_body("201", cents=500, tiers=(("6001", "Supporter"),))
    assert post_webhook(patron, body, "members:update").json["status"] == "applied"
    assert post_webhook(patron, body, "members:delete").json["status"] == "applied"
    assert patron.get("/members").status_code == 403


# -- late, out-of-order and replayed deliveries -----------------------------------------
#
# Patreon retries failed deliveries later, in bulk and out of order, and does not sign
# the trigger header. So a validly signed body may be older than what the site knows:
# one that narrows access decides at once, one that widens it waits for Patreon's word.


def patreon_records(client, status: str, tier: str = "", persona: str = "patron-low"):
    """Change the pledge on Patreon's side (the sandbox) without sending a webhook."""
    assert change_pledge(client, persona, "", status=status, tier=tier).status_code == 303


def test_a_downgrade_closes_the_page_at_once_without_asking_patreon(app, client, auth):
    auth.login("patron-high")
    assert client.get("/members/vip").status_code == 200
    identity_calls = sandbox_calls(client, "identity")
    # Harper drops from VIP ($15) to a $5 pledge without a tier: less, nothing new.
    body = member_body("202", name="Harper High", cents=500, tiers=())
    assert post_webhook(client, body).json["status"] == "applied"
    assert client.get("/members/vip").status_code == 403
    assert client.get("/members").status_code == 200
    assert sandbox_calls(client, "identity") == identity_calls
    assert stored_snapshot(app, "202").source == "webhook"


def test_a_move_to_another_tier_is_confirmed_as_the_new_tier_may_open_pages(app, client, auth):
    """VIP -> Supporter closes the VIP page, but a tier:Supporter page could open."""
    auth.login("patron-high")
    patreon_records(client, "active_patron", tier="6001", persona="patron-high")
    identity_calls = sandbox_calls(client, "identity")
    body = member_body("202", name="Harper High", cents=500, tiers=(("6001", "Supporter"),))
    assert post_webhook(client, body).json["status"] == "applied"
    assert client.get("/members/vip").status_code == 403
    assert sandbox_calls(client, "identity") == identity_calls + 1
    assert stored_snapshot(app, "202").tier_ids == ("6001",)


def test_an_older_body_after_a_newer_downgrade_opens_nothing_without_patreon(app, patron):
    older = member_body("201", charge_date="2025-05-01T09:00:00.000+00:00")  # active, VIP
    patreon_records(patron, "declined_patron", tier="6001")
    assert post_webhook(patron, declined_body("201")).json["status"] == "applied"
    assert patron.get("/members").status_code == 403

    identity_calls = sandbox_calls(patron, "identity")
    # Patreon retries the older delivery that failed: another body, validly signed.
    assert post_webhook(patron, older).json["status"] == "applied"
    assert stored_snapshot(app, "201").age() > 3600  # kept, but not fit to decide alone
    assert patron.get("/members").status_code == 403
    assert patron.get("/members/vip").status_code == 403
    assert sandbox_calls(patron, "identity") == identity_calls + 1  # asked once, then fresh
    snapshot = stored_snapshot(app, "201")
    assert snapshot.source == "identity" and snapshot.patron_status == "declined_patron"


def test_several_older_bodies_in_a_row_still_wait_for_patreon(app, patron):
    """Each is compared with the last snapshot fit to decide, not with the unconfirmed one."""
    patreon_records(patron, "declined_patron", tier="6001")
    post_webhook(patron, declined_body("201"))
    for day in ("03", "04", "05"):  # Patreon's bulk retry of three failed deliveries
        older = member_body("201", charge_date=f"2025-{day}-01T09:00:00.000+00:00")
        assert post_webhook(patron, older).json["status"] == "applied"
    assert stored_snapshot(app, "201").age() > 3600
    assert patron.get("/members").status_code == 403


def test_a_deleted_members_body_replayed_as_an_update_does_not_reopen(app, patron):
    body = member_body("201", cents=500, tiers=(("6001", "Supporter"),))
    patreon_records(patron, "former_patron")
    assert post_webhook(patron, body, "members:delete").json["status"] == "applied"
    assert patron.get("/members").status_code == 403

    identity_calls = sandbox_calls(patron, "identity")
    # The trigger is not signed: the same body, now claiming to be an update.
    assert post_webhook(patron, body, "members:update").json["status"] == "applied"
    assert patron.get("/members").status_code == 403
    assert sandbox_calls(patron, "identity") == identity_calls + 1
    assert stored_snapshot(app, "201").patron_status == "former_patron"


def test_an_unconfirmed_upgrade_is_shown_on_the_dashboard_at_once(app, patron, creator):
    """The index is display, not access: it may show the event before Patreon confirms."""
    post_webhook(patron, member_body("201", cents=1500, tiers=(("6002", "VIP"),)))
    assert "Lee Low" in csv_names(creator, tier="6002")


# -- which deliveries the site takes at all --------------------------------------------


def test_without_a_configured_secret_the_webhook_route_does_not_exist():
    app = create_app(
        base_env(
            PATREON_SANDBOX="off",
            PATREON_CLIENT_ID="real-client",
            PATREON_CLIENT_SECRET="real-secret",
            PATREON_CAMPAIGN_ID="5000",
        )
    )
    assert app.extensions["patron_gate"].config.webhook_secrets == ()
    client = app.test_client()
    for signature in (None, patreon_signature("", member_body("201"))):
        answer = post_webhook(client, member_body("201"), signature=signature)
        assert answer.status_code == 404
        assert answer.is_json
    assert site_state(app) == {}


def test_an_event_for_another_campaign_is_ignored(app, patron, creator):
    before = site_state(app)
    body = member_body("201", campaign_id=OTHER_CAMPAIGN_ID, tiers=(("6101", "Stargazer"),))
    answer = post_webhook(patron, body)
    assert answer.status_code == 200 and answer.json["status"] == "ignored"
    after = site_state(app)
    assert after["membership:201"] == before["membership:201"]
    assert {k: v for k, v in after.items() if k.startswith("members:")} == {
        k: v for k, v in before.items() if k.startswith("members:")
    }
    assert events(app)[0]["outcome"] == "ignored: another campaign"
    assert patron.get("/members/vip").status_code == 403


def test_an_event_is_refused_for_retry_while_the_campaign_is_unknown(app, client):
    """With no campaign to compare against, a foreign event must not become a snapshot."""
    svc = services(app)
    svc.redis.set(svc.keys.creator_token, "undecryptable")  # Patreon cannot be asked
    svc.redis.delete(svc.keys.campaign)
    before = site_state(app)
    body = member_body("201", campaign_id=OTHER_CAMPAIGN_ID, tiers=(("6101", "Stargazer"),))
    answer = post_webhook(client, body)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert site_state(app) == before
    # Once the campaign is known again, Patreon's retry of its own event is applied
    # (the refused delivery was not remembered as seen).
    svc.redis.delete(svc.keys.creator_token)  # re-seeded from the environment on next use
    own = member_body("201", tiers=(("6002", "VIP"),))
    assert post_webhook(client, own).json["status"] == "applied"
    assert post_webhook(client, body).json["status"] == "ignored"
    assert stored_snapshot(app, "201").campaign_id == "5000"


# -- the sandbox's control page, end to end --------------------------------------------


def control_page_key(client) -> str:
    page = client.get("/sandbox/").get_data(as_text=True)
    return re.search(r'name="browser_key" value="([^"]+)"', page).group(1)


def change_pledge(client, persona: str, event: str, **form: str):
    data = {"browser_key": control_page_key(client), "amount_cents": "", "event": event, **form}
    return client.post(f"/sandbox/personas/{persona}/pledge", data=data)


@pytest.mark.parametrize("app_env", [base_env(MEMBERSHIP_TTL="3600")])  # the derived secret
def test_the_sandbox_control_page_sends_a_signed_webhook_that_changes_access(app, patron):
    saved = change_pledge(
        patron, "patron-low", "members:pledge:update", status="active_patron", tier="6002"
    )
    assert saved.status_code == 303
    assert "n=1" in saved.headers["Location"] and "ok=1" in saved.headers["Location"]
    assert stored_snapshot(app, "201").source == "webhook"
    assert patron.get("/members/vip").status_code == 200  # confirmed with the sandbox

    change_pledge(patron, "patron-low", "members:pledge:update", status="declined_patron")
    assert patron.get("/members").status_code == 403
    assert [e["outcome"] for e in events(app)] == ["applied", "applied"]
    deliveries = patron.get("/sandbox/").get_data(as_text=True)
    assert "members:pledge:update" in deliveries


# -- a delivery that fails half way ----------------------------------------------------


def seen_ttls(app) -> list[int]:
    svc = services(app)
    return [svc.redis.ttl(k) for k in svc.redis.scan_iter(match=f"{svc.keys.prefix}webhook:seen:*")]


def test_a_delivery_that_fails_half_way_is_applied_by_patreons_retry(app, patron, monkeypatch):
    patreon_records(patron, "active_patron", tier="6002")
    body = member_body("201")
    claims = []

    def redis_dies(index, event):
        claims.extend(seen_ttls(app))
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(MembersIndex, "apply_event", redis_dies)
    failed = post_webhook(patron, body)
    assert failed.status_code == 503 and failed.is_json and failed.headers["Retry-After"]
    # While it was being applied the body was only claimed for a minute, so even a
    # Redis that could not forget the claim would take Patreon's retry soon.
    assert claims and all(0 < ttl <= 60 for ttl in claims)
    assert seen_ttls(app) == []
    assert events(app) == []

    monkeypatch.undo()
    retry = post_webhook(patron, body)
    assert retry.json["status"] == "applied"
    assert patron.get("/members/vip").status_code == 200
    assert all(ttl > 29 * 24 * 3600 for ttl in seen_ttls(app))  # remembered for Patreon's retries
