"""Browser journeys: the system Chromium, driven by Playwright, against a real server.

One browser per session; each test gets a fresh context (no cookies shared).
Each test module defines a module-scoped `site` fixture (usually with
`serve_site`), so one server and one Redis prefix serve all of its journeys.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)

from tests.conftest import base_env, require
from tests.servers import serving
from webapp import create_app
from webapp.sandbox.personas import PERSONA_USER_IDS, USERS

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: Chromium's own background calls would only fail.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "output" / "screenshots"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
COLOR_SCHEMES = ("light", "dark")
CONSENT_PATH = "/sandbox/oauth2/authorize"


@dataclass(frozen=True)
class Site:
    origin: str

    def url(self, path: str) -> str:
        return self.origin + path


@contextmanager
def serve_site(redis_url: str, **env: str) -> Iterator[Site]:
    """The site on a free port: real Redis under a prefix of its own, embedded sandbox.

    Module-scoped journeys cannot use the function-scoped `redis_prefix`
    fixture, so this makes and cleans its own prefix the same way.
    """
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    app = create_app(base_env(REDIS_URL=redis_url, REDIS_PREFIX=prefix, **env))
    try:
        with serving(app) as server:
            yield Site(server.origin)
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require(CHROMIUM.exists(), f"no Chromium at {CHROMIUM} (Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A fresh browser context on the site; the test fails on any console error.

    Console errors and failed subresources catch what a user would not report
    but would suffer from: a CSP violation (an inline style or script), or a
    stylesheet, image or icon that did not load.
    """
    width, height = VIEWPORTS["desktop"]
    context = browser.new_context(base_url=site.origin, viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx page as "Failed to load resource"; the pages'
        # statuses are asserted by the tests, subresources by on_response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def on_response(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    yield page
    context.close()
    assert not problems, f"browser console errors or failed resources: {problems}"


def full_name(persona: str) -> str:
    return USERS[PERSONA_USER_IDS[persona]].full_name


def choose_on_consent_page(page: Page, persona: str, decision: str = "Allow") -> Response:
    """On the sandbox's consent page: pick the persona by name, then Allow or Deny.

    Returns the response of the page the browser lands on, after the redirects.
    """
    expect(page).to_have_url(re.compile(re.escape(CONSENT_PATH)))
    expect(page.get_by_role("heading", level=1)).to_contain_text("wants to connect")
    page.get_by_role("radio", name=re.compile(re.escape(full_name(persona)))).check()
    with page.expect_navigation() as landing:
        page.get_by_role("button", name=decision, exact=True).click()
    response = landing.value
    assert response is not None
    return response


def log_in(page: Page, persona: str, path: str = "/members") -> Response:
    """Open a gated `path` logged out, and log in as `persona` on the way there."""
    page.goto(path)
    return choose_on_consent_page(page, persona)


def screenshot(page: Page, name: str) -> None:
    """Save the whole page at phone and desktop width, light and dark, for a human to look at.

    Files are `NAME-phone.png`, `NAME-desktop.png`, `NAME-phone-dark.png`, ...
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in COLOR_SCHEMES:
        page.emulate_media(color_scheme=scheme)
        suffix = "" if scheme == "light" else f"-{scheme}"
        for label, (width, height) in VIEWPORTS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=SCREENSHOTS / f"{name}-{label}{suffix}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    width, height = VIEWPORTS["desktop"]
    page.set_viewport_size({"width": width, "height": height})
