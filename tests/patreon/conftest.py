import pytest
import responses

from webapp.patreon import MemoryStore, PatreonCreatorClient, PatreonUserClient, StoredToken

BASE = "https://patreon.test"
TOKEN_URL = f"{BASE}/api/oauth2/token"
API = f"{BASE}/api/oauth2/v2"


def token(name: str, *, expires_in: int = 3600, now: float | None = None) -> StoredToken:
    return StoredToken.from_response(
        {
            "access_token": f"access-{name}",
            "refresh_token": f"refresh-{name}",
            "expires_in": expires_in,
        },
        now=now,
    )


def token_answer(name: str, expires_in: int = 2678400) -> dict:
    return {
        "access_token": f"access-{name}",
        "refresh_token": f"refresh-{name}",
        "expires_in": expires_in,
        "scope": "identity identity.memberships campaigns campaigns.members",
        "token_type": "Bearer",
    }


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def creator(store, sleeps):
    return PatreonCreatorClient(
        client_id="cid",
        client_secret="csecret",
        store=store,
        base_url=BASE,
        sleep=sleeps.append,
    )


@pytest.fixture
def user_client(sleeps):
    return PatreonUserClient(
        client_id="cid",
        client_secret="csecret",
        redirect_uri="https://site.test/callback",
        scopes=["identity", "identity.memberships"],
        base_url=BASE,
        sleep=sleeps.append,
    )
