"""The creator's dashboard: who may see it, what it shows, sync, members, CSV, scale."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest
import redis

from tests.conftest import base_env
from tests.site.conftest import AuthActions
from tests.site.helpers import (
    WEBHOOK_SECRET,
    PatreonTrouble,
    member_body,
    post_webhook,
    recording_redis,
    row_count,
    sandbox_calls,
    services,
    site_state,
    table_rows,
)
from webapp.sandbox.personas import Generated
from webapp.site.members_index import MembersIndex

DASHBOARD_GETS = ("/dashboard", "/dashboard/members", "/dashboard/members.csv")
PERSONA_MEMBERS = ["Dana Declined", "Finley Follower", "Frankie Former", "Harper High", "Lee Low"]


@pytest.fixture
def app_env():
    return base_env(PATREON_WEBHOOK_SECRET=WEBHOOK_SECRET)


def sync(client, auth):
    return client.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/dashboard")})


@pytest.fixture
def creator(client, auth):
    """The creator logged in, the five persona members synced."""
    auth.login("creator")
    assert sync(client, auth).status_code == 302
    return client


def index(app) -> MembersIndex:
    return MembersIndex(services(app), "5000")


def csv_rows(answer) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def members_page(client, **query) -> str:
    answer = client.get("/dashboard/members", query_string=query)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


# -- who may see it ---------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client):
    for path in DASHBOARD_GETS:
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("persona", ["patron-low", "patron-high", "other-creator"])
def test_anyone_but_the_creator_gets_403_and_no_campaign_data(app, client, auth, persona):
    creator = app.test_client()
    creator_auth = AuthActions(creator)
    creator_auth.login("creator")
    sync(creator, creator_auth)

    auth.login(persona)
    for path in DASHBOARD_GETS:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "Dana Declined" not in answer.get_data(as_text=True)
    token = auth.csrf_token("/")
    before = site_state(app)
    answer = client.post("/dashboard/sync", data={"csrf_token": token})
    assert answer.status_code == 403
    assert site_state(app) == before


@pytest.mark.parametrize("token", [None, "gAAAA-undecryptable"], ids=["none", "undecryptable"])
def test_without_a_usable_creator_token_the_dashboard_says_how_to_connect(
    app, creator, auth, token
):
    svc = services(app)
    # A token that cannot be decrypted (e.g. TOKEN_ENCRYPTION_KEY rotated without the old key)
    # is as good as none: nobody can read the campaign with it.
    if token is None:
        svc.redis.delete(svc.keys.creator_token)
    else:
        svc.redis.set(svc.keys.creator_token, token)
    for path in DASHBOARD_GETS:
        answer = creator.get(path)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 200 and answer.mimetype == "text/html", path
        assert "PATREON_CREATOR_ACCESS_TOKEN" in page and "store-creator-token" in page
        for name in PERSONA_MEMBERS:
            assert name not in page
        assert "$20.00" not in page
    calls = sandbox_calls(creator, "campaign_members")
    answer = creator.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/")})
    assert "PATREON_CREATOR_ACCESS_TOKEN" in answer.get_data(as_text=True)
    assert sandbox_calls(creator, "campaign_members") == calls
    assert svc.redis.get(svc.keys.creator_token) == token  # never overwritten


@pytest.mark.parametrize("persona", ["follower", "patron-high", "other-creator"])
def test_without_a_creator_token_anyone_but_the_known_creator_gets_403(app, client, auth, persona):
    creator = app.test_client()
    AuthActions(creator).login("creator")
    # The token was lost (e.g. invalid_grant), the campaign record with its creator remains.
    svc = services(app)
    svc.redis.delete(svc.keys.creator_token)
    auth.login(persona)
    for path in DASHBOARD_GETS:
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "PATREON_CREATOR_ACCESS_TOKEN" not in answer.get_data(as_text=True)
    before = site_state(app)
    answer = client.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/")})
    assert answer.status_code == 403
    assert site_state(app) == before
    assert creator.get("/dashboard").status_code == 200  # the creator: "reconnect"


@pytest.mark.parametrize(
    "app_env",
    [base_env(), base_env(PATREON_CAMPAIGN_ID="5000")],
    ids=["campaign-unknown", "creator-unknown"],
)
@pytest.mark.parametrize("persona", ["follower", "creator"])
def test_while_the_campaigns_creator_is_unknown_the_dashboard_is_503_with_how_to_connect(
    app, client, auth, persona, monkeypatch
):
    # A fresh deploy whose campaign cannot be read (no usable creator token, or Patreon
    # unreachable): nobody can be recognised as the creator, so nobody gets a 200.
    auth.login(persona)
    svc = services(app)
    svc.redis.delete(svc.keys.campaign)
    PatreonTrouble(monkeypatch).mode = "down"
    for path in DASHBOARD_GETS:
        answer = client.get(path)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 503 and answer.mimetype == "text/html", path
        assert answer.headers["Retry-After"]
        assert "PATREON_CREATOR_ACCESS_TOKEN" in page
    answer = client.post("/dashboard/sync", data={"csrf_token": auth.csrf_token("/")})
    assert answer.status_code == 503
    assert sandbox_calls(client, "campaign_members") == 0


def test_a_dashboard_view_decrypts_the_creator_token_once(app, creator, monkeypatch):
    cipher = services(app).cipher
    decrypted = []
    decrypt = cipher.decrypt

    def counted(token, *args, **kwargs):
        decrypted.append(token)
        return decrypt(token, *args, **kwargs)

    monkeypatch.setattr(cipher, "decrypt", counted)
    assert creator.get("/dashboard").status_code == 200
    assert len(decrypted) == 1


# -- what it shows ----------------------------------------------------------------------


def test_the_summary_chart_token_health_and_recent_events_render(app, creator):
    post_webhook(creator, member_body("201", cents=1500, tiers=(("6002", "VIP"),)))
    answer = creator.get("/dashboard")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "private, no-store"
    # Summary: Harper ($15) and Lee (now $15) are the active patrons of five members.
    summary = index(app).summary(["6001", "6002", "6003"])
    assert (summary.patrons, summary.total, summary.monthly_cents) == (2, 5, 3000)
    assert "$30.00" in page
    # The chart: one bar per tier, drawn on the server (an SVG, no script).
    chart = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert chart.count("<rect") == 3
    for title in ("Supporter", "VIP", "Studio Pass"):
        assert title in chart
    assert summary.by_tier == {"6001": 0, "6002": 2, "6003": 0}
    assert "<script" not in page
    # Token health: the seeded token has no known expiry; it never shows the token itself.
    token = services(app).creator_store().get()
    assert "expiry known after the first refresh" in page
    assert token.access_token not in page and token.refresh_token not in page
    # Recent webhook events.
    assert "members:pledge:update" in page and "applied" in page


def test_sync_without_the_csrf_token_is_refused_and_reads_nothing(app, client, auth):
    auth.login("creator")
    before = site_state(app)
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post("/dashboard/sync", data=data)
        assert answer.status_code == 400
        assert "form expired" in answer.get_data(as_text=True)
    assert sandbox_calls(client, "campaign_members") == 0
    assert site_state(app) == before
    assert index(app).summary([]).synced_at is None


def test_sync_with_the_csrf_token_reads_every_member(app, client, auth):
    auth.login("creator")
    answer = sync(client, auth)
    assert answer.status_code == 302 and answer.headers["Location"] == "/dashboard"
    assert "Synced 5 members from Patreon." in client.get("/dashboard").get_data(as_text=True)
    assert [r["name"] for r in csv_rows(client.get("/dashboard/members.csv"))] == PERSONA_MEMBERS
    assert index(app).summary([]).synced_at is not None


@pytest.mark.parametrize("app_env", [base_env(SANDBOX_MEMBERS="1500")])
def test_a_sync_that_patreon_breaks_off_keeps_the_old_index_and_leaves_no_debris(
    app, client, auth, monkeypatch
):
    auth.login("creator")
    sync(client, auth)
    before = site_state(app)
    assert len(before[f"members:5000:{before['members:5000:current']}:rows"]) == 1505

    trouble = PatreonTrouble(monkeypatch)
    trouble.mode, trouble.only = "429", "page%5Bcursor%5D"  # the second page is throttled
    answer = sync(client, auth)
    assert trouble.hits == 1
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Patreon did not answer the sync" in page
    after = site_state(app)
    del before["campaign"], after["campaign"]  # re-read at the start of every sync
    assert after == before  # the first page's 1,000 rows were not left behind


# -- members: filter, search, pages --------------------------------------------------------


FILTERS = [
    ({}, PERSONA_MEMBERS),
    ({"status": "active_patron"}, ["Harper High", "Lee Low"]),
    ({"status": "declined_patron"}, ["Dana Declined"]),
    ({"status": "former_patron"}, ["Frankie Former"]),
    ({"status": "none"}, ["Finley Follower"]),
    ({"tier": "6002"}, ["Harper High"]),
    ({"tier": "6003"}, []),
    ({"status": "active_patron", "tier": "6001"}, ["Lee Low"]),
    ({"status": "declined_patron", "tier": "6001"}, []),
    ({"q": "LEE"}, ["Lee Low"]),
    ({"q": "  high "}, ["Harper High"]),
    ({"q": "f"}, ["Finley Follower", "Frankie Former"]),
    ({"q": "f", "status": "former_patron"}, ["Frankie Former"]),
    ({"q": "nobody at all"}, []),
    ({"q": "<script>"}, []),
]


def test_members_filter_by_status_and_tier_and_search_by_name(creator):
    for query, names in FILTERS:
        page = members_page(creator, **query)
        assert table_rows(page) == names, query
        exported = csv_rows(creator.get("/dashboard/members.csv", query_string=query))
        assert [r["name"] for r in exported] == names, query


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"status": "patron"}, "Unknown status filter"),
        ({"status": "ACTIVE_PATRON"}, "Unknown status filter"),
        ({"tier": "6101"}, "Unknown tier filter"),  # another campaign's tier
        ({"tier": "VIP"}, "Unknown tier filter"),
    ],
)
def test_an_unknown_status_or_tier_is_400_with_a_plain_reason(creator, query, reason):
    for path in ("/dashboard/members", "/dashboard/members.csv"):
        answer = creator.get(path, query_string=query)
        assert answer.status_code == 400
        assert answer.mimetype == "text/html"
        assert reason in answer.get_data(as_text=True)


@pytest.mark.parametrize("app_env", [base_env(SANDBOX_MEMBERS="120")])
def test_members_are_paginated_on_the_server_in_name_order(client, auth):
    auth.login("creator")
    sync(client, auth)
    everyone = [r["name"] for r in csv_rows(client.get("/dashboard/members.csv"))]
    assert len(everyone) == 125 and everyone == sorted(everyone, key=str.casefold)

    pages = [table_rows(members_page(client, page=n)) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [50, 50, 25]
    assert pages[0] + pages[1] + pages[2] == everyone
    assert "page 2 of 3" in members_page(client, page=2)
    active = table_rows(members_page(client, status="active_patron", page=2))
    exported = [
        r["name"] for r in csv_rows(client.get("/dashboard/members.csv?status=active_patron"))
    ]
    assert active == exported[50:100]


ODD_PAGES = [
    ("abc", 1),
    ("-3", 1),
    ("0", 1),
    ("1.5", 1),
    ("", 1),
    ("4", 3),  # beyond the end: the last page
    ("99999999999", 3),
    ("99999999999999999999999999", 3),  # beyond any Redis index
]


@pytest.mark.parametrize("app_env", [base_env(SANDBOX_MEMBERS="120")])
def test_odd_page_numbers_give_a_sane_page_never_an_error(client, auth):
    auth.login("creator")
    sync(client, auth)
    for page, shown in ODD_PAGES:
        html = members_page(client, page=page)
        assert f"page {shown} of 3" in html, page
        assert row_count(html) == (25 if shown == 3 else 50), page
    for query in ("page=1&page=2", "page=%ff", "page=%00", "page=" + "9" * 5000):
        assert client.get(f"/dashboard/members?{query}").status_code == 200, query


def test_an_empty_filter_result_pages_sanely(creator):
    html = members_page(creator, tier="6003", page="7")
    assert "0 members · page 1 of 1" in html


# -- CSV export ---------------------------------------------------------------------------


def test_the_csv_export_is_a_download_of_the_filtered_members(creator):
    answer = creator.get("/dashboard/members.csv?status=active_patron")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="members.csv"'
    assert answer.headers["Cache-Control"] == "private, no-store"
    rows = csv_rows(answer)
    assert [(r["name"], r["status"], r["tiers"], r["entitled_cents"]) for r in rows] == [
        ("Harper High", "active_patron", "VIP", "1500"),
        ("Lee Low", "active_patron", "Supporter", "500"),
    ]


@pytest.mark.parametrize("query", [{}, {"status": "active_patron"}, {"q": "lee"}])
def test_the_csv_export_is_503_when_redis_fails_before_a_row_is_sent(
    app, creator, query, monkeypatch
):
    # The matching entries are read before the answer starts: a Redis failure there
    # is a 503 page, not a 200 whose body breaks off.
    def down(*args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(services(app).redis, "zrange", down)
    answer = creator.get("/dashboard/members.csv", query_string=query)
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    assert answer.headers["Retry-After"]
    assert "data store is not answering" in answer.get_data(as_text=True)


FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tindented",
    "\r=1",
]


def test_the_csv_export_neutralises_spreadsheet_formulas_in_names(creator):
    for number, name in enumerate(FORMULAS):
        body = member_body(str(9000 + number), name=name, cents=500, tiers=(("6001", "Supporter"),))
        assert post_webhook(creator, body).json["status"] == "applied"
    post_webhook(creator, member_body("9100", name='Quote "Q", Comma', tiers=()))
    rows = csv_rows(creator.get("/dashboard/members.csv"))
    names = {r["user_id"]: r["name"] for r in rows}
    for number, name in enumerate(FORMULAS):
        exported = names[str(9000 + number)]
        assert exported == "'" + name, exported
    assert names["9100"] == 'Quote "Q", Comma'
    assert names["201"] == "Lee Low"


# -- scale: 10,000 members ------------------------------------------------------------------


@pytest.fixture
def ten_thousand(redis_url, redis_prefix):
    return base_env(SANDBOX_MEMBERS="10000", REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)


def test_ten_thousand_members_sync_and_the_first_page_reads_only_its_rows(ten_thousand):
    from webapp import create_app

    app = create_app(ten_thousand)
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("creator")

    started = time.perf_counter()
    answer = sync(client, auth)
    sync_seconds = time.perf_counter() - started
    assert answer.status_code == 302
    assert sandbox_calls(client, "campaign_members") == 11  # pages of 1,000, then the last 5
    assert index(app).summary([]).total == 10_005

    with recording_redis(app) as reads:
        started = time.perf_counter()
        page = client.get("/dashboard/members")
        page_seconds = time.perf_counter() - started
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert row_count(html) == 50
    assert "10,005 members · page 1 of 201" in html
    # What came back from Redis: the 50 rows of the page and a few small keys, not 10,000.
    assert reads.returned_by("hmget") == [50]
    assert reads.returned_by("zrange") == [50]
    assert max(n for _, n in reads.log) <= 50
    assert reads.items < 150, reads.log

    with recording_redis(app) as reads:
        started = time.perf_counter()
        dashboard = client.get("/dashboard")
        dashboard_seconds = time.perf_counter() - started
    assert dashboard.status_code == 200
    assert reads.items < 60, reads.log
    generated = Generated(10_000).tier_counts
    expected = {
        "6001": generated["6001"] + 1,  # + Lee Low
        "6002": generated["6002"] + 1,  # + Harper High
        "6003": generated["6003"],
    }
    assert index(app).summary(expected).by_tier == expected
    chart = re.search(r"<svg.*?</svg>", dashboard.get_data(as_text=True), re.S).group(0)
    assert chart.count("<rect") == 3
    for count in expected.values():
        assert f">{count:,}</text>" in chart

    print(
        f"\n10k members: sync {sync_seconds:.2f}s, first members page {page_seconds * 1000:.0f} ms,"
        f" dashboard {dashboard_seconds * 1000:.0f} ms"
    )
    assert page_seconds < 1.0 and dashboard_seconds < 1.0
