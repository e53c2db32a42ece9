"""The browser journeys' fixtures: Debian's Chromium driven by Playwright, and screenshots.

Chromium is the system's (``/usr/bin/chromium``, Debian's package); Playwright never downloads
a browser here. Screenshots of every page a journey visits go to ``$SCREENSHOT_DIR``, else to
``test-artifacts/screenshots`` in the repository (git-ignored); the run prints the folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SHOTS = pytest.StashKey[list[Path]]()


def screenshot_dir() -> Path:
    folder = os.environ.get("SCREENSHOT_DIR") or str(REPO / "test-artifacts" / "screenshots")
    return Path(folder).resolve()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module's journeys."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}, and it is missing. "
            "Install Debian's chromium package (`sudo apt-get install chromium`, or "
            "`make browser`); the tests never download a browser.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread, so Django would take the
    # test's own ORM calls between browser steps for calls from async code and refuse them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()


class Screenshots:
    """Full-page screenshots of a journey, numbered in the order the pages were seen."""

    def __init__(self, journey: str, folder: Path, taken: list[Path]) -> None:
        self.journey = journey
        self.folder = folder
        self.taken = taken
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{journey}-[0-9][0-9]-*.png"):
            old.unlink()

    def take(self, page: Any, name: str) -> Path:
        # Every screenshot shows the page in Chinese, as the users see it.
        assert page.evaluate("document.documentElement.lang") == "zh-hans", page.url
        self.count += 1
        slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.journey}-{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Screenshots:
    journey = request.node.name.removeprefix("test_").split("_")[0]
    taken = request.config.stash.setdefault(SHOTS, [])
    return Screenshots(journey, screenshot_dir(), taken)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    taken = config.stash.get(SHOTS, [])
    if taken:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(
            f"{len(taken)} screenshots of the journeys (zh-Hans) in {screenshot_dir()}"
        )
