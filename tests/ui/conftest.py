"""Browser fixtures of the UI tests (Debian's Chromium driven headless by Playwright; the
browser itself and ``anonymous_page`` are the suite's, ``tests/helpers/browser.py``).

``page`` is a fresh browser context signed in as the shared server's admin through the
login form. Every test using it fails when a page logged a JavaScript error or tried
to reach any host but 127.0.0.1 (such requests are also blocked). ``shot(page, name)``
saves a screenshot under ``test-output/screenshots``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.browser import PageWatch, login
from tests.helpers.server import ServerProcess
from tunehouse.store.base import Store

__all__ = ["PageWatch", "login"]  # the UI tests import them from here

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def store(shared_server: ServerProcess) -> Iterator[Store]:
    """The HTTP store acting as the shared server's admin."""
    opened = shared_server.store()
    yield opened
    opened.close()


@pytest.fixture
def page(anonymous_page, shared_server: ServerProcess,  # type: ignore[no-untyped-def]
         watch: PageWatch) -> Iterator[object]:
    """A page signed in as the shared server's admin; checked for errors at the end."""
    login(anonymous_page, shared_server)
    yield anonymous_page
    watch.check()


@pytest.fixture
def shot() -> Callable[..., Path]:
    """``shot(page, name)``: a full-page screenshot saved as ``<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
