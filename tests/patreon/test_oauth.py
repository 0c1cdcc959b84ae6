import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from tests.patreon.conftest import TOKEN_URL, token, token_answer
from webapp.patreon import (
    InvalidGrant,
    MemoryStore,
    PatreonOAuth,
    PatreonOauthScope,
    PatreonUnavailable,
    TokenRefreshError,
)


def make_oauth(**kwargs) -> PatreonOAuth:
    kwargs.setdefault("base_url", "https://patreon.test")
    return PatreonOAuth("cid", "csecret", **kwargs)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_oauth_uri_uses_the_configured_redirect_scopes_and_state():
    oauth = make_oauth(
        redirect_uri="https://site.test/callback",
        scopes=[PatreonOauthScope.IDENTITY, PatreonOauthScope.IDENTITY_MEMBERSHIPS],
        state="s1",
    )
    url = oauth.oauth_uri
    assert url.startswith("https://patreon.test/oauth2/authorize?")
    assert query_of(url) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": ["https://site.test/callback"],
        "scope": ["identity identity.memberships"],
        "state": ["s1"],
    }


def test_create_oauth_uri_takes_redirect_and_scopes_per_call():
    oauth = make_oauth(redirect_uri="https://site.test/callback", scopes=["identity"])
    url = oauth.create_oauth_uri(
        redirect_uri="https://other.test/cb",
        scopes=[PatreonOauthScope.CAMPAIGNS, PatreonOauthScope.CAMPAIGNS_MEMBERS],
        state="s2",
    )
    query = query_of(url)
    assert query["redirect_uri"] == ["https://other.test/cb"]
    # Joined by spaces, never commas (a known integration bug).
    assert query["scope"] == ["campaigns campaigns.members"]
    assert query["state"] == ["s2"]


def test_create_oauth_uri_needs_a_redirect_uri():
    with pytest.raises(ValueError):
        make_oauth().create_oauth_uri()


def test_code_exchange_sends_client_credentials_in_the_form_body(mocked):
    mocked.post(
        TOKEN_URL,
        json=token_answer("new"),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "authorization_code",
                    "code": "the-code",
                    "redirect_uri": "https://site.test/callback",
                    "client_id": "cid",
                    "client_secret": "csecret",
                    "code_verifier": "v" * 48,
                }
            )
        ],
    )
    oauth = make_oauth(redirect_uri="https://site.test/callback")
    stored = oauth.get_oauth_token_from_code("the-code", code_verifier="v" * 48)
    assert stored.access_token == "access-new"
    assert stored.expires_in_epoch is not None
    # One helper serves every visitor: a user's token is never cached on it.
    assert oauth.cached_token is None
    assert "Authorization" not in mocked.calls[0].request.headers


def test_refresh_updates_the_cache_and_puts_into_the_store(mocked):
    old = token("old")
    store = MemoryStore(old)
    mocked.post(
        TOKEN_URL,
        json=token_answer("new"),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": "refresh-old",
                    "client_id": "cid",
                    "client_secret": "csecret",
                }
            )
        ],
    )
    oauth = make_oauth(token=old, store=store)
    fresh = oauth.refresh_token(old)
    assert fresh.access_token == "access-new"
    assert oauth.cached_token == fresh
    assert store.get() == fresh


def test_refresh_adopts_a_token_someone_else_stored_without_calling_upstream(mocked):
    old = token("old")
    store = MemoryStore(token("already-refreshed"))
    oauth = make_oauth(token=old, store=store)
    assert oauth.refresh_token(old).access_token == "access-already-refreshed"
    assert len(mocked.calls) == 0


def test_invalid_grant_deletes_the_dead_token_and_asks_for_login(mocked):
    old = token("old")
    store = MemoryStore(old)
    mocked.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "spent"}
    )
    oauth = make_oauth(token=old, store=store)
    with pytest.raises(InvalidGrant):
        oauth.refresh_token(old)
    assert store.get() is None
    assert oauth.cached_token is None


def test_invalid_grant_adopts_a_token_stored_meanwhile(mocked):
    old = token("old")
    store = MemoryStore(old)

    def another_process_won(request):
        store.put(token("winner"))
        return (400, {}, '{"error": "invalid_grant"}')

    mocked.add_callback(responses.POST, TOKEN_URL, callback=another_process_won)
    oauth = make_oauth(token=old, store=store)
    assert oauth.refresh_token(old).access_token == "access-winner"
    assert store.get().access_token == "access-winner"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_token_endpoint_trouble_never_touches_the_stored_token(mocked, status):
    old = token("old")
    store = MemoryStore(old)
    mocked.post(TOKEN_URL, status=status, json={"errors": [{"code_name": "RequestThrottled"}]})
    with pytest.raises(PatreonUnavailable):
        make_oauth(token=old, store=store).refresh_token(old)
    assert store.get() == old


def test_other_oauth_errors_are_typed_and_keep_the_token(mocked):
    old = token("old")
    store = MemoryStore(old)
    mocked.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(TokenRefreshError) as caught:
        make_oauth(token=old, store=store).refresh_token(old)
    assert caught.value.error == "invalid_client"
    assert not isinstance(caught.value, InvalidGrant)
    assert store.get() == old


def test_an_answer_without_a_token_is_not_stored(mocked):
    old = token("old")
    store = MemoryStore(old)
    mocked.post(TOKEN_URL, json={"access_token": ""})
    with pytest.raises(TokenRefreshError):
        make_oauth(token=old, store=store).refresh_token(old)
    assert store.get() == old


def test_unreachable_token_endpoint_is_unavailable(mocked):
    old = token("old")
    mocked.post(TOKEN_URL, body=requests.ConnectionError("down"))
    with pytest.raises(PatreonUnavailable):
        make_oauth(token=old).refresh_token(old)


def test_refreshing_a_visitors_token_never_caches_it_on_a_shared_helper(mocked):
    # One helper serves every visitor (the site's user client has no token or store).
    shared = make_oauth()
    mocked.post(TOKEN_URL, json=token_answer("visitor-new"))
    fresh = shared.refresh_token(token("visitor"))
    assert fresh.access_token == "access-visitor-new"
    assert shared.cached_token is None


def test_a_stale_cached_token_refreshes_the_newer_stored_one(mocked):
    # Another client of this process refreshed (store: "b"), and "b" has expired
    # since; our cache still holds "a", whose refresh token is long spent.
    cached = token("a", expires_in=-10)
    store = MemoryStore(token("b", expires_in=-10))
    mocked.post(
        TOKEN_URL,
        json=token_answer("c"),
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": "refresh-b",
                    "client_id": "cid",
                    "client_secret": "csecret",
                }
            )
        ],
    )
    oauth = make_oauth(token=cached, store=store)
    assert oauth.refresh_token(cached).access_token == "access-c"
    assert store.get().access_token == "access-c"
    assert oauth.cached_token.access_token == "access-c"


def test_a_replace_only_store_does_not_bring_back_a_token_deleted_during_a_refresh(mocked):
    import fakeredis

    from webapp.patreon import KVStore

    storage = fakeredis.FakeRedis()
    store = KVStore(storage, "token:user:1", replace_only=True)
    old = token("old")
    store.put(old)  # nothing to replace yet: a login writes with a plain store
    assert store.get() is None
    KVStore(storage, "token:user:1").put(old)

    def logout_meanwhile(request):
        store.delete()  # the user logs out while the refresh is in flight
        return (200, {}, json.dumps(token_answer("new")))

    mocked.add_callback(responses.POST, TOKEN_URL, callback=logout_meanwhile)
    fresh = make_oauth(token=old, store=store).refresh_token(old)
    assert fresh.access_token == "access-new"  # the request in flight may finish
    assert store.get() is None  # but the logged-out token stays gone
