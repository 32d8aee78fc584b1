"""The Reports page in headless Chromium, at laptop and phone sizes, against a live server."""

from __future__ import annotations

import json

import requests

from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import playwright_api
from tests.browser.test_console import TIMEOUT
from tests.browser.test_console import cli
from tests.browser.test_console import server  # noqa: F401 - the module's live server fixture


def test_reports_page_charts(server, browser):  # noqa: F811
    api = f"{server.base_url}/v1"
    auth = {"Authorization": f"Bearer {server.api_key}"}
    for name in ("Ann", "Bo", "Cy"):
        cid = requests.post(f"{api}/conversations", json={"shopper": {"name": name}}, headers=auth, timeout=10).json()["id"]
        requests.post(f"{api}/conversations/{cid}/handover", json={}, headers=auth, timeout=10)
    requests.post(f"{api}/conversations/{cid}/messages", json={"author": "human", "text": "on it", "author_name": "Dee"},
                  headers=auth, timeout=10)
    (ARTIFACTS / "reports").mkdir(parents=True, exist_ok=True)
    for width, height, label in ((1280, 800, "laptop"), (390, 844, "phone")):
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        page.set_default_timeout(TIMEOUT)
        demo = json.loads(cli(server, "workspace", "list", "--json"))[0]["id"]
        page.goto(cli(server, "admin", "link", demo).replace("http://127.0.0.1:8000", server.base_url))  # one-time
        page.get_by_role("link", name="Reports").click()
        expect = playwright_api.expect
        expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
        expect(page.locator("#figure-handovers")).to_have_text("3")
        expect(page.locator("#figure-claimed")).to_have_text("1")
        charts = page.get_by_role("img")
        expect(charts).to_have_count(4)
        box = page.locator("#chart-per-day svg").bounding_box()
        assert box and box["width"] > 200 and box["x"] + box["width"] <= width + 1  # on screen, not overflowing
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / "reports" / f"reports-{label}.png"), full_page=True)
        page.context.close()
