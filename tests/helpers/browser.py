"""Headless Chromium for tests of the web UI: Debian's Chromium driven by Playwright for
Python, one browser per test process.

``anonymous_page`` is a fresh browser context, not signed in (``login(page, server)``
signs it in to any server), watched (``watch``) for JavaScript errors and requests to any
host but 127.0.0.1 (such requests are also blocked). The fixtures are the suite's
(``tests/conftest.py`` imports them): one ``browser`` fixture for every test group, since
Playwright's sync API cannot start twice in one process.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers.server import ServerProcess

CHROMIUM = os.environ.get("TUNEHOUSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium (fails, with the way to install it, when it is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
                    "(scripts/install-test-deps.sh) or set TUNEHOUSE_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


class PageWatch:
    """What the pages of one test did wrong: console errors, uncaught exceptions and
    requests to other hosts."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.foreign: list[str] = []

    def console(self, kind: str, text: str) -> None:
        # a page answered with an error status (a refused sign-in, a 404 page) is logged
        # as "Failed to load resource": failed requests are judged by ``response`` instead
        if kind == "error" and not text.startswith("Failed to load resource"):
            self.errors.append(text)

    def response(self, response) -> None:  # type: ignore[no-untyped-def]
        """A failed request of a script, style, image or API call is an error; a page
        (document) may answer with an error status on purpose."""
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} {response.request.method} {response.url}")

    def check(self) -> None:
        assert not self.foreign, f"requests left 127.0.0.1: {self.foreign}"
        assert not self.errors, f"JavaScript errors: {self.errors}"


def login(page, server: ServerProcess, user: str | None = None,  # type: ignore[no-untyped-def]
          password: str | None = None) -> None:
    """Sign in through the login form."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", user or server.admin_user)
    page.fill("input[name=password]", password or server.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/projects")


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def anonymous_page(browser, watch: PageWatch) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A page in a fresh context, not signed in, watched for errors and foreign requests
    (of any server: ``login(page, server)`` signs it in)."""
    # a client address of its own (the server trusts X-Forwarded-For from 127.0.0.1): the
    # sign-ins a test fails on purpose then never count against other tests' address
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  extra_http_headers={"X-Forwarded-For": address})

    def guard(route) -> None:  # type: ignore[no-untyped-def]
        host = urlsplit(route.request.url).hostname
        if host in LOCAL_HOSTS or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            watch.foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda msg: watch.console(msg.type, msg.text))
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on("response", watch.response)
    yield page
    context.close()


__all__ = ["CHROMIUM", "PageWatch", "anonymous_page", "browser", "login", "watch"]
