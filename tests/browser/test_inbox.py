"""The console as an agent's inbox, in headless Chromium at laptop and phone sizes.

Against a live ``connector serve``: long transcripts that scroll in their own pane, times
and the event log's markers in the transcript, a header that tells the current story,
unread marks and search in the list, and failing deliveries on Settings -> Integrations.
Each state is screenshotted to ``test-artifacts/browser/inbox-*``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
import requests

from tests.browser.conftest import playwright_api
from tests.browser.test_console import Steps
from tests.browser.test_console import TIMEOUT
from tests.browser.test_console import cli
from tests.e2e.conftest import serve
from tests.fakes.vendor import FakeVendor

SIZES = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
expect = playwright_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("inbox")) as live:
        yield live


class Shop:
    """A workspace of its own on the live server: its API, and console pages signed in to it."""

    def __init__(self, server, browser, name: str) -> None:
        created = json.loads(cli(server, "workspace", "create", "--name", name, "--json"))
        self.server, self.browser, self.id, self.key = server, browser, created["id"], created["api_key"]
        assert self.id in cli(server, "workspace", "list")  # what `admin link` below takes

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.server.base_url}/v1{path}", json=body if body is not None else {},
                                    headers={"Authorization": f"Bearer {self.key}"}, timeout=10)
        assert response.ok, response.text
        return response.json()

    def conversation(self, name: str, email: str | None = None, *texts: str) -> str:
        cid = self.api("POST", "/conversations", {"shopper": {"name": name, "email": email}})["id"]
        for text in texts:
            self.say(cid, text)
        return cid

    def say(self, cid: str, text: str, author: str = "shopper", **extra: str) -> None:
        self.api("POST", f"/conversations/{cid}/messages", {"author": author, "text": text, **extra})

    def page(self, size: str):
        link = cli(self.server, "admin", "link", self.id).replace("http://127.0.0.1:8000", self.server.base_url)
        page = self.browser.new_context(**SIZES[size]).new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(link)
        return page

    def open(self, page, cid: str) -> None:
        page.goto(f"{self.server.base_url}/console/conversations/{cid}")
        expect(page.locator("body")).to_have_attribute("data-live", "yes")


def viewport(page) -> dict:
    return page.evaluate("({w: innerWidth, h: innerHeight, sw: document.documentElement.scrollWidth,"
                         " sh: document.documentElement.scrollHeight})")


def assert_on_screen(page, *locators) -> None:
    """Each element is rendered and lies wholly inside the window (no page scrolling needed)."""
    size = viewport(page)
    for locator in locators:
        box = locator.bounding_box()
        assert box is not None, f"{locator} is not rendered"
        assert box["x"] >= -0.5 and box["y"] >= -0.5, (locator, box)
        assert box["x"] + box["width"] <= size["w"] + 0.5 and box["y"] + box["height"] <= size["h"] + 0.5, (
            locator, box, size)


def inside(inner: dict, outer: dict) -> bool:
    return (inner["y"] >= outer["y"] - 0.5 and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5)


def assert_no_page_scroll(page) -> None:
    size = viewport(page)
    assert size["sw"] <= size["w"], f"horizontal overflow: {size}"
    assert size["sh"] <= size["h"], f"the page itself scrolls: {size}"


# -- 1, 3, 5: long conversations, the header, phone and laptop ------------------------------


@pytest.fixture(scope="module")
def long_shop(server, browser):
    shop = Shop(server, browser, "Long talks")
    conversations = {}
    for count in (40, 400):
        cid = shop.conversation(f"Shopper with {count}", f"long{count}@example.com")
        for n in range(count // 2):
            shop.say(cid, f"Question {n}: where is parcel {n}? " + "It has been a while. " * (n % 4))
            shop.say(cid, f"Answer {n}: parcel {n} is on its way.", author="ai", author_name="Shop assistant (AI)")
        shop.api("POST", f"/conversations/{cid}/handover", {"reason": "asked for a person"})
        conversations[count] = cid
    return shop, conversations


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("count", [40, 400])
def test_long_conversations_keep_the_controls_on_screen(long_shop, size, count):
    shop, conversations = long_shop
    steps = Steps(f"inbox-long-{count}-{size}")
    page = shop.page(size)
    shop.open(page, conversations[count])
    pane = page.locator("#transcript-pane")
    messages = page.locator("#transcript .message")
    expect(messages).to_have_count(count)
    header = [page.get_by_role("heading", name=f"Shopper with {count}"), page.locator("#state-line"),
              page.locator("#why"), page.get_by_role("button", name="Give back to AI"),
              page.get_by_role("button", name="Resolve"), page.locator("#banner"),
              page.get_by_label(re.compile("Your reply")), page.get_by_role("button", name="Send")]
    expect(page.locator("#shopper-email")).to_have_text(f"long{count}@example.com")
    expect(page.locator("#state-line")).to_have_text("A human is in charge")
    expect(page.locator("#why")).to_contain_text("Handed over by the chat platform: asked for a person")

    # opened on its latest messages; the page itself does not scroll, the transcript does
    assert_no_page_scroll(page)
    assert_on_screen(page, *header, page.locator("#shopper-email"))
    assert inside(messages.last.bounding_box(), pane.bounding_box())
    assert not inside(messages.first.bounding_box(), pane.bounding_box())
    assert pane.evaluate("p => p.scrollHeight > p.clientHeight")
    steps.shot(page, "latest-messages")

    pane.evaluate("p => { p.scrollTop = 0; }")
    page.wait_for_timeout(100)
    assert inside(messages.first.bounding_box(), pane.bounding_box())
    assert_no_page_scroll(page)
    assert_on_screen(page, *header)  # still there with the transcript scrolled to its start
    steps.shot(page, "scrolled-to-the-start")

    # the main action stands out: Give back and Resolve are outlined, Send is filled
    style = "el => getComputedStyle(el).backgroundColor"
    send = page.get_by_role("button", name="Send").evaluate(style)
    for name in ("Give back to AI", "Resolve"):
        assert page.get_by_role("button", name=name).evaluate(style) != send

    if size == "phone":  # one column: the list steps aside for the open conversation
        expect(page.get_by_role("region", name="Conversations")).to_be_hidden()
        assert_on_screen(page, page.get_by_role("link", name="← Conversations"))
    else:
        assert_on_screen(page, page.get_by_role("region", name="Conversations").get_by_role("heading"))
    page.context.close()


# -- 2, 3: time and history in the transcript ------------------------------------------


def markers(page) -> list[str]:
    return [re.sub(r" · .*$", "", text) for text in page.locator("#transcript .marker").all_inner_texts()]


def assert_times(page) -> None:
    """Every line has a <time datetime>: relative today, absolute on hover."""
    lines = page.locator("#transcript > li")
    times = page.locator("#transcript > li time[datetime]")
    expect(times).to_have_count(lines.count())
    now = dt.datetime.now(dt.timezone.utc)
    for element in times.all():
        at = dt.datetime.fromisoformat(element.get_attribute("datetime").replace("Z", "+00:00"))
        assert abs((now - at).total_seconds()) < 600
        assert re.fullmatch(r"just now|\d+ min ago", element.inner_text()), element.inner_text()
        assert str(at.year) in element.get_attribute("title")


@pytest.mark.parametrize("size", SIZES)
def test_the_story_reads_top_to_bottom(server, browser, size):
    shop = Shop(server, browser, f"Story {size}")
    steps = Steps(f"inbox-story-{size}")
    cid = shop.conversation("Grace", "grace@example.com", "My order never came")
    page = shop.page(size)
    shop.open(page, cid)
    expect(page.locator("#state-line")).to_have_text("The AI is in charge")
    expect(page.locator("#why")).to_be_hidden()
    steps.shot(page, "ai-in-charge")

    page.get_by_role("button", name="Hand over").click()
    expect(page.locator("#state-line")).to_have_text("A human is in charge")
    expect(page.locator("#why")).to_contain_text("Handed over by Admin from the console")
    assert markers(page) == ["Handed over by Admin from the console"]
    steps.shot(page, "handed-over")

    reply = page.get_by_label(re.compile("Your reply"))
    reply.fill("I am looking into it.")
    reply.press("Enter")
    expect(page.locator("#transcript .message.human")).to_contain_text("I am looking into it.")
    expect(page.locator("#transcript .message.human .kind")).to_have_text("Human")
    assert markers(page)[-1] == "Admin joined from the console"

    page.get_by_role("button", name="Give back to AI").click()
    expect(page.locator("#state-line")).to_have_text("The AI is in charge")
    expect(page.locator("#why")).to_be_hidden()  # the hand over is over; the header says so
    expect(page.locator("#banner")).to_be_hidden()
    assert markers(page)[-1] == "Given back to AI by Admin from the console"
    steps.shot(page, "given-back")

    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#state-line")).to_have_text("Resolved")  # not "Resolved · the AI is in charge"
    expect(page.locator("#why")).to_contain_text("Resolved by Admin from the console")
    expect(page.locator("#ai-bar")).to_contain_text("A new message from the shopper reopens this conversation")
    expect(page.get_by_role("button", name="Resolve")).to_be_hidden()
    assert markers(page)[-1] == "Resolved by Admin from the console"
    steps.shot(page, "resolved")

    shop.say(cid, "Actually, one more thing")  # reopens it, live: no reload
    expect(page.locator("#transcript .message.shopper").last).to_contain_text("Actually, one more thing")
    expect(page.locator("#state-line")).to_have_text("The AI is in charge")
    expect(page.locator("#why")).to_be_hidden()
    expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    expect(page.locator("#ai-bar")).to_have_text("The AI is answering this conversation. Hand over to reply yourself.")
    if size == "laptop":  # the list beside it follows the conversation back to Open
        expect(page.get_by_role("navigation", name="Status").get_by_role("link", name="Open")).to_have_attribute(
            "aria-current", "page")
        expect(page.locator(".conversation.selected")).to_contain_text("Actually, one more thing")
    assert markers(page) == [
        "Handed over by Admin from the console", "Admin joined from the console",
        "Given back to AI by Admin from the console", "Resolved by Admin from the console",
        "Reopened by the shopper's message"]
    kinds = page.locator("#transcript > li").evaluate_all("items => items.map(i => i.classList[0])")
    assert kinds == ["message", "marker", "marker", "message", "marker", "marker", "marker", "message"]
    assert_times(page)
    assert_no_page_scroll(page)
    assert_on_screen(page, page.locator("#transcript .message").last, page.get_by_role("button", name="Hand over"))
    steps.shot(page, "reopened")

    # the same story after a reload, from the server's rendering
    page.reload()
    assert markers(page)[-1] == "Reopened by the shopper's message"
    assert_times(page)
    page.locator("#transcript .marker time").first.hover()
    steps.shot(page, "reloaded")
    page.context.close()


# -- 4, 5: the list: last message time, unread, search ---------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_the_list_shows_time_unread_and_searches(server, browser, size):
    shop = Shop(server, browser, f"List {size}")
    steps = Steps(f"inbox-list-{size}")
    grace = shop.conversation("Grace Hopper", "grace@navy.example", "My order 1234 is late")
    linus = shop.conversation("Linus", None, "Do you ship to Finland?")
    page = shop.page(size)
    expect(page.locator("body")).to_have_attribute("data-live", "yes")
    rows = page.locator(".conversation")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row.get_by_role("img", name="Unread")).to_be_visible()
        assert row.locator("time[datetime]").inner_text() in ("just now", "1 min ago")
    assert_no_page_scroll(page)
    assert_on_screen(page, page.get_by_role("searchbox", name="Search conversations"), *rows.all())
    steps.shot(page, "two-unread")

    page.get_by_role("link", name=re.compile("Grace Hopper")).click()
    expect(page.locator("#transcript .message")).to_have_count(1)
    if size == "phone":
        page.get_by_role("link", name="← Conversations").click()
    row = page.locator(".conversation", has_text="Grace Hopper")
    expect(row.get_by_role("img", name="Unread")).to_have_count(0)  # seen now
    expect(page.locator(".conversation", has_text="Linus").get_by_role("img", name="Unread")).to_be_visible()

    if size == "laptop":  # live, with Grace's conversation open beside the list
        shop.say(linus, "Hello? Anyone?")
        linus_row = page.locator(".conversation", has_text="Linus")
        expect(linus_row.locator(".preview")).to_contain_text("Hello? Anyone?")
        expect(rows.first).to_contain_text("Linus")  # latest activity first
        shop.say(grace, "It is order 1234")
        expect(page.locator("#transcript .message").last).to_contain_text("It is order 1234")
        expect(row.locator(".preview")).to_contain_text("It is order 1234")
        page.wait_for_timeout(500)
        expect(row.get_by_role("img", name="Unread")).to_have_count(0)  # on screen, so seen
        expect(linus_row.get_by_role("img", name="Unread")).to_be_visible()
    steps.shot(page, "one-seen")

    search = page.get_by_role("searchbox", name="Search conversations")
    for text, expected in (("navy", ["Grace Hopper"]), ("FINLAND", ["Linus"]), ("hopper", ["Grace Hopper"])):
        search.fill(text)
        expect(rows).to_have_count(len(expected))
        expect(rows.first).to_contain_text(expected[0])
    steps.shot(page, "searched")
    search.fill("no such thing")
    expect(page.locator("#conversation-list .empty")).to_have_text("No open conversations match “no such thing”.")
    search.fill("")
    expect(rows).to_have_count(2)
    search.fill("finland")
    search.press("Enter")  # the plain form works too
    expect(page).to_have_url(re.compile(r"q=finland"))
    expect(rows).to_have_count(1)
    assert_no_page_scroll(page)
    page.context.close()


# -- 6: failing deliveries -------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_retry_server(tmp_path_factory):
    env = {"CONNECTOR_DELIVERY_MAX_ATTEMPTS": "2", "CONNECTOR_DELIVERY_BACKOFF_BASE": "3600",
           "CONNECTOR_WEBHOOK_DENY_PRIVATE": "0"}  # the fake platform listens on 127.0.0.1
    with serve(tmp_path_factory.mktemp("failing"), env=env) as live:
        yield live


def wait_for_text(page, text: str, seconds: float = 15) -> None:
    """Reload Settings -> Integrations until ``text`` shows (the worker runs in the background)."""
    deadline = time.monotonic() + seconds
    while text not in page.locator("main").inner_text():
        assert time.monotonic() < deadline, f"{text!r} never appeared: {page.locator('main').inner_text()}"
        page.wait_for_timeout(300)
        page.reload()


@pytest.mark.parametrize("size", SIZES)
def test_integrations_show_what_is_failing(slow_retry_server, browser, size):
    shop = Shop(slow_retry_server, browser, f"Failing {size}")
    steps = Steps(f"inbox-failing-{size}")
    with FakeVendor() as platform:
        platform.refuse()  # the README's old walk-through: a webhook where nothing listens
        shop.api("PUT", "/settings/platform-webhook", {"url": f"{platform.url}/events"})
        shop.conversation("Ada", None, "Hi")
        page = shop.page(size)
        page.goto(f"{slow_retry_server.base_url}/console/settings/integrations")
        wait_for_text(page, "Waiting to retry")
        failure = page.locator(".failure")
        expect(failure).to_have_count(1)
        expect(failure.locator(".attempts")).to_have_text("1 attempt")
        assert failure.locator(".error-text").inner_text().strip() not in ("", "No error recorded.")
        expect(failure).to_contain_text("Chat platform webhook")
        assert_on_screen(page, failure.get_by_role("button", name="Retry"))
        assert viewport(page)["sw"] <= viewport(page)["w"]
        steps.shot(page, "waiting-to-retry")

        failure.get_by_role("button", name="Retry").click()  # now, not in an hour
        expect(page.get_by_role("alert")).to_have_text("Delivery queued again.")
        wait_for_text(page, "Dead, out of attempts")
        dead = page.locator(".failure.dead")
        expect(dead.locator(".attempts")).to_have_text("2 attempts")
        steps.shot(page, "dead")  # dead ones do not hold the line: the next event now waits to retry

        platform.accept()
        for _ in range(10):  # retry each until every event is through
            if "No failing deliveries." in page.locator("main").inner_text():
                break
            page.locator(".failure").first.get_by_role("button", name="Retry").click()
            page.wait_for_timeout(700)
            page.reload()
        wait_for_text(page, "No failing deliveries.")
        assert platform.effects(), "the retried deliveries reached the platform"
        steps.shot(page, "all-delivered")
        page.context.close()


@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_the_window(server, browser, size):
    shop = Shop(server, browser, f"Pages {size}")
    steps = Steps(f"inbox-pages-{size}")
    shop.api("PUT", "/settings/handover", {"enabled": True, "mode": "semi_automate", "scenarios": [
        {"name": "Refunds", "instruction": "Refund requests over $200", "examples": ["I want my $300 back"]}]})
    shop.api("PUT", "/settings/notifications", {"recipients": ["a-rather-long-address.for-the-team@example.com"]})
    page = shop.page(size)
    for path, heading in (("/console/conversations", "Conversations"),
                          ("/console/train/abilities", "Train → Abilities"),
                          ("/console/settings/notifications", "Settings → Notifications"),
                          ("/console/settings/integrations", "Settings → Integrations")):
        page.goto(shop.server.base_url + path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        size_now = viewport(page)
        assert size_now["sw"] <= size_now["w"], (path, size_now)
        steps.shot(page, path.rsplit("/", 1)[-1])
    icon = requests.get(f"{shop.server.base_url}/favicon.ico", timeout=10)
    assert icon.ok and icon.headers["Content-Type"].startswith("image/svg+xml") and b"<svg" in icon.content
    assert page.locator('link[rel="icon"]').get_attribute("href").endswith("favicon.svg")
    page.context.close()
