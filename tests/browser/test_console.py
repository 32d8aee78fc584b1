"""The console and the demo widget in headless Chromium, against a live ``connector serve``.

Screenshots of every step go to ``test-artifacts/browser/`` (``CONNECTOR_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import requests

from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import playwright_api
from tests.e2e.conftest import ENV
from tests.e2e.conftest import serve

BANNER = "The chat hand-overed to you. Feel free to share your own suggestions or ideas beyond the AI's input."
TIMEOUT = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("console")) as live:
        yield live


class Steps:
    def __init__(self, name: str) -> None:
        self.dir = ARTIFACTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.count = 0

    def shot(self, page, what: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.dir / f"{self.count:02d}-{what}.png"), full_page=True)


def cli(server, *args):
    result = subprocess.run([sys.executable, "-m", "connector", *args], cwd=server.cwd, env=ENV,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_whole_handover_from_console_and_widget(server, browser):
    steps = Steps("handover")
    expect = playwright_api.expect
    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    shopper = browser.new_context(viewport={"width": 480, "height": 800}).new_page()
    for page in (admin, shopper):
        page.set_default_timeout(TIMEOUT)

    admin.goto(server.printed("Console sign-in"))
    expect(admin.get_by_role("heading", name="Conversations")).to_be_visible()
    expect(admin.locator("body")).to_have_attribute("data-live", "yes")
    steps.shot(admin, "signed-in")

    shopper.goto(server.printed("Demo shopper widget"))
    expect(shopper.locator(".widget")).to_have_attribute("data-live", "yes")
    shopper.get_by_label("Message").fill("Hello there")
    shopper.get_by_label("Message").press("Enter")
    expect(shopper.locator(".bubble.ai")).to_have_count(1)
    steps.shot(shopper, "ai-answers")

    # the conversation appears live in the inbox, no refresh
    row = admin.locator(".conversation", has_text="Demo shopper")
    expect(row).to_be_visible()
    row.get_by_role("link").click()
    expect(admin.get_by_role("button", name="Hand over")).to_be_visible()
    expect(admin.locator("#send-bar")).to_be_hidden()
    expect(admin.locator("#banner")).to_be_hidden()

    shopper.get_by_label("Message").fill("Where is my parcel?")
    shopper.get_by_label("Message").press("Enter")
    expect(admin.locator("#transcript .message.shopper", has_text="Where is my parcel?")).to_be_visible()
    steps.shot(admin, "shopper-message-live")

    admin.get_by_role("button", name="Hand over").click()
    expect(admin.locator("#banner")).to_have_text(BANNER)
    expect(admin.locator(".conversation.selected .badge.needs-you")).to_have_text("Needs you")
    expect(admin.locator("#send-bar")).to_be_visible()
    expect(shopper.locator("#who")).to_have_text("You are now talking to a human.")
    steps.shot(admin, "handed-over")
    steps.shot(shopper, "talking-to-a-human")

    # an AI reply is refused while the human is in charge
    conversation_id = shopper.locator(".widget").get_attribute("data-conversation")
    refused = requests.post(f"{server.base_url}/v1/conversations/{conversation_id}/messages",
                            headers={"Authorization": f"Bearer {server.api_key}"},
                            json={"author": "ai", "text": "I can help!"}, timeout=5)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "human_in_control"

    reply = admin.get_by_label(re.compile("Your reply"))
    reply.fill("Hi, Bo here.")
    reply.press("Shift+Enter")
    reply.type("Your parcel ships today.")
    reply.press("Enter")
    human = shopper.locator(".bubble.human")
    expect(human).to_contain_text("Hi, Bo here.\nYour parcel ships today.")
    expect(admin.locator("#transcript .message.human .kind")).to_have_text("Human")
    steps.shot(shopper, "human-reply-live")
    steps.shot(admin, "human-reply-sent")

    ai_answers = shopper.locator(".bubble.ai").count()
    shopper.get_by_label("Message").fill("Thanks!")
    shopper.get_by_label("Message").press("Enter")
    expect(admin.locator("#transcript .message.shopper", has_text="Thanks!")).to_be_visible()
    expect(shopper.locator(".bubble.ai")).to_have_count(ai_answers)  # the AI stays silent

    admin.get_by_role("button", name="Give back to AI").click()
    expect(admin.locator("#banner")).to_be_hidden()
    expect(admin.locator("#send-bar")).to_be_hidden()
    expect(shopper.locator("#who")).to_have_text("You are chatting with the shop's AI assistant.")
    shopper.get_by_label("Message").fill("How long is shipping?")
    shopper.get_by_label("Message").press("Enter")
    expect(shopper.locator(".bubble.ai")).to_have_count(ai_answers + 1)
    expect(shopper.locator(".bubble.ai").last).to_contain_text("shipping")
    steps.shot(admin, "given-back")

    admin.get_by_role("button", name="Resolve").click()
    tabs = admin.get_by_role("navigation", name="Status")
    tabs.get_by_role("link", name="Resolved").click()
    expect(admin.locator(".conversation", has_text="Demo shopper").locator(".badge.resolved")).to_have_text("Resolved")
    steps.shot(admin, "resolved-tab")

    shopper.get_by_label("Message").fill("One more question")
    shopper.get_by_label("Message").press("Enter")
    tabs.get_by_role("link", name="Open").click()
    reopened = admin.locator(".conversation", has_text="Demo shopper")
    expect(reopened).to_be_visible()
    expect(reopened.locator(".badge")).to_have_count(0)  # open, and still with the AI
    state = requests.get(f"{server.base_url}/v1/conversations/{conversation_id}",
                         headers={"Authorization": f"Bearer {server.api_key}"}, timeout=5).json()
    assert (state["status"], state["controller"]) == ("open", "ai")
    steps.shot(admin, "reopened")


def test_a_basic_plan_shows_the_lock_and_the_upgrade_modal(server, browser):
    steps = Steps("basic-plan")
    expect = playwright_api.expect
    basic = json.loads(cli(server, "workspace", "create", "--name", "Basic shop", "--plan", "basic", "--json"))
    created = requests.post(f"{server.base_url}/v1/conversations", json={"shopper": {"name": "Ben"}},
                            headers={"Authorization": f"Bearer {basic['api_key']}"}, timeout=5).json()
    link = cli(server, "admin", "link", basic["id"]).replace("http://127.0.0.1:8000", server.base_url)
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(link)
    page.goto(f"{server.base_url}/console/conversations/{created['id']}")
    button = page.get_by_role("button", name="Hand over")
    expect(button.get_by_role("img", name="Locked")).to_be_visible()
    button.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("heading", name="Upgrade to hand over")).to_be_visible()
    steps.shot(page, "upgrade-modal")
    page.keyboard.press("Escape")
    state = requests.get(f"{server.base_url}/v1/conversations/{created['id']}",
                         headers={"Authorization": f"Bearer {basic['api_key']}"}, timeout=5).json()
    assert state["controller"] == "ai"  # the click changed nothing


def test_a_sign_in_link_works_once(server, browser):
    other = json.loads(cli(server, "workspace", "create", "--name", "Other", "--json"))
    link = cli(server, "admin", "link", other["id"]).replace("http://127.0.0.1:8000", server.base_url)
    page = browser.new_context().new_page()
    page.goto(link)
    playwright_api.expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    second = browser.new_context().new_page()
    response = second.goto(link)
    assert response.status == 400
    playwright_api.expect(second.get_by_text("already used")).to_be_visible()
