"""The control page: pledges the API then reports, signed webhooks, expiring tokens."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.sandbox.conftest import PORTAL_ACCESS, RECEIVER, WEBHOOK_SECRET, build_sandbox

CREATOR = PORTAL_ACCESS
MEMBER_FIELDS = "fields[member]=patron_status,currently_entitled_amount_cents,last_charge_status"


def independent_signature(secret: str, body: bytes) -> str:
    """Patreon's signature computed here, without any project code."""
    return hmac.new(secret.encode(), body, hashlib.md5).hexdigest()


def member_as_api_sees_it(sandbox, member_id: str) -> tuple[dict, list[str]]:
    document = sandbox.api(
        f"/members/{member_id}?include=currently_entitled_tiers&{MEMBER_FIELDS}", CREATOR
    ).json
    tiers = [t["id"] for t in document["data"]["relationships"]["currently_entitled_tiers"]["data"]]
    return document["data"]["attributes"], tiers


def test_the_control_page_shows_every_persona_and_the_sandbox_marker(sandbox):
    page = sandbox.client.get("/sandbox/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "not the real Patreon" in html
    for slug in ("creator", "patron-low", "patron-high", "declined", "former", "follower"):
        assert f'id="persona-{slug}"' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "sandbox_browser=" in page.headers["Set-Cookie"]
    assert "SameSite=Lax" in page.headers["Set-Cookie"]


def test_a_pledge_changed_on_the_control_page_is_what_the_api_reports(sandbox):
    assert member_as_api_sees_it(sandbox, "m-5000-201") == (
        {
            "patron_status": "active_patron",
            "currently_entitled_amount_cents": 500,
            "last_charge_status": "Paid",
        },
        ["6001"],
    )
    answer = sandbox.set_pledge("patron-low", status="declined_patron", tier="6001")
    assert answer.status_code == 303
    assert member_as_api_sees_it(sandbox, "m-5000-201") == (
        {
            "patron_status": "declined_patron",
            "currently_entitled_amount_cents": 0,
            "last_charge_status": "Declined",
        },
        [],
    )
    sandbox.set_pledge("patron-low", status="active_patron", tier="6002", amount_cents="2000")
    attributes, tiers = member_as_api_sees_it(sandbox, "m-5000-201")
    assert attributes["currently_entitled_amount_cents"] == 2000 and tiers == ["6002"]
    # The patron's own identity says the same.
    token = sandbox.login("patron-low")["access_token"]
    identity = sandbox.api("/identity?include=memberships&fields[member]=patron_status", token).json
    assert identity["included"][0]["attributes"] == {"patron_status": "active_patron"}


def test_a_follower_can_become_a_patron_and_leave(sandbox):
    sandbox.set_pledge("follower", status="active_patron", tier="6001")
    assert member_as_api_sees_it(sandbox, "m-5000-205")[0]["patron_status"] == "active_patron"
    sandbox.set_pledge("follower", status="former_patron")
    attributes, tiers = member_as_api_sees_it(sandbox, "m-5000-205")
    assert attributes["patron_status"] == "former_patron" and tiers == []


def test_pledge_state_lives_in_redis_so_another_worker_agrees(sandbox):
    sandbox.set_pledge("patron-high", status="former_patron")
    other_worker = build_sandbox(client=sandbox.redis)
    assert member_as_api_sees_it(other_worker, "m-5000-202")[0]["patron_status"] == (
        "former_patron"
    )


def test_a_saved_pledge_sends_the_site_a_signed_member_webhook(sandbox):
    answer = sandbox.set_pledge(
        "patron-low", status="declined_patron", tier="6001", event="members:pledge:update"
    )
    assert "n=1" in answer.headers["Location"] and "ok=1" in answer.headers["Location"]
    [delivery] = sandbox.receiver.deliveries
    assert delivery.url == f"{RECEIVER}/webhooks/patreon"
    assert delivery.headers["X-Patreon-Event"] == "members:pledge:update"
    assert delivery.headers["X-Patreon-Signature"] == independent_signature(
        WEBHOOK_SECRET, delivery.body
    )
    document = json.loads(delivery.body)
    member = document["data"]
    assert (member["type"], member["id"]) == ("member", "m-5000-201")
    assert member["attributes"]["patron_status"] == "declined_patron"
    assert member["attributes"]["currently_entitled_amount_cents"] == 0
    assert member["relationships"]["user"]["data"] == {"id": "201", "type": "user"}
    assert member["relationships"]["campaign"]["data"] == {"id": "5000", "type": "campaign"}
    assert member["relationships"]["currently_entitled_tiers"]["data"] == []
    kinds = {(r["type"], r["id"]) for r in document["included"]}
    assert kinds == {("user", "201"), ("campaign", "5000")}
    user = next(r for r in document["included"] if r["type"] == "user")
    assert user["attributes"]["full_name"] == "Lee Low"


def test_an_active_pledge_webhook_includes_its_tier(sandbox):
    sandbox.set_pledge("former", status="active_patron", tier="6002", event="members:pledge:create")
    document = json.loads(sandbox.receiver.deliveries[0].body)
    tiers = [r for r in document["included"] if r["type"] == "tier"]
    assert [(t["id"], t["attributes"]["title"]) for t in tiers] == [("6002", "VIP")]


def test_the_delivery_result_is_shown_on_the_control_page(sandbox):
    sandbox.receiver.status = 401
    redirect = sandbox.set_pledge("former", status="former_patron", event="members:update")
    page = sandbox.client.get(redirect.headers["Location"]).get_data(as_text=True)
    assert "Webhook delivered to 0 of 1 URL(s)." in page
    assert f"{RECEIVER}/webhooks/patreon" in page
    assert 'badge--danger">401<' in page


def test_webhooks_created_through_the_api_get_events_with_their_own_secret(sandbox):
    body = json.dumps(
        {
            "data": {
                "type": "webhook",
                "attributes": {
                    "uri": f"{RECEIVER}/hooks/api",
                    "triggers": ["members:pledge:delete"],
                },
                "relationships": {"campaign": {"data": {"type": "campaign", "id": "5000"}}},
            }
        }
    )
    created = sandbox.api(
        "/webhooks", CREATOR, method="POST", data=body, content_type="application/json"
    ).json["data"]
    secret = created["attributes"]["secret"]

    sandbox.set_pledge("patron-high", status="former_patron", event="members:pledge:update")
    assert [d.url for d in sandbox.receiver.deliveries] == [f"{RECEIVER}/webhooks/patreon"]

    sandbox.set_pledge("patron-high", status="former_patron", event="members:pledge:delete")
    api_delivery = sandbox.receiver.deliveries[-1]
    assert api_delivery.url == f"{RECEIVER}/hooks/api"
    assert api_delivery.headers["X-Patreon-Signature"] == independent_signature(
        secret, api_delivery.body
    )
    sandbox.receiver.status = 500
    sandbox.set_pledge("patron-high", status="former_patron", event="members:pledge:delete")
    hook = sandbox.api("/webhooks?fields[webhook]=num_consecutive_times_failed", CREATOR).json
    assert hook["data"][0]["attributes"] == {"num_consecutive_times_failed": 1}


def test_without_a_webhook_secret_the_configured_urls_get_nothing(make_sandbox):
    sandbox = make_sandbox(webhook_secret=None)
    sandbox.set_pledge("patron-low", status="former_patron", event="members:pledge:delete")
    assert sandbox.receiver.deliveries == []


def test_an_unreachable_webhook_url_is_a_result_not_an_error(make_sandbox):
    sandbox = make_sandbox(webhook_urls=("http://127.0.0.1:9/unreachable",))
    answer = sandbox.set_pledge("patron-low", status="former_patron", event="members:update")
    assert answer.status_code == 303 and "ok=0" in answer.headers["Location"]
    page = sandbox.client.get("/sandbox/").get_data(as_text=True)
    assert "ConnectionError" in page


def test_expiring_a_personas_tokens_makes_the_next_call_401_until_refreshed(sandbox):
    tokens = sandbox.login("patron-high")
    assert sandbox.api("/identity", tokens["access_token"]).status_code == 200
    answer = sandbox.client.post(
        "/sandbox/personas/patron-high/expire", data={"browser_key": sandbox.browser_key()}
    )
    assert answer.status_code == 303 and "n=1" in answer.headers["Location"]
    assert sandbox.api("/identity", tokens["access_token"]).status_code == 401
    fresh = sandbox.refresh(tokens["refresh_token"]).json
    assert sandbox.api("/identity", fresh["access_token"]).status_code == 200


def test_the_creators_portal_token_status_is_shown(sandbox):
    page = sandbox.client.get("/sandbox/").get_data(as_text=True)
    assert "Creator's portal token" in page and ">unused<" in page
    sandbox.client.post(
        "/sandbox/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "portal-refresh-token",
            "client_id": sandbox.settings.client_id,
            "client_secret": sandbox.settings.client_secret,
        },
    )
    page = sandbox.client.get("/sandbox/").get_data(as_text=True)
    assert "spent: the site refreshed" in page


@pytest.mark.parametrize(
    "action", ["/sandbox/personas/patron-low/pledge", "/sandbox/personas/patron-low/expire",
               "/sandbox/reset"],
)  # fmt: skip
def test_control_forms_from_elsewhere_are_refused(sandbox, action):
    sandbox.client.get("/sandbox/")  # this browser has its key cookie
    form = {"status": "former_patron", "tier": "", "amount_cents": ""}
    assert sandbox.client.post(action, data=form).status_code == 400
    assert sandbox.client.post(action, data={**form, "browser_key": "x" * 43}).status_code == 400
    stranger = sandbox.app.test_client()
    stolen = {**form, "browser_key": sandbox.browser_key()}
    assert stranger.post(action, data=stolen).status_code == 400
    assert member_as_api_sees_it(sandbox, "m-5000-201")[0]["patron_status"] == "active_patron"


@pytest.mark.parametrize(
    ("cookie", "field", "status"),
    [("é" * 40, "x" * 43, 400), (None, "é" * 43, 400), ("é" * 40, "é" * 40, 303)],
    ids=["cookie", "form", "both-agree"],
)
def test_a_non_ascii_browser_key_is_an_answer_never_an_error(sandbox, cookie, field, status):
    # Whatever a browser sends is compared, never a TypeError (a 500).
    browser = sandbox.app.test_client()
    if cookie is not None:
        browser.set_cookie("sandbox_browser", cookie, path="/sandbox/")
    answer = browser.post("/sandbox/reset", data={"browser_key": field})
    assert answer.status_code == status


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"status": "paused"}, 400),
        ({"status": "active_patron", "tier": "6101"}, 400),
        ({"status": "active_patron", "tier": "6002", "amount_cents": "500"}, 400),
        ({"status": "active_patron", "tier": "", "amount_cents": ""}, 400),
        ({"status": "active_patron", "tier": "6001", "amount_cents": "-5"}, 400),
        ({"status": "active_patron", "tier": "6001", "event": "posts:publish"}, 400),
    ],
)
def test_an_impossible_pledge_is_a_400_page(sandbox, form, status):
    answer = sandbox.set_pledge("patron-low", **form)
    assert answer.status_code == status
    assert "<h1>" in answer.get_data(as_text=True)


def test_creators_have_no_pledge_to_change_and_unknown_personas_404(sandbox):
    assert sandbox.set_pledge("creator", status="former_patron").status_code == 400
    assert sandbox.set_pledge("nobody", status="former_patron").status_code == 404


def test_reset_puts_every_pledge_back_and_clears_counters(sandbox):
    sandbox.set_pledge("patron-low", status="former_patron", event="members:update")
    sandbox.api("/identity", CREATOR)
    answer = sandbox.client.post("/sandbox/reset", data={"browser_key": sandbox.browser_key()})
    assert answer.status_code == 303
    assert member_as_api_sees_it(sandbox, "m-5000-201")[0]["patron_status"] == "active_patron"
    stats = sandbox.client.get("/sandbox/stats").json
    assert stats["routes"] == {"member": 1}
    assert "None yet" in sandbox.client.get("/sandbox/").get_data(as_text=True)


# -- counters ------------------------------------------------------------------------


def test_stats_count_each_route_per_user_and_status(sandbox):
    tokens = sandbox.login("patron-low")
    sandbox.api("/identity", tokens["access_token"])
    sandbox.api("/identity", tokens["access_token"])
    sandbox.api("/identity", "nonsense")
    sandbox.refresh(tokens["refresh_token"])
    sandbox.refresh(tokens["refresh_token"])
    sandbox.api("/campaigns/5000/members", CREATOR)
    stats = sandbox.client.get("/sandbox/stats").json
    assert stats["routes"] == {
        "campaign_members": 1,
        "identity": 3,
        "token:authorization_code": 1,
        "token:refresh": 2,
    }
    assert stats["by_user"]["identity"] == {"201": 2}
    assert stats["by_user"]["campaign_members"] == {"100": 1}
    assert stats["by_status"]["identity"] == {"200": 2, "401": 1}
    assert stats["by_status"]["token:refresh"] == {"200": 1, "400": 1}
    reset = sandbox.client.post("/sandbox/stats/reset")
    assert reset.json == {"routes": {}, "by_user": {}, "by_status": {}}


# -- the pages the API links to ------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/sandbox/c/5000", "/sandbox/c/5100/join", "/sandbox/u/201", "/sandbox/u/100"]
)
def test_public_pages_render(sandbox, path):
    page = sandbox.client.get(path)
    assert page.status_code == 200 and "not the real Patreon" in page.get_data(as_text=True)


def test_avatars_are_svg_images_that_run_nothing(sandbox):
    avatar = sandbox.client.get("/sandbox/avatars/202.svg")
    assert avatar.mimetype == "image/svg+xml"
    assert b">HH</text>" in avatar.data
    assert avatar.headers["Content-Security-Policy"] == "default-src 'none'"
    assert avatar.headers["Cache-Control"] == "public, max-age=86400"


@pytest.mark.parametrize(
    "path",
    ["/sandbox/c/9", "/sandbox/u/999", "/sandbox/u/abc", "/sandbox/avatars/1.svg", "/sandbox/x"],
)
def test_unknown_pages_are_404_pages(sandbox, path):
    page = sandbox.client.get(path)
    assert page.status_code == 404
    assert "text/html" in page.content_type
