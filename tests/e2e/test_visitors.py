"""What each persona can open after logging in through the consent page; Deny; logout.

One server for the module: every journey logs in in its own browser context,
and none of them changes a pledge, so they cannot disturb each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Response, expect

from tests.e2e.conftest import (
    CONSENT_PATH,
    Site,
    choose_on_consent_page,
    full_name,
    log_in,
    screenshot,
    serve_site,
)
from webapp.sandbox.personas import PLEDGE_URL

pytestmark = [pytest.mark.browser, pytest.mark.redis]

# persona -> (opens /members, opens /members/vip, line under the name in the header)
ACCESS = {
    "creator": (True, True, "Creator"),
    "patron-low": (True, False, "Supporter"),
    "patron-high": (True, True, "VIP"),
    "declined": (False, False, "Not a patron"),
    "former": (False, False, "Not a patron"),
    "follower": (False, False, "Not a patron"),
    "other-creator": (False, False, "Not a patron"),
}


@pytest.fixture(scope="module")
def site(redis_url: str) -> Iterator[Site]:
    with serve_site(redis_url) as site:
        yield site


def expect_members_page(page: Page, response: Response, persona: str) -> None:
    assert response.status == 200
    first_name = full_name(persona).split()[0]
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Thank you for your support, {first_name}!"
    )


def expect_vip_page(page: Page, response: Response) -> None:
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("The VIP room")


def expect_forbidden(page: Page, response: Response) -> None:
    """The 403 says what is needed and offers the campaign's pledge page."""
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your membership doesn't include this page"
    )
    expect(page.get_by_role("main")).to_contain_text("To open this page you need")
    pledge = page.get_by_role("link", name="Become a patron")
    expect(pledge).to_be_visible()
    expect(pledge).to_have_attribute("href", PLEDGE_URL)


@pytest.mark.parametrize("persona", list(ACCESS))
def test_each_persona_opens_what_their_pledge_allows(page: Page, site: Site, persona: str):
    members, vip, tier_line = ACCESS[persona]

    response = log_in(page, persona, "/members")

    expect(page).to_have_url(site.url("/members"))
    header = page.get_by_role("banner")
    expect(header).to_contain_text(full_name(persona))
    expect(header).to_contain_text(tier_line)
    if members:
        expect_members_page(page, response, persona)
    else:
        expect_forbidden(page, response)

    response = page.goto("/members/vip")
    if vip:
        expect_vip_page(page, response)
    else:
        expect_forbidden(page, response)

    response = page.goto("/dashboard")
    if persona == "creator":
        assert response.status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Casey's Comics")
        expect(page.get_by_role("navigation", name="Dashboard")).to_be_visible()
    else:
        expect_forbidden(page, response)


def test_deny_on_the_consent_page_is_a_plain_400_and_no_login(page: Page, site: Site):
    page.goto("/members")

    response = choose_on_consent_page(page, "patron-low", decision="Deny")

    assert response.status == 400
    expect(page.get_by_role("main")).to_contain_text(
        "You chose not to allow access on Patreon, so you are not logged in."
    )
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name="Log in with Patreon")).to_be_visible()
    expect(header).not_to_contain_text(full_name("patron-low"))

    # Changing one's mind: the header's login link leads to a login, not back to the 400.
    header.get_by_role("link", name="Log in with Patreon").click()
    choose_on_consent_page(page, "patron-low")
    expect(page).to_have_url(site.url("/"))
    expect(header).to_contain_text(full_name("patron-low"))


def test_logout_from_the_header_ends_the_session(page: Page, site: Site):
    log_in(page, "patron-low", "/members")
    header = page.get_by_role("banner")
    expect(header).to_contain_text(full_name("patron-low"))

    header.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(site.url("/"))
    expect(header.get_by_role("link", name="Log in with Patreon")).to_be_visible()
    expect(header).not_to_contain_text(full_name("patron-low"))
    page.goto("/members")
    expect(page).to_have_url(re.compile(re.escape(CONSENT_PATH)))


def test_a_visitors_tour_with_screenshots(page: Page, site: Site):
    """Home, consent page, home logged in, /members and a 403, as a visitor sees them."""
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Casey's Comics")
    expect(page.get_by_role("heading", name="What is here")).to_be_visible()
    screenshot(page, "home-anonymous")

    page.get_by_role("main").get_by_role("link", name="Log in with Patreon").click()
    expect(page).to_have_url(re.compile(re.escape(CONSENT_PATH)))
    screenshot(page, "consent")

    choose_on_consent_page(page, "patron-low")
    expect(page).to_have_url(site.url("/"))
    access = page.get_by_role("list").filter(has_text="/members/vip")
    expect(access.get_by_role("listitem").filter(has_text="/members/vip")).to_contain_text("locked")
    expect(
        access.get_by_role("listitem").filter(has_text=re.compile(r"/members\s"))
    ).to_contain_text("open to you")
    screenshot(page, "home-logged-in")

    response = page.goto("/members")
    expect_members_page(page, response, "patron-low")
    screenshot(page, "members")

    response = page.goto("/members/vip")
    expect_forbidden(page, response)
    screenshot(page, "forbidden")

    page.get_by_role("link", name="Become a patron").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Casey's Comics")
