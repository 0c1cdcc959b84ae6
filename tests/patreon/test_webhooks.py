import hashlib
import hmac
import json

import pytest

from webapp.patreon import parse_member_event, sign, verify_signature
from webapp.patreon.webhooks import WebhookError

BODY = json.dumps(
    {
        "data": {
            "type": "member",
            "id": "m-5000-201",
            "attributes": {
                "patron_status": "active_patron",
                "currently_entitled_amount_cents": 1500,
                "last_charge_status": "Paid",
                "last_charge_date": "2026-11-01T00:00:00.000+00:00",
                "pledge_relationship_start": "2026-01-01T00:00:00.000+00:00",
                "full_name": "Lee Low",
            },
            "relationships": {
                "user": {"data": {"type": "user", "id": "201"}},
                "campaign": {"data": {"type": "campaign", "id": "5000"}},
                "currently_entitled_tiers": {"data": [{"type": "tier", "id": "6002"}]},
            },
        },
        "included": [
            {"type": "user", "id": "201", "attributes": {"full_name": "Lee Low"}},
            {"type": "campaign", "id": "5000", "attributes": {}},
            {"type": "tier", "id": "6002", "attributes": {"title": "VIP", "amount_cents": 1500}},
        ],
    }
).encode()


def test_signature_is_hex_hmac_md5_of_the_raw_body():
    expected = hmac.new(b"s3cret", BODY, hashlib.md5).hexdigest()
    assert sign("s3cret", BODY) == expected
    assert verify_signature(["s3cret"], expected, BODY)
    assert verify_signature(["s3cret"], expected.upper(), BODY)


def test_any_configured_secret_verifies():
    assert verify_signature(["old", "new"], sign("new", BODY), BODY)
    assert verify_signature(["old", "new"], sign("old", BODY), BODY)


@pytest.mark.parametrize("signature", [None, "", "00" * 16, sign("other", BODY)])
def test_bad_or_missing_signatures_fail(signature):
    assert not verify_signature(["s3cret"], signature, BODY)


def test_a_changed_body_fails():
    assert not verify_signature(["s3cret"], sign("s3cret", BODY), BODY + b" ")


def test_member_event_becomes_a_snapshot():
    event = parse_member_event("members:pledge:update", BODY)
    snapshot = event.snapshot
    assert (event.user_id, event.campaign_id) == ("201", "5000")
    assert snapshot.is_active_patron
    assert snapshot.currently_entitled_amount_cents == 1500
    assert snapshot.tier_ids == ("6002",) and snapshot.tier_titles == ("VIP",)
    assert snapshot.is_entitled_to_tier("vip") and snapshot.is_entitled_to_tier("6002")
    assert snapshot.last_charge_status == "Paid"
    assert snapshot.source == "webhook"


def test_members_delete_leaves_no_membership():
    snapshot = parse_member_event("members:delete", BODY).snapshot
    assert not snapshot.is_active_patron
    assert snapshot.currently_entitled_amount_cents == 0


def _with_tiers_attribute(tiers) -> bytes:
    document = json.loads(BODY)
    del document["data"]["relationships"]["currently_entitled_tiers"]
    document["data"]["attributes"]["currently_entitled_tiers"] = tiers
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("trigger", "body"),
    [
        ("posts:publish", BODY),
        (None, BODY),
        ("members:update", b"not json"),
        ("members:update", b'{"data": {"type": "user", "id": "1"}}'),
        ("members:update", b'{"data": {"type": "member", "id": "m"}}'),
        ("members:update", b"[]"),
        # Validly signed but misshapen: never an AttributeError or RecursionError.
        pytest.param(
            "members:update",
            b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            id="deeply-nested",
        ),
        pytest.param("members:update", _with_tiers_attribute([1]), id="tiers-numbers"),
        ("members:update", b'{"data": {"type": "member", "id": "m", "relationships": 1}}'),
        ("members:update", b'{"data": [1]}'),
    ],
)
def test_malformed_events_are_refused(trigger, body):
    with pytest.raises(WebhookError):
        parse_member_event(trigger, body)
