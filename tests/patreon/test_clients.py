from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from tests.patreon.conftest import API, TOKEN_URL, token, token_answer
from webapp.patreon import (
    MemoryStore,
    MissingToken,
    PatreonCreatorClient,
    PatreonForbidden,
    PatreonRateLimited,
    PatreonServerError,
    PatreonUnauthorized,
    PatreonUnavailable,
    QueryBuilder,
    RetryPolicy,
    ScopeError,
)

IDENTITY = {"data": {"type": "user", "id": "201", "attributes": {"full_name": "Lee Low"}}}


def bearer(call) -> str:
    return call.request.headers["Authorization"]


def test_no_token_is_a_clear_error_before_any_request(creator, mocked):
    with pytest.raises(MissingToken):
        creator.fetch_identity()
    assert len(mocked.calls) == 0


def test_a_valid_token_is_used_as_is(creator, store, mocked):
    store.put(token("good"))
    mocked.get(f"{API}/identity", json=IDENTITY)
    assert creator.fetch_identity().data["full_name"] == "Lee Low"
    assert [bearer(c) for c in mocked.calls] == ["Bearer access-good"]


def test_an_expired_token_is_refreshed_before_the_call(creator, store, mocked):
    store.put(token("old", expires_in=-10))
    mocked.post(TOKEN_URL, json=token_answer("new"))
    mocked.get(f"{API}/identity", json=IDENTITY)
    creator.fetch_identity()
    assert [c.request.url for c in mocked.calls] == [TOKEN_URL, f"{API}/identity"]
    assert bearer(mocked.calls[1]) == "Bearer access-new"
    assert creator.oauth.cached_token.access_token == "access-new"
    assert store.get().access_token == "access-new"


def test_a_401_refreshes_once_and_retries_once(creator, store, mocked):
    store.put(token("revoked-early"))
    mocked.get(f"{API}/identity", status=401, json={"errors": [{"code_name": "Unauthorized"}]})
    mocked.post(TOKEN_URL, json=token_answer("new"))
    mocked.get(f"{API}/identity", json=IDENTITY)
    assert creator.fetch_identity().data["id"] == "201"
    assert [bearer(c) for c in mocked.calls if c.request.method == "GET"] == [
        "Bearer access-revoked-early",
        "Bearer access-new",
    ]
    assert store.get().access_token == "access-new"


def test_a_second_401_stops_instead_of_looping(creator, store, mocked):
    store.put(token("bad"))
    mocked.get(
        f"{API}/identity",
        status=401,
        json={"errors": [{"code_name": "Unauthorized", "detail": "no"}]},
    )
    mocked.post(TOKEN_URL, json=token_answer("also-bad"))
    with pytest.raises(PatreonUnauthorized) as caught:
        creator.fetch_identity()
    assert caught.value.errors == [{"code_name": "Unauthorized", "detail": "no"}]
    # one call, one refresh, one retry: never a stream of 401s
    assert len(mocked.calls) == 3


def test_a_per_call_token_is_used_for_that_call(user_client, mocked):
    mocked.get(f"{API}/identity", json=IDENTITY)
    user_client.fetch_identity(token=token("given"))
    assert bearer(mocked.calls[0]) == "Bearer access-given"


def test_429_waits_retry_after_then_succeeds(creator, store, mocked, sleeps):
    store.put(token("t"))
    mocked.get(f"{API}/identity", status=429, headers={"Retry-After": "3"}, json={"errors": []})
    mocked.get(f"{API}/identity", json=IDENTITY)
    creator.fetch_identity()
    assert sleeps == [3.0]


def test_429_reads_retry_after_seconds_from_the_body(creator, store, mocked, sleeps):
    store.put(token("t"))
    throttled = {"errors": [{"code_name": "RequestThrottled", "retry_after_seconds": 7}]}
    mocked.get(f"{API}/identity", status=429, json=throttled)
    mocked.get(f"{API}/identity", json=IDENTITY)
    creator.fetch_identity()
    assert sleeps == [7.0]


def test_429_gives_up_after_the_allowed_retries(store, mocked, sleeps):
    store.put(token("t"))
    client = PatreonCreatorClient(
        client_id="c",
        client_secret="s",
        store=store,
        base_url="https://patreon.test",
        retry=RetryPolicy(rate_limit_retries=2),
        sleep=sleeps.append,
    )
    mocked.get(f"{API}/identity", status=429, headers={"Retry-After": "1"}, json={"errors": []})
    with pytest.raises(PatreonRateLimited) as caught:
        client.fetch_identity()
    assert caught.value.retry_after == 1.0
    assert len(mocked.calls) == 3
    assert sleeps == [1.0, 1.0]


def test_429_longer_than_max_wait_is_not_waited_out(store, mocked, sleeps):
    store.put(token("t"))
    client = PatreonCreatorClient(
        client_id="c",
        client_secret="s",
        store=store,
        base_url="https://patreon.test",
        retry=RetryPolicy(max_wait=5),
        sleep=sleeps.append,
    )
    mocked.get(f"{API}/identity", status=429, headers={"Retry-After": "600"}, json={"errors": []})
    with pytest.raises(PatreonRateLimited):
        client.fetch_identity()
    assert sleeps == []


def test_5xx_backs_off_a_bounded_number_of_times(creator, store, mocked, sleeps):
    store.put(token("t"))
    mocked.get(f"{API}/identity", status=502, json={"errors": [{"status": "502"}]})
    with pytest.raises(PatreonServerError) as caught:
        creator.fetch_identity()
    assert caught.value.status == 502
    assert len(mocked.calls) == 3
    assert sleeps == [0.5, 1.0]


def test_timeouts_become_unavailable(creator, store, mocked, sleeps):
    import requests

    store.put(token("t"))
    mocked.get(f"{API}/identity", body=requests.Timeout("slow"))
    with pytest.raises(PatreonUnavailable):
        creator.fetch_identity()
    assert len(sleeps) == 2


def test_a_post_is_never_sent_twice(creator, store, mocked, sleeps):
    store.put(token("t"))
    mocked.post(f"{API}/webhooks", status=503, json={"errors": []})
    with pytest.raises(PatreonServerError):
        creator.create_webhook("5000", "https://site.test/webhooks/patreon", ["members:create"])
    assert len(mocked.calls) == 1


def test_errors_carry_patreons_error_objects(creator, store, mocked):
    store.put(token("t"))
    error = {"code": 1, "code_name": "Forbidden", "detail": "missing scope", "status": "403"}
    mocked.get(f"{API}/campaigns", status=403, json={"errors": [error]})
    with pytest.raises(PatreonForbidden) as caught:
        creator.fetch_campaigns()
    assert caught.value.errors == [error]
    assert "missing scope" in str(caught.value)


def test_scope_validation_raise_refuses_before_the_request(store, mocked):
    store.put(token("t").__class__.from_response({"access_token": "a", "scope": "identity"}))
    client = PatreonCreatorClient(
        client_id="c",
        client_secret="s",
        store=store,
        base_url="https://patreon.test",
        scope_validation="raise",
    )
    with pytest.raises(ScopeError):
        client.fetch_identity(QueryBuilder.identity.fields(user=["email"]))
    assert len(mocked.calls) == 0


def test_queries_reach_patreon_as_written(creator, store, mocked):
    store.put(token("t"))
    mocked.get(f"{API}/identity", json=IDENTITY)
    creator.fetch_identity(QueryBuilder.identity.include("memberships").fields(user=["full_name"]))
    sent = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    assert sent == {"include": ["memberships"], "fields[user]": ["full_name"]}


def members_page(ids, next_cursor, total):
    return {
        "data": [{"type": "member", "id": str(i), "attributes": {}} for i in ids],
        "meta": {"pagination": {"total": total, "cursors": {"next": next_cursor}}},
    }


def test_member_iterator_reads_2500_members_in_3_requests(creator, store, mocked):
    store.put(token("t"))
    url = f"{API}/campaigns/5000/members"
    pages = [
        (None, members_page(range(0, 1000), "c1", 2500)),
        ("c1", members_page(range(1000, 2000), "c2", 2500)),
        ("c2", members_page(range(2000, 2500), None, 2500)),
    ]
    for cursor, body in pages:
        params = {"page[count]": "1000"} | ({"page[cursor]": cursor} if cursor else {})
        mocked.get(url, json=body, match=[matchers.query_param_matcher(params)])
    members = list(creator.iter_campaign_members("5000", page_size=1000))
    assert len(members) == 2500
    assert len({m["id"] for m in members}) == 2500
    assert len(mocked.calls) == 3


def test_member_iterator_stops_on_a_repeated_cursor(creator, store, mocked):
    store.put(token("t"))
    url = f"{API}/campaigns/5000/members"
    # No total, and the API keeps handing back cursor "c1" with new members:
    # without the cursor check this would never end.
    counter = iter(range(10_000))

    def page(request):
        import json

        ids = [next(counter) for _ in range(2)]
        return (200, {}, json.dumps(members_page(ids, "c1", None)))

    mocked.add_callback(responses.GET, url, callback=page)
    members = list(creator.iter_campaign_members("5000", page_size=2))
    assert len(mocked.calls) == 2
    assert len(members) == 4


def test_member_iterator_stops_when_a_fresh_cursor_brings_the_same_page(creator, store, mocked):
    store.put(token("t"))
    url = f"{API}/campaigns/5000/members"
    cursors = iter(f"c{i}" for i in range(100))

    def same_page(request):
        import json

        return (200, {}, json.dumps(members_page([1, 2], next(cursors), None)))

    mocked.add_callback(responses.GET, url, callback=same_page)
    assert [m["id"] for m in creator.iter_campaign_members("5000", page_size=2)] == ["1", "2"]
    assert len(mocked.calls) == 2


def test_user_client_fetches_the_token_from_a_callback_url(user_client, mocked):
    mocked.post(TOKEN_URL, json=token_answer("user"))
    stored = user_client.fetch_token("https://site.test/callback?code=abc&state=xyz")
    assert stored.access_token == "access-user"
    assert parse_qs(mocked.calls[0].request.body)["code"] == ["abc"]


def test_user_client_without_a_code_fetches_nothing(user_client, mocked):
    assert user_client.fetch_token("https://site.test/callback?error=access_denied") is None
    assert len(mocked.calls) == 0


def test_create_instance_binds_the_callback_token(user_client, mocked):
    mocked.post(TOKEN_URL, json=token_answer("user"))
    mocked.get(f"{API}/identity", json=IDENTITY)
    request = SimpleNamespace(url="https://site.test/callback?code=abc")
    instance = user_client.create_instance(request)
    assert instance.token.access_token == "access-user"
    instance.fetch_identity()
    assert bearer(mocked.calls[1]) == "Bearer access-user"
    # the original client stays unbound
    assert user_client.token is None
    with pytest.raises(MissingToken):
        user_client.create_instance(SimpleNamespace(url="https://site.test/callback"))


def test_webhook_calls_send_json_api_bodies(creator, store, mocked):
    store.put(token("t"))
    created = {"data": {"type": "webhook", "id": "w1", "attributes": {"uri": "u", "secret": "s"}}}
    mocked.post(
        f"{API}/webhooks",
        json=created,
        match=[
            matchers.json_params_matcher(
                {
                    "data": {
                        "type": "webhook",
                        "attributes": {"triggers": ["members:create"], "uri": "u"},
                        "relationships": {"campaign": {"data": {"type": "campaign", "id": "5000"}}},
                    }
                }
            )
        ],
    )
    mocked.patch(f"{API}/webhooks/w1", json=created)
    mocked.delete(f"{API}/webhooks/w1", status=204)
    assert creator.create_webhook("5000", "u", ["members:create"]).data["secret"] == "s"
    creator.edit_webhook("w1", paused=True)
    assert (
        mocked.calls[1].request.body
        == b'{"data": {"type": "webhook", "id": "w1", "attributes": {"paused": true}}}'
    )
    assert creator.delete_webhook("w1") is None


def test_store_is_read_once_and_then_cached(mocked):
    reads = []

    class CountingStore(MemoryStore):
        def get(self):
            reads.append(1)
            return super().get()

    store = CountingStore(token("t"))
    client = PatreonCreatorClient(
        client_id="c", client_secret="s", store=store, base_url="https://patreon.test"
    )
    mocked.get(f"{API}/identity", json=IDENTITY)
    client.fetch_identity()
    client.fetch_identity()
    assert len(reads) == 1
