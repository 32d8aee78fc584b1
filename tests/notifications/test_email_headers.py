"""Issue 14, item 9: what shoppers type never breaks an e-mail's headers; every e-mail has a Date."""

from __future__ import annotations

import email.utils

from connector.notifications import compose
from tests.notifications.test_email import deliver
from tests.notifications.test_email import semi_automatic

from connector.storage.models import Delivery


def test_a_shopper_name_with_line_breaks_is_mailed_with_one_clean_subject(api, inbox, worker, database):
    api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example"]})
    name = "Ann\r\nBcc: victim@example.com\r\n\r\nHello"
    cid = api.post("/v1/conversations", json={"shopper": {"name": name}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "I need a refund"})
    semi_automatic(api, cid, inbox, worker)  # asserts exactly one message arrived
    [(to, message)] = inbox.messages
    assert to == ["help@shop.example"]  # no header smuggled in a recipient
    assert message["Subject"] == "You have a new conversation from Ann Bcc: victim@example.com Hello"
    assert message["Bcc"] is None
    with database.read() as session:
        assert {d.status for d in session.query(Delivery)} == {"delivered"}


def test_every_email_has_a_date(api, inbox, worker):
    api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example"]})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    deliver(worker)
    [(_, message)] = inbox.messages
    assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None


def test_header_values_are_single_lines():
    assert compose.header_value("a\rb\nc\x00d\u2028e") == "a b c d e"
    assert len(compose.header_value("x" * 1000)) == compose.HEADER_MAX
    built = compose.build("handover", to=["a@example.com"], subject="Hi\nthere", message_id="k\r\n1",
                          link="https://c.example/x", shopper="Ann", transcript=[])
    assert built["Subject"] == "Hi there" and built["Date"]
