"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium, never a downloaded browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CONNECTOR_TEST_ARTIFACTS", "test-artifacts")) / "browser"

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"{CHROMIUM} is required (make test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


