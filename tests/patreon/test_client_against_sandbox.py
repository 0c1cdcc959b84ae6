"""The client against the sandbox served over real HTTP on a local port."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from webapp.patreon import (
    InvalidGrant,
    KVStore,
    MemoryStore,
    PatreonCreatorClient,
    PatreonForbidden,
    PatreonRateLimited,
    PatreonUserClient,
    QueryBuilder,
    RetryPolicy,
    ScopeError,
    StoredToken,
    fernet_cipher,
)
from webapp.patreon.membership import snapshot_from_identity
from webapp.sandbox.personas import CAMPAIGN_ID, TIER_SUPPORTER_ID

MEMBERSHIP_QUERY = QueryBuilder.identity.include(
    "memberships", "memberships.campaign", "memberships.currently_entitled_tiers"
).fields(
    user=["full_name"],
    member=["patron_status", "currently_entitled_amount_cents"],
    tier=["title"],
)


def user_client(sandbox, **options) -> PatreonUserClient:
    return PatreonUserClient(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri=sandbox.redirect_uri,
        scopes=["identity", "identity.memberships"],
        base_url=sandbox.base_url,
        **options,
    )


def creator_client(sandbox, store=None, **options) -> PatreonCreatorClient:
    token = StoredToken(
        access_token=sandbox.creator_access_token, refresh_token=sandbox.creator_refresh_token
    )
    return PatreonCreatorClient(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        base_url=sandbox.base_url,
        store=store or MemoryStore(token),
        **options,
    )


def stats(sandbox) -> dict:
    return requests.get(f"{sandbox.base_url}/stats", timeout=10).json()["routes"]


def test_user_login_from_the_callback_url_reads_the_membership(sandbox_http):
    users = user_client(sandbox_http)
    consent = requests.get(users.oauth.create_oauth_uri(state="s-1"), timeout=10)
    assert consent.status_code == 200 and 'name="consent_id"' in consent.text
    callback = sandbox_http.callback_for("patron-low")
    assert urlsplit(callback).path == "/callback"
    instance = user_client(sandbox_http).create_instance(callback)
    identity = instance.fetch_identity(MEMBERSHIP_QUERY).data
    snapshot = snapshot_from_identity(identity, CAMPAIGN_ID)
    assert identity["full_name"] == "Lee Low"
    assert snapshot.is_active_patron and snapshot.tier_ids == (TIER_SUPPORTER_ID,)
    assert snapshot.tier_titles == ("Supporter",)


def test_a_code_is_single_use(sandbox_http):
    callback = sandbox_http.callback_for("patron-low")
    users = user_client(sandbox_http)
    assert users.fetch_token(callback) is not None
    with pytest.raises(InvalidGrant):
        users.fetch_token(callback)


def test_creator_reads_campaign_and_2500_members_in_3_requests(sandbox_http_factory):
    sandbox = sandbox_http_factory(extra_members=2500 - 5)  # + the five member personas
    creator = creator_client(sandbox)
    campaign = creator.fetch_campaign(
        CAMPAIGN_ID, QueryBuilder.campaign.include("tiers").fields(tier=["title", "amount_cents"])
    ).data
    assert {t["title"] for t in campaign["tiers"]} >= {"Supporter", "VIP"}
    before = stats(sandbox).get("campaign_members", 0)
    members = list(creator.iter_campaign_members(CAMPAIGN_ID, page_size=1000))
    assert len(members) == len({m["id"] for m in members}) == 2500
    assert stats(sandbox)["campaign_members"] - before == 3


def test_refresh_rotates_and_the_old_refresh_token_is_dead(sandbox_http):
    answer = sandbox_http.token_for("patron-high")
    old = StoredToken.from_response(answer)
    store = MemoryStore(old)
    users = user_client(sandbox_http).with_token(None, store)
    fresh = users.oauth.refresh_token(old)
    assert fresh.access_token != old.access_token and store.get() == fresh
    assert users.fetch_identity(MEMBERSHIP_QUERY).data["full_name"] == "Harper High"
    # Someone holding the old token (and no store to learn from) is refused.
    with pytest.raises(InvalidGrant):
        user_client(sandbox_http).oauth.refresh_token(old)


def test_an_expired_token_is_refreshed_before_the_call(sandbox_http):
    old = StoredToken.from_response(sandbox_http.token_for("patron-low"))
    expired = StoredToken(**{**old.to_dict(), "expires_in_epoch": 1.0})
    store = MemoryStore(expired)
    before = stats(sandbox_http).get("token:refresh", 0)
    users = user_client(sandbox_http).with_token(None, store)
    users.fetch_identity()
    assert stats(sandbox_http)["token:refresh"] == before + 1
    assert store.get().access_token != old.access_token


def test_a_401_refreshes_once_and_the_store_keeps_the_new_token(sandbox_http):
    redis_storage = sandbox_http.redis  # any get/set/delete storage works for the KV store
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    store = KVStore(redis_storage, "client-test:creator", cipher=fernet_cipher([key]))
    store.put(
        StoredToken(
            access_token=sandbox_http.creator_access_token,
            refresh_token=sandbox_http.creator_refresh_token,
        )
    )
    creator = creator_client(sandbox_http, store=store)
    creator.fetch_campaigns()

    browser = requests.Session()
    control = browser.get(f"{sandbox_http.base_url}/", timeout=10).text
    key = re.search(r'name="browser_key" value="([^"]+)"', control).group(1)
    browser.post(
        f"{sandbox_http.base_url}/personas/creator/expire", data={"browser_key": key}, timeout=10
    )

    before = stats(sandbox_http).get("token:refresh", 0)
    assert creator.fetch_campaigns().items[0]["id"] == CAMPAIGN_ID
    assert stats(sandbox_http)["token:refresh"] == before + 1
    assert store.get().access_token == creator.oauth.cached_token.access_token


def test_scope_validation_catches_what_the_sandbox_would_refuse(sandbox_http):
    token = StoredToken.from_response(sandbox_http.token_for("patron-low", scopes=("identity",)))
    query = QueryBuilder.identity.fields(user=["email"])
    with pytest.raises(ScopeError):
        user_client(sandbox_http, scope_validation="raise").fetch_identity(query, token=token)
    with pytest.raises(PatreonForbidden) as refused:
        user_client(sandbox_http).fetch_identity(query, token=token)
    assert refused.value.errors  # Patreon's error objects travel with the exception


@pytest.mark.parametrize("sandbox_http", [{"requests_per_minute": 3}], indirect=True)
def test_throttling_surfaces_retry_after_when_it_is_too_long_to_wait(sandbox_http):
    token = StoredToken.from_response(sandbox_http.token_for("patron-low"))
    users = user_client(sandbox_http, retry=RetryPolicy(max_wait=0.5), sleep=lambda s: None)
    for _ in range(3):
        users.fetch_identity(token=token)
    with pytest.raises(PatreonRateLimited) as throttled:
        users.fetch_identity(token=token)
    assert 0 < throttled.value.retry_after <= 60


def test_webhooks_are_created_listed_edited_and_deleted(sandbox_http):
    creator = creator_client(sandbox_http)
    created = creator.create_webhook(
        CAMPAIGN_ID, "https://site.test/webhooks/patreon", ["members:create"]
    ).data
    assert created["secret"]
    listed = creator.fetch_webhooks(QueryBuilder.webhooks.fields(webhook=["uri", "paused"])).items
    assert [w["id"] for w in listed] == [created["id"]]
    edited = creator.edit_webhook(created["id"], paused=True).data
    assert edited["paused"] is True
    creator.delete_webhook(created["id"])
    assert creator.fetch_webhooks().items == []


def test_member_posts_and_post_are_read_as_the_creator(sandbox_http):
    creator = creator_client(sandbox_http)
    member = creator.fetch_member(
        "m-5000-201",
        QueryBuilder.member.include("user").fields(member=["patron_status"], user=["full_name"]),
    ).data
    assert member["patron_status"] == "active_patron"
    assert member["user"]["full_name"] == "Lee Low"
    posts = creator.fetch_campaign_posts(
        CAMPAIGN_ID, QueryBuilder.campaign_posts.fields(post=["title"])
    ).items
    assert posts and all(p["title"] for p in posts)
    post = creator.fetch_post(posts[0]["id"], QueryBuilder.post.fields(post=["title"])).data
    assert post == {"id": posts[0]["id"], "type": "post", "title": posts[0]["title"]}
