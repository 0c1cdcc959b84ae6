"""The v2 API: JSON:API strictness, scopes, ownership, pagination, 401 and 429."""

from __future__ import annotations

import json

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.sandbox.conftest import PORTAL_ACCESS, base_settings, errors_of
from webapp.sandbox import create_sandbox_app
from webapp.sandbox.personas import (
    CAMPAIGN_ID,
    OTHER_CAMPAIGN_ID,
    PATRON_LOW_USER_ID,
    PLEDGE_URL,
    TIER_SUPPORTER_ID,
    TIER_VIP_ID,
)

CREATOR = PORTAL_ACCESS  # the portal's creator token: user 100, every scope
ERROR_KEYS = {"code", "code_name", "detail", "id", "status", "title"}


def included(document: dict, resource_type: str) -> list[dict]:
    return [r for r in document.get("included", []) if r["type"] == resource_type]


# -- sparse fields and includes ------------------------------------------------------


def test_without_fields_a_resource_has_no_attributes_and_no_relationships(sandbox):
    token = sandbox.login()["access_token"]
    document = sandbox.api("/identity", token).json
    assert document == {"data": {"attributes": {}, "id": PATRON_LOW_USER_ID, "type": "user"}}


def test_only_the_asked_for_attributes_come_back(sandbox):
    token = sandbox.login()["access_token"]
    document = sandbox.api("/identity?fields[user]=full_name,image_url", token).json
    assert document["data"]["attributes"] == {
        "full_name": "Lee Low",
        "image_url": "/sandbox/avatars/201.svg",
    }
    assert "relationships" not in document["data"]
    assert "included" not in document


def test_includes_add_relationships_and_deduplicated_included_resources(sandbox):
    token = sandbox.login("patron-high")["access_token"]
    document = sandbox.api(
        "/identity?include=memberships,memberships.campaign,memberships.currently_entitled_tiers"
        "&fields[member]=patron_status&fields[tier]=title",
        token,
    ).json
    links = document["data"]["relationships"]["memberships"]["data"]
    assert {link["id"] for link in links} == {"m-5000-202", "m-5100-202"}
    keys = [(r["type"], r["id"]) for r in document["included"]]
    assert len(keys) == len(set(keys))
    members = {m["id"]: m for m in included(document, "member")}
    assert members["m-5000-202"]["attributes"] == {"patron_status": "active_patron"}
    assert members["m-5000-202"]["relationships"]["campaign"]["data"] == {
        "id": CAMPAIGN_ID,
        "type": "campaign",
    }
    # Campaigns were included but no campaign field was asked for.
    assert all(c["attributes"] == {} for c in included(document, "campaign"))
    assert {t["attributes"]["title"] for t in included(document, "tier")} == {"VIP", "Stargazer"}


def test_a_resource_reached_twice_is_included_once(sandbox):
    # Every member of the page links to the same campaign and the same few tiers.
    document = sandbox.api(
        "/campaigns/5000/members?include=campaign,currently_entitled_tiers", CREATOR
    ).json
    assert len(included(document, "campaign")) == 1
    tier_ids = [t["id"] for t in included(document, "tier")]
    assert sorted(tier_ids) == sorted(set(tier_ids))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("include=pledges", "include"),
        ("include=memberships.user", "include"),
        ("fields[user]=full_name,nickname", "fields[user]"),
        ("fields[patron]=full_name", "fields[patron]"),
        ("fields=full_name", "fields"),
    ],
)
def test_unknown_includes_and_fields_are_400_jsonapi_errors(sandbox, query, parameter):
    token = sandbox.login()["access_token"]
    answer = sandbox.api(f"/identity?{query}", token)
    assert answer.status_code == 400
    [error] = errors_of(answer)
    assert set(error) >= ERROR_KEYS
    assert error["status"] == "400"
    assert error["source"] == {"parameter": parameter}


def test_urls_a_browser_follows_are_root_relative(sandbox):
    document = sandbox.api(
        "/campaigns/5000?include=creator,tiers&fields[campaign]=url,pledge_url,image_url"
        "&fields[user]=image_url,url&fields[tier]=url",
        CREATOR,
    ).json
    attributes = document["data"]["attributes"]
    assert attributes["pledge_url"] == PLEDGE_URL == "/sandbox/c/5000/join"
    assert attributes["url"] == "/sandbox/c/5000"
    [creator] = included(document, "user")
    assert creator["attributes"]["image_url"] == "/sandbox/avatars/100.svg"
    for resource in [document["data"], *document["included"]]:
        for value in resource["attributes"].values():
            assert value.startswith("/sandbox/")
    # Each of them is served.
    for path in ("/sandbox/c/5000", "/sandbox/c/5000/join", "/sandbox/avatars/100.svg"):
        assert sandbox.client.get(path).status_code == 200


# -- scopes --------------------------------------------------------------------------


def assert_forbidden(answer, scope: str) -> None:
    assert answer.status_code == 403, answer.json
    [error] = errors_of(answer)
    assert error["status"] == "403"
    assert scope in error["detail"]


def test_email_needs_identity_email(sandbox):
    without = sandbox.login(scope="identity")["access_token"]
    assert_forbidden(sandbox.api("/identity?fields[user]=email", without), "identity[email]")
    with_email = sandbox.login(scope="identity identity[email]")["access_token"]
    answer = sandbox.api("/identity?fields[user]=email", with_email)
    assert answer.json["data"]["attributes"] == {"email": "lee.low@example.com"}


def test_including_the_campaign_on_identity_needs_campaigns(sandbox):
    token = sandbox.login("creator", scope="identity")["access_token"]
    assert_forbidden(sandbox.api("/identity?include=campaign", token), "campaigns")
    granted = sandbox.login("creator", scope="identity campaigns")["access_token"]
    campaign = sandbox.api("/identity?include=campaign", granted).json["data"]["relationships"]
    assert campaign == {"campaign": {"data": {"id": CAMPAIGN_ID, "type": "campaign"}}}


def test_without_identity_memberships_only_this_campaigns_membership_shows(sandbox):
    narrow = sandbox.login("patron-high", scope="identity")["access_token"]
    document = sandbox.api("/identity?include=memberships", narrow).json
    links = document["data"]["relationships"]["memberships"]["data"]
    assert links == [{"id": "m-5000-202", "type": "member"}]
    wide = sandbox.login("patron-high", scope="identity identity.memberships")["access_token"]
    document = sandbox.api("/identity?include=memberships", wide).json
    ids = {link["id"] for link in document["data"]["relationships"]["memberships"]["data"]}
    assert ids == {"m-5000-202", "m-5100-202"}


def test_a_user_with_no_membership_has_an_empty_list(sandbox):
    token = sandbox.login("other-creator", scope="identity")["access_token"]
    document = sandbox.api("/identity?include=memberships", token).json
    assert document["data"]["relationships"]["memberships"]["data"] == []
    assert document["included"] == []


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/campaigns", "campaigns"),
        ("/campaigns/5000", "campaigns"),
        ("/campaigns/5000/members", "campaigns.members"),
        ("/members/m-5000-201", "campaigns.members"),
        ("/campaigns/5000/posts", "campaigns.posts"),
        ("/posts/7001", "campaigns.posts"),
        ("/webhooks", "w:campaigns.webhook"),
    ],
)
def test_each_route_needs_its_scope(sandbox, path, scope):
    token = sandbox.login("creator", scope="identity")["access_token"]
    assert_forbidden(sandbox.api(path, token), scope)


@pytest.mark.parametrize(
    ("query", "scope"),
    [
        ("fields[member]=email", "campaigns.members[email]"),
        ("include=user&fields[user]=email", "campaigns.members[email]"),
        ("include=address", "campaigns.members.address"),
        ("fields[address]=city", "campaigns.members.address"),
    ],
)
def test_member_email_and_address_need_their_scopes(sandbox, query, scope):
    token = sandbox.login("creator", scope="identity campaigns campaigns.members")
    assert_forbidden(sandbox.api(f"/campaigns/5000/members?{query}", token["access_token"]), scope)


def test_member_email_and_address_with_their_scopes(sandbox):
    answer = sandbox.api(
        "/members/m-5000-202?include=address&fields[member]=email&fields[address]=city,country",
        CREATOR,
    )
    assert answer.json["data"]["attributes"] == {"email": "harper.high@example.com"}
    [address] = included(answer.json, "address")
    assert address["attributes"] == {"city": "Portland", "country": "US"}
    no_address = sandbox.api("/members/m-5000-201?include=address", CREATOR).json
    assert no_address["data"]["relationships"]["address"] == {"data": None}


# -- ownership -----------------------------------------------------------------------


def test_a_creator_reads_only_their_own_campaign(sandbox):
    campaigns = sandbox.api("/campaigns?fields[campaign]=creation_name", CREATOR).json
    assert [c["id"] for c in campaigns["data"]] == [CAMPAIGN_ID]
    assert sandbox.api(f"/campaigns/{OTHER_CAMPAIGN_ID}", CREATOR).status_code == 403
    assert sandbox.api(f"/campaigns/{OTHER_CAMPAIGN_ID}/members", CREATOR).status_code == 403
    assert sandbox.api("/members/m-5100-202", CREATOR).status_code == 403
    assert sandbox.api("/posts/7101", CREATOR).status_code == 403
    assert sandbox.api("/campaigns/9999", CREATOR).status_code == 404
    assert sandbox.api("/members/m-5000-999", CREATOR).status_code == 404


def test_a_patron_has_no_campaign_to_read(sandbox):
    token = sandbox.login("patron-low", scope="identity campaigns campaigns.members")
    assert sandbox.api("/campaigns", token["access_token"]).json["data"] == []
    assert sandbox.api("/campaigns/5000/members", token["access_token"]).status_code == 403


def test_the_other_creator_reads_their_own_members(sandbox):
    token = sandbox.login("other-creator", scope="campaigns campaigns.members")["access_token"]
    answer = sandbox.api("/campaigns/5100/members?fields[member]=full_name", token)
    assert [m["attributes"]["full_name"] for m in answer.json["data"]] == ["Harper High"]


def test_campaign_and_tier_patron_counts(sandbox):
    document = sandbox.api(
        "/campaigns/5000?include=tiers&fields[campaign]=patron_count"
        "&fields[tier]=patron_count,amount_cents,title",
        CREATOR,
    ).json
    assert document["data"]["attributes"] == {"patron_count": 2}
    tiers = {t["id"]: t["attributes"] for t in included(document, "tier")}
    assert tiers[TIER_SUPPORTER_ID] == {
        "patron_count": 1,
        "amount_cents": 500,
        "title": "Supporter",
    }
    assert tiers[TIER_VIP_ID] == {"patron_count": 1, "amount_cents": 1500, "title": "VIP"}


# -- members -------------------------------------------------------------------------


def test_persona_memberships_as_patreon_reports_them(sandbox):
    fields = (
        "patron_status,currently_entitled_amount_cents,will_pay_amount_cents,"
        "last_charge_status,is_follower"
    )
    document = sandbox.api(
        f"/campaigns/5000/members?include=currently_entitled_tiers,user&fields[member]={fields}",
        CREATOR,
    ).json
    by_user = {
        m["relationships"]["user"]["data"]["id"]: (
            m["attributes"],
            [t["id"] for t in m["relationships"]["currently_entitled_tiers"]["data"]],
        )
        for m in document["data"]
    }
    assert by_user == {
        "201": (
            {"patron_status": "active_patron", "currently_entitled_amount_cents": 500,
             "will_pay_amount_cents": 500, "last_charge_status": "Paid", "is_follower": False},
            [TIER_SUPPORTER_ID],
        ),
        "202": (
            {"patron_status": "active_patron", "currently_entitled_amount_cents": 1500,
             "will_pay_amount_cents": 1500, "last_charge_status": "Paid", "is_follower": False},
            [TIER_VIP_ID],
        ),
        "203": (
            {"patron_status": "declined_patron", "currently_entitled_amount_cents": 0,
             "will_pay_amount_cents": 500, "last_charge_status": "Declined",
             "is_follower": False},
            [],
        ),
        "204": (
            {"patron_status": "former_patron", "currently_entitled_amount_cents": 0,
             "will_pay_amount_cents": 0, "last_charge_status": "Paid", "is_follower": False},
            [],
        ),
        "205": (
            {"patron_status": None, "currently_entitled_amount_cents": 0,
             "will_pay_amount_cents": 0, "last_charge_status": None, "is_follower": True},
            [],
        ),
    }  # fmt: skip


def walk(sandbox, first_path: str) -> list[dict]:
    pages, path = [], first_path
    while path:
        document = sandbox.api(path, CREATOR).json
        pages.append(document)
        cursor = document["meta"]["pagination"]["cursors"]["next"]
        path = f"{first_path}&page[cursor]={cursor}" if cursor else None
    return pages


def test_pagination_ends_with_a_null_cursor(make_sandbox):
    sandbox = make_sandbox(extra_members=2495)  # 2,500 members with the five personas
    pages = walk(sandbox, "/campaigns/5000/members?page[count]=1000")
    assert [len(p["data"]) for p in pages] == [1000, 1000, 500]
    assert all(p["meta"]["pagination"]["total"] == 2500 for p in pages)
    assert pages[-1]["meta"]["pagination"]["cursors"]["next"] is None
    assert "links" not in pages[-1]
    ids = [m["id"] for p in pages for m in p["data"]]
    assert len(set(ids)) == 2500


def test_links_next_repeats_the_query_with_the_next_cursor(make_sandbox):
    sandbox = make_sandbox(extra_members=30)
    first = sandbox.api("/campaigns/5000/members?page[count]=10&fields[member]=full_name", CREATOR)
    cursor = first.json["meta"]["pagination"]["cursors"]["next"]
    link = first.json["links"]["next"]
    assert "fields%5Bmember%5D=full_name" in link and f"page%5Bcursor%5D={cursor}" in link
    path = link.split("/sandbox/api/oauth2/v2", 1)[1]
    second = sandbox.api(path, CREATOR).json
    assert second["data"][0]["id"] not in {m["id"] for m in first.json["data"]}


def test_the_default_page_has_twenty_members(make_sandbox):
    sandbox = make_sandbox(extra_members=100)
    document = sandbox.api("/campaigns/5000/members", CREATOR).json
    assert len(document["data"]) == 20
    assert document["meta"]["pagination"]["total"] == 105


@pytest.mark.parametrize(
    "query",
    [
        "page[count]=1001",
        "page[count]=0",
        "page[count]=ten",
        "page[cursor]=garbage!",
        "page[cursor]=NTEwMDox",  # a cursor of campaign 5100
        "include=pledge_history&page[count]=501",
    ],
)
def test_bad_pagination_parameters_are_400(sandbox, query):
    answer = sandbox.api(f"/campaigns/5000/members?{query}", CREATOR)
    assert answer.status_code == 400
    assert errors_of(answer)[0]["code_name"] == "ParameterInvalid"


def test_pledge_history_lists_the_start_and_the_last_charge(sandbox):
    document = sandbox.api(
        "/members/m-5000-203?include=pledge_history&fields[pledge-event]=type,payment_status",
        CREATOR,
    ).json
    events = [e["attributes"] for e in included(document, "pledge-event")]
    assert events == [
        {"type": "pledge_start", "payment_status": "Paid"},
        {"type": "subscription", "payment_status": "Declined"},
    ]


def test_a_generated_member_can_be_read_by_id(make_sandbox):
    sandbox = make_sandbox(extra_members=10)
    page = sandbox.api("/campaigns/5000/members?page[count]=15&fields[member]=full_name", CREATOR)
    last = page.json["data"][-1]
    single = sandbox.api(f"/members/{last['id']}?fields[member]=full_name", CREATOR).json
    assert single["data"] == last


# -- posts ---------------------------------------------------------------------------


def test_posts_of_the_campaign_sorted_and_by_id(sandbox):
    newest_first = sandbox.api(
        "/campaigns/5000/posts?sort=-published_at&fields[post]=title,is_public,tiers", CREATOR
    ).json
    assert [p["id"] for p in newest_first["data"]] == ["7003", "7002", "7001"]
    assert newest_first["data"][2]["attributes"]["is_public"] is True
    assert newest_first["data"][0]["attributes"]["tiers"] == ["6002", "6003"]
    post = sandbox.api("/posts/7002?include=campaign,user&fields[post]=url", CREATOR).json
    assert post["data"]["attributes"] == {"url": "/sandbox/c/5000#post-7002"}
    assert sandbox.api("/campaigns/5000/posts?sort=title", CREATOR).status_code == 400


# -- 401 and 429 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", f"Basic {PORTAL_ACCESS}"]
)
def test_a_missing_or_unknown_token_is_401(sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = sandbox.client.get("/sandbox/api/oauth2/v2/identity", headers=headers)
    assert answer.status_code == 401
    [error] = errors_of(answer)
    assert set(error) >= ERROR_KEYS
    assert (error["status"], error["code_name"]) == ("401", "Unauthorized")


def test_an_expired_access_token_is_401_and_the_refresh_token_still_works(make_sandbox):
    sandbox = make_sandbox(token_ttl=60)
    tokens = sandbox.login()
    sandbox.clock.advance(61)
    assert sandbox.api("/identity", tokens["access_token"]).status_code == 401
    fresh = sandbox.refresh(tokens["refresh_token"]).json
    assert sandbox.api("/identity", fresh["access_token"]).status_code == 200


def test_more_than_the_limit_a_minute_is_429_with_retry_after(make_sandbox):
    sandbox = make_sandbox(requests_per_minute=3)
    sandbox.clock.now = 1_000_000 * 60 + 15  # 15 s into a minute
    tokens = sandbox.login()
    for _ in range(3):
        assert sandbox.api("/identity", tokens["access_token"]).status_code == 200
    throttled = sandbox.api("/identity", tokens["access_token"])
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "45"
    [error] = errors_of(throttled)
    assert (error["status"], error["code_name"]) == ("429", "RequestThrottled")
    assert error["retry_after_seconds"] == 45
    # Refreshing does not reset the limit: it is the grant's, not the string's.
    fresh = sandbox.refresh(tokens["refresh_token"]).json
    assert sandbox.api("/identity", fresh["access_token"]).status_code == 429
    # Another user's token has a limit of its own.
    other = sandbox.login("patron-high")["access_token"]
    assert sandbox.api("/identity", other).status_code == 200
    sandbox.clock.advance(45)
    assert sandbox.api("/identity", fresh["access_token"]).status_code == 200


# -- routes --------------------------------------------------------------------------


def test_unknown_routes_and_methods_answer_jsonapi_errors(sandbox):
    missing = sandbox.api("/pledges", CREATOR)
    assert missing.status_code == 404 and errors_of(missing)[0]["code_name"] == "NotFound"
    wrong = sandbox.api("/identity", CREATOR, method="DELETE")
    assert wrong.status_code == 405
    assert errors_of(wrong)[0]["code_name"] == "MethodNotAllowed"
    assert "GET" in wrong.headers["Allow"]


def test_while_redis_is_down_every_kind_of_route_answers_503():
    # No retries: redis-py would otherwise spend seconds retrying each command.
    nothing_there = redis.Redis(port=1, decode_responses=True, retry=Retry(NoBackoff(), 0))
    client = create_sandbox_app(base_settings(), nothing_there).test_client()
    api = client.get("/sandbox/api/oauth2/v2/identity", headers={"Authorization": "Bearer x"})
    assert api.status_code == 503 and errors_of(api)[0]["code_name"] == "ServiceUnavailable"
    token = client.post("/sandbox/api/oauth2/token", data={"grant_type": "refresh_token"})
    assert token.status_code == 503 and token.json["error"] == "temporarily_unavailable"
    page = client.get("/sandbox/")
    assert page.status_code == 503 and "text/html" in page.content_type
    assert {api.headers["Retry-After"], token.headers["Retry-After"]} == {"5"}


# -- webhooks through the API --------------------------------------------------------


def webhook_body(uri: str = "https://site.test/webhooks/patreon", **attributes) -> str:
    return json.dumps(
        {
            "data": {
                "type": "webhook",
                "attributes": {"uri": uri, "triggers": ["members:pledge:update"], **attributes},
                "relationships": {"campaign": {"data": {"type": "campaign", "id": "5000"}}},
            }
        }
    )


def send(sandbox, method: str, path: str, body: str, token: str = CREATOR):
    return sandbox.api(path, token, method=method, data=body, content_type="application/json")


def test_webhooks_can_be_created_listed_edited_and_deleted(sandbox):
    created = send(sandbox, "POST", "/webhooks", webhook_body())
    assert created.status_code == 201
    hook = created.json["data"]
    assert hook["type"] == "webhook"
    assert hook["attributes"]["uri"] == "https://site.test/webhooks/patreon"
    assert hook["attributes"]["paused"] is False
    assert len(hook["attributes"]["secret"]) >= 32

    listed = sandbox.api("/webhooks?fields[webhook]=uri,triggers", CREATOR).json["data"]
    assert listed == [
        {
            "attributes": {
                "uri": "https://site.test/webhooks/patreon",
                "triggers": ["members:pledge:update"],
            },
            "id": hook["id"],
            "type": "webhook",
        }
    ]
    patch = json.dumps(
        {"data": {"type": "webhook", "id": hook["id"], "attributes": {"paused": True}}}
    )
    edited = send(sandbox, "PATCH", f"/webhooks/{hook['id']}", patch)
    assert edited.status_code == 200 and edited.json["data"]["attributes"]["paused"] is True
    assert sandbox.api(f"/webhooks/{hook['id']}", CREATOR, method="DELETE").status_code == 204
    assert sandbox.api("/webhooks", CREATOR).json["data"] == []
    gone = sandbox.api(f"/webhooks/{hook['id']}", CREATOR, method="DELETE")
    assert gone.status_code == 404


def test_another_creator_cannot_see_or_touch_the_webhook(sandbox):
    hook_id = send(sandbox, "POST", "/webhooks", webhook_body()).json["data"]["id"]
    other = sandbox.login("other-creator", scope="w:campaigns.webhook")["access_token"]
    assert sandbox.api("/webhooks", other).json["data"] == []
    assert sandbox.api(f"/webhooks/{hook_id}", other, method="DELETE").status_code == 404
    on_their_campaign = send(sandbox, "POST", "/webhooks", webhook_body(), token=other)
    assert on_their_campaign.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"data": {"type": "member"}}),
        webhook_body(uri="ftp://site.test/x"),
        webhook_body(triggers=["members:explode"]),
        webhook_body(triggers=[]),
        webhook_body(secret="mine"),
        json.dumps({"data": {"type": "webhook", "attributes": {"uri": "https://a.test/"}}}),
    ],
)
def test_a_bad_webhook_body_is_400(sandbox, body):
    answer = send(sandbox, "POST", "/webhooks", body)
    assert answer.status_code == 400
    assert errors_of(answer)[0]["status"] == "400"
