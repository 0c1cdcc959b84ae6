"""The creator's dashboard in the browser: sync, summary and chart, members, CSV.

The sandbox campaign gets generated members so the members list has several
pages. Both journeys sync first (a sync replaces the index whole, so it is
repeatable), and neither depends on the other having run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Site, log_in, screenshot, serve_site
from webapp.site.dashboard import PER_PAGE

pytestmark = [pytest.mark.browser, pytest.mark.redis]

GENERATED_MEMBERS = 2 * PER_PAGE + 20  # three pages of members
TIERS = ("Supporter", "VIP", "Studio Pass")
# What a spreadsheet user relies on: spelled out here, not imported from the view.
CSV_HEADER = (
    "name,status,tiers,entitled_cents,last_charge_status,last_charge_date,"
    "pledge_start,member_id,user_id"
)
COUNT_LINE = re.compile(r"([\d,]+) members? · page (\d+) of ([\d,]+)")


@pytest.fixture(scope="module")
def site(redis_url: str) -> Iterator[Site]:
    with serve_site(redis_url, SANDBOX_MEMBERS=str(GENERATED_MEMBERS)) as site:
        yield site


def sync_from_the_dashboard(page: Page) -> int:
    """Log in as the creator, press the sync button; the number of members synced."""
    log_in(page, "creator", "/dashboard")
    page.get_by_role("button", name="Sync members from Patreon").click()
    flash = page.get_by_role("status").filter(has_text="Synced")
    expect(flash).to_have_text(re.compile(r"Synced \d+ members from Patreon\."))
    return number(re.search(r"[\d,]+", flash.inner_text()).group())


def column(page: Page, header: str) -> list[str]:
    """The text of one column of the members table, by its header."""
    table = page.get_by_role("table")
    headers = [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()]
    # One call into the page for the whole column, not one per cell.
    return table.locator("tbody tr").evaluate_all(
        "(rows, index) => rows.map(row => row.cells[index].innerText.trim())",
        headers.index(header),
    )


def go(page: Page, target: Locator) -> None:
    """Click a link or button that loads a page, and wait for that page.

    Reading the page right after a bare click could still read the old one.
    """
    with page.expect_navigation():
        target.click()


def count_line(page: Page) -> tuple[int, int, int]:
    """(members matching, this page, pages) from the line above the table."""
    line = page.get_by_role("main").get_by_text(COUNT_LINE)
    total, current, pages = COUNT_LINE.search(line.inner_text()).groups()
    return number(total), number(current), number(pages)


def number(text: str) -> int:
    """A count as the page shows it ("10,005") as an int."""
    return int(text.replace(",", ""))


def stat(page: Page, label: str) -> str:
    return page.locator(".stat").filter(has_text=label).locator(".stat__value").inner_text()


def test_sync_fills_the_summary_and_the_chart(page: Page, site: Site):
    synced = sync_from_the_dashboard(page)

    assert synced > GENERATED_MEMBERS
    expect(page).to_have_url(site.url("/dashboard"))
    assert number(stat(page, "Members in all")) == synced
    assert number(stat(page, "Tiers")) == len(TIERS)
    assert number(stat(page, "Active patrons")) > 0
    assert re.fullmatch(r"\$[\d,]+\.\d\d", stat(page, "Entitled a month"))
    expect(page.get_by_role("main")).to_contain_text("Members last synced")
    chart = page.get_by_role("img", name="Active patrons by tier")
    expect(chart).to_be_visible()
    for tier in TIERS:
        expect(chart).to_contain_text(tier)
    token = page.get_by_role("region", name="Creator token")
    expect(token).to_contain_text(re.compile(r"Refresh token\s*stored"))
    screenshot(page, "dashboard")


def test_members_filter_search_pages_and_csv(page: Page, site: Site):
    synced = sync_from_the_dashboard(page)
    go(page, page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Members"))

    total, current, pages = count_line(page)
    assert (total, current, pages) == (synced, 1, -(-synced // PER_PAGE))
    first_page_names = column(page, "Name")
    assert len(first_page_names) == PER_PAGE
    screenshot(page, "dashboard-members")

    # Page forward.
    go(page, page.get_by_role("link", name="Next →"))
    assert count_line(page)[1:] == (2, pages)
    second_page_names = column(page, "Name")
    # In name order across pages (names may repeat, so compare, not intersect).
    assert second_page_names != first_page_names
    assert second_page_names[0].casefold() >= first_page_names[-1].casefold()
    go(page, page.get_by_role("link", name="← Previous"))
    assert column(page, "Name") == first_page_names

    # Filter by status.
    page.get_by_label("Status").select_option(label="Declined")
    go(page, page.get_by_role("button", name="Filter"))
    declined = count_line(page)[0]
    assert 0 < declined < total
    assert set(column(page, "Status")) == {"Declined"}

    # The CSV export follows the filter.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "members.csv"
    lines = download.path().read_text(encoding="utf-8").splitlines()
    assert lines[0] == CSV_HEADER
    assert len(lines) - 1 == declined

    # Filter by tier (any status).
    page.get_by_label("Status").select_option(label="All")
    page.get_by_label("Tier").select_option(label="VIP")
    go(page, page.get_by_role("button", name="Filter"))
    assert 0 < count_line(page)[0] < total
    assert all("VIP" in tiers for tiers in column(page, "Tier"))

    # Search by name: a surname from the unfiltered list.
    page.get_by_label("Tier").select_option(label="All")
    surname = first_page_names[0].split()[-1]
    page.get_by_label("Name").fill(surname)
    go(page, page.get_by_role("button", name="Filter"))
    found = column(page, "Name")
    assert found and all(surname.casefold() in name.casefold() for name in found)
    assert count_line(page)[0] == len(found)
