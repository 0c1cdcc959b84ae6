from urllib.parse import parse_qsl

import pytest

from webapp.patreon import Document, QueryBuilder, StoredToken, normalize


def test_stored_token_computes_its_expiry_epoch():
    token = StoredToken.from_response(
        {"access_token": "a", "refresh_token": "r", "expires_in": 2678400, "scope": "identity"},
        now=1000.0,
    )
    assert token.expires_in_epoch == 1000.0 + 2678400
    assert not token.is_expired(leeway=60, now=1000.0)
    assert token.is_expired(leeway=60, now=1000.0 + 2678400 - 30)
    assert StoredToken.from_dict(token.to_dict()) == token


def test_stored_token_without_expiry_never_counts_as_expired():
    token = StoredToken(access_token="a")
    assert not token.is_expired(now=10**12)
    assert token.scopes is None


def test_stored_token_repr_hides_the_secrets():
    token = StoredToken(access_token="secret-access", refresh_token="secret-refresh")
    assert "secret" not in repr(token)


def test_query_builder_is_immutable():
    base = QueryBuilder.identity
    derived = base.include("memberships").fields(user=["full_name"]).page(count=5)
    assert base.params() == []
    assert QueryBuilder.identity.includes == ()
    assert derived is not base


def test_query_builder_renders_encoded_brackets():
    query = (
        QueryBuilder.campaign_members.include("currently_entitled_tiers", "user")
        .fields(member=["full_name", "patron_status"], tier=["title"])
        .page(count=1000, cursor="abc=")
        .sort("-pledge_relationship_start")
    )
    text = query.query_string()
    assert "fields%5Bmember%5D=full_name%2Cpatron_status" in text
    assert "page%5Bcount%5D=1000" in text
    assert dict(parse_qsl(text)) == {
        "include": "currently_entitled_tiers,user",
        "fields[member]": "full_name,patron_status",
        "fields[tier]": "title",
        "page[count]": "1000",
        "page[cursor]": "abc=",
        "sort": "-pledge_relationship_start",
    }


def test_query_builder_merges_fields_and_includes_without_repeats():
    query = QueryBuilder.identity.include("memberships").include("memberships", "campaign")
    query = query.fields(user=["full_name"]).fields({"user": ["full_name", "image_url"]})
    assert query.includes == ("memberships", "campaign")
    assert query.attributes["user"] == ("full_name", "image_url")


@pytest.mark.parametrize("count", [0, 1001])
def test_query_builder_refuses_page_counts_patreon_refuses(count):
    with pytest.raises(ValueError):
        QueryBuilder.campaign_members.page(count=count)


def test_query_builder_refuses_unknown_includes():
    with pytest.raises(ValueError, match="cannot include"):
        QueryBuilder.identity.include("tiers")


def test_routes_need_their_ids():
    with pytest.raises(ValueError):
        QueryBuilder.campaign.route.url_path(None)
    assert QueryBuilder.campaign_members.route.url_path("5000") == "/campaigns/5000/members"


IDENTITY_DOCUMENT = {
    "data": {
        "type": "user",
        "id": "201",
        "attributes": {"full_name": "Lee Low"},
        "relationships": {"memberships": {"data": [{"type": "member", "id": "m1"}]}},
    },
    "included": [
        {
            "type": "member",
            "id": "m1",
            "attributes": {"patron_status": "active_patron"},
            "relationships": {
                "campaign": {"data": {"type": "campaign", "id": "5000"}},
                "currently_entitled_tiers": {"data": [{"type": "tier", "id": "6001"}]},
                "user": {"data": {"type": "user", "id": "201"}},
            },
        },
        {"type": "campaign", "id": "5000", "attributes": {"vanity": "casey"}},
        {"type": "tier", "id": "6001", "attributes": {"title": "Supporter"}},
    ],
}


def test_normalize_resolves_relationships_from_included():
    document = normalize(IDENTITY_DOCUMENT)
    user = document.data
    member = user["memberships"][0]
    assert user["full_name"] == "Lee Low"
    assert member["patron_status"] == "active_patron"
    assert member["campaign"] == {"id": "5000", "type": "campaign", "vanity": "casey"}
    assert member["currently_entitled_tiers"][0]["title"] == "Supporter"
    # The member points back at the user: the cycle stops at the identity.
    assert member["user"] == {"id": "201", "type": "user"}
    assert document.raw is IDENTITY_DOCUMENT


def test_normalize_keeps_missing_includes_as_bare_identifiers():
    document = normalize(
        {
            "data": {
                "type": "member",
                "id": "m1",
                "relationships": {"user": {"data": {"type": "user", "id": "9"}}},
            }
        }
    )
    assert document.data["user"] == {"id": "9", "type": "user"}


def test_document_reads_pagination():
    document = Document(
        data=[], raw={"meta": {"pagination": {"total": 2500, "cursors": {"next": "c2"}}}}
    )
    assert (document.total, document.next_cursor) == (2500, "c2")
    assert (
        Document(data=None, raw={"meta": {"pagination": {"cursors": {"next": None}}}}).next_cursor
        is None
    )


def test_normalize_refuses_what_is_not_json_api():
    with pytest.raises(ValueError):
        normalize({"errors": []})
