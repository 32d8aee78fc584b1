"""E-mail notices against a real SMTP server (aiosmtpd) in the test process, and the links."""

from __future__ import annotations

import re
import time

import pytest

from connector.notifications import links
from connector.notifications.mailer import Mailer
from connector.plugins import RetryLater
from connector.storage.models import Delivery
from tests.notifications.conftest import deliver  # noqa: F401 - other modules import it from here
from tests.notifications.conftest import free_port


@pytest.fixture
def conversation(api):
    api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example", "bo@shop.example"]})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann", "email": "ann@example.com"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "My order is broken"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "I am sorry to hear that."})
    return cid


def test_every_handover_emails_the_recipients(api, inbox, worker, conversation):
    api.post(f"/v1/conversations/{conversation}/handover", json={"actor": "Bo", "reason": "broken order"})
    deliver(worker)
    [(to, message)] = inbox.messages
    assert sorted(to) == ["bo@shop.example", "help@shop.example"]
    assert message["Subject"] == "Customer needs your help"
    assert message["From"] == "handover@shop.example"
    plain, html = inbox.bodies(message)
    assert "You have a new conversation from Ann." in plain
    assert "Handed over by Bo: broken order." in plain
    assert "Shopper (Ann): My order is broken" in plain and "AI: I am sorry to hear that." in plain
    assert f"https://connector.example/console/conversations/{conversation}" in plain
    assert f'href="https://connector.example/console/conversations/{conversation}"' in html


def test_no_recipients_no_email(api, inbox, worker, database):
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    deliver(worker)
    assert inbox.messages == []
    with database.read() as session:
        assert session.query(Delivery).filter(Delivery.plugin == "email").count() == 0


def test_automate_hands_over_and_emails_the_shopper_when_the_first_human_joins(api, inbox, worker, conversation):
    api.put("/v1/settings/handover", json={"enabled": True, "mode": "automate",
                                           "scenarios": [{"name": "Frustrated customers", "instruction": "angry"}]})
    response = api.post(f"/v1/conversations/{conversation}/handover",
                        json={"automatic": True, "scenario": "Frustrated customers"})
    assert response.get_json()["needs_you"] is True
    [event] = api.get(f"/v1/conversations/{conversation}/events").get_json()["data"]
    assert (event["type"], event["trigger"], event["scenario"]) == ("handed_over", "automatic", "Frustrated customers")
    deliver(worker)
    [(_, alert)] = inbox.messages
    assert 'Why: the "Frustrated customers" scenario fired.' in inbox.bodies(alert)[0]

    for text in ("Hi Ann, Bo here.", "Let me fix that."):
        api.post(f"/v1/conversations/{conversation}/messages", json={"author": "human", "text": text, "author_name": "Bo"})
    deliver(worker)
    assert len(inbox.messages) == 2  # one e-mail to the shopper, not one per reply
    to, joined = inbox.messages[1]
    assert to == ["ann@example.com"]
    assert joined["Subject"] == "An agent has joined your conversation"
    assert "Bo has joined your conversation" in inbox.bodies(joined)[0]


def test_a_manual_handover_does_not_email_the_shopper(api, inbox, worker, conversation):
    api.post(f"/v1/conversations/{conversation}/handover")
    api.post(f"/v1/conversations/{conversation}/messages", json={"author": "human", "text": "Hi"})
    deliver(worker)
    assert [to for to, _ in inbox.messages] == [["help@shop.example", "bo@shop.example"]]


def semi_automatic(api, conversation, inbox, worker):
    api.put("/v1/settings/handover", json={"enabled": True, "mode": "semi_automate",
                                           "scenarios": [{"name": "Refunds", "instruction": "refund over $200"}]})
    response = api.post(f"/v1/conversations/{conversation}/handover", json={"automatic": True, "scenario": "Refunds"})
    assert response.get_json()["controller"] == "ai"  # the AI keeps chatting
    deliver(worker)
    [(_, message)] = inbox.messages
    plain, _ = inbox.bodies(message)
    return {name: re.search(rf"{label}: (\S+)", plain).group(1).replace("https://connector.example", "")
            for name, label in (("take_over", "Take over"), ("let_ai_continue", "Let the AI continue"))}


def test_semi_automate_emails_signed_single_use_links(api, app, inbox, worker, conversation):
    urls = semi_automatic(api, conversation, inbox, worker)
    assert inbox.messages[0][1]["Subject"] == "You have a new conversation from Ann"
    client = app.test_client()

    page = client.get(urls["take_over"])  # a mail scanner opening the link changes nothing
    assert page.status_code == 200 and "<button" in page.get_data(as_text=True)
    assert api.get(f"/v1/conversations/{conversation}").get_json()["controller"] == "ai"

    taken = client.post(urls["take_over"])
    assert taken.status_code == 200 and "You have taken over" in taken.get_data(as_text=True)
    state = api.get(f"/v1/conversations/{conversation}").get_json()
    assert state["needs_you"] is True
    events = api.get(f"/v1/conversations/{conversation}/events").get_json()["data"]
    assert [(e["type"], e["source"]) for e in events] == [("handover_suggested", "detector"), ("handed_over", "email")]

    again = client.post(urls["take_over"])
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert api.get(f"/v1/conversations/{conversation}").get_json() == state


def test_let_the_ai_continue_changes_nothing(api, app, inbox, worker, conversation):
    urls = semi_automatic(api, conversation, inbox, worker)
    before = api.get(f"/v1/conversations/{conversation}").get_json()
    response = app.test_client().post(urls["let_ai_continue"])
    assert response.status_code == 200 and "The AI continues" in response.get_data(as_text=True)
    assert api.get(f"/v1/conversations/{conversation}").get_json() == before


def test_expired_and_forged_links_change_nothing(api, app, inbox, worker, conversation, monkeypatch):
    urls = semi_automatic(api, conversation, inbox, worker)
    client = app.test_client()
    assert client.post(urls["take_over"][:-4] + "abcd").status_code == 410
    monkeypatch.setattr(links, "MAX_AGE", -1)
    time.sleep(1.1)
    expired = client.post(urls["take_over"])
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert api.get(f"/v1/conversations/{conversation}").get_json()["controller"] == "ai"


def test_automatic_needs_a_scenario_and_the_switch(api, conversation):
    missing = api.post(f"/v1/conversations/{conversation}/handover", json={"automatic": True})
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "scenario"
    off = api.post(f"/v1/conversations/{conversation}/handover", json={"automatic": True, "scenario": "x"})
    assert off.status_code == 409 and off.get_json()["error"]["code"] == "handover_disabled"


def test_without_smtp_mail_is_written_as_files(tmp_path):
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"], message["Subject"], message["Message-ID"] = "a@b.example", "Hello", "<dlv_1@handover-connector>"
    message.set_content("body")
    Mailer(None, mail_dir=tmp_path).send(message)
    [written] = tmp_path.glob("*.eml")
    assert b"Subject: Hello" in written.read_bytes()


def test_an_unreachable_smtp_server_is_retried():
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"], message["Subject"] = "a@b.example", "Hello"
    message.set_content("body")
    with pytest.raises(RetryLater):
        Mailer(f"smtp://127.0.0.1:{free_port()}", timeout=1).send(message)


def test_shopper_markup_reaches_the_email_escaped(api, inbox, worker):
    api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example"]})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann <b>Boss</b>"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages",
             json={"author": "shopper", "text": "<a href='https://evil.example'>refund</a> <!channel> <@U123>"})
    api.post(f"/v1/conversations/{cid}/handover")
    deliver(worker)
    # this conversation's notice (a port freed by an earlier test may bring a stray retry)
    mine = [m for _, m in inbox.messages if cid in inbox.bodies(m)[0]]
    assert len(mine) == 1, [(m["Subject"], m["Message-ID"]) for _, m in inbox.messages]
    [message] = mine
    _, html = inbox.bodies(message)
    assert "<b>Boss</b>" not in html and "evil.example'>" not in html
    assert "Ann &lt;b&gt;Boss&lt;/b&gt;" in html
    assert "&lt;a href=&#39;https://evil.example&#39;&gt;refund&lt;/a&gt;" in html or \
        "&lt;a href=&#x27;https://evil.example&#x27;&gt;refund&lt;/a&gt;" in html
