"""Intercom end to end: a conversation per handover, teammates acting from the inbox, faults.

The connector talks to the stateful fake Intercom API through python-intercom over real
HTTP; the fake's webhook notifications and inbox-app requests are signed as Intercom signs
them and posted to the connector's hooks; the delivery worker is drained in between.
Runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from connector.storage.models import Delivery
from connector.storage.models import utcnow
from tests.fakes.intercom_api import sign_hub
from tests.intercom.conftest import WEBHOOK
from tests.intercom.conftest import drain


def conversation(api, cid):
    return api.get(f"/v1/conversations/{cid}").get_json()


def messages(api, cid):
    return api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]


def events_of(api, cid):
    return [e["type"] for e in api.get(f"/v1/conversations/{cid}/events").get_json()["data"]]


def intercom_conversation(intercom, cid):
    found = [c for c in intercom.conversations.values() if c["custom_attributes"].get("handover_conversation_id") == cid]
    assert len(found) == 1, f"{len(found)} Intercom conversations for {cid}"
    return found[0]


def receipts(connector) -> int:
    from sqlalchemy import func
    from sqlalchemy import select

    from connector.storage.models import Receipt

    with connector.db.read() as session:
        return session.scalar(select(func.count()).select_from(Receipt))


@pytest.fixture
def handed_over(api, workspace_id, worker, hooks):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann Lee", "email": "ann@example.com"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "My parcel arrived <broken>"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "Sorry to hear that!"})
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "damaged parcel"})
    drain(worker)
    return cid


def test_set_up_checks_the_token_and_makes_the_contact_attribute(connector, intercom, workspace_id):
    assert [(a["model"], a["name"]) for a in intercom.data_attributes] == [
        ("conversation", "handover_conversation_id"), ("contact", "shopper_email")]
    assert [r.path for r in intercom.requests][:2] == ["/me", f"/admins/{intercom.bot['id']}"]


def test_handover_opens_one_conversation_with_contact_tags_attribute_and_transcript(api, handed_over, intercom):
    found = intercom_conversation(intercom, handed_over)
    [contact] = intercom.contacts.values()
    assert (contact["external_id"], contact["name"], contact["email"]) == (handed_over, "Ann Lee", "")
    assert contact["custom_attributes"] == {"shopper_email": "ann@example.com"}
    assert found["contact_ids"] == [contact["id"]] and found["state"] == "open"
    assert [t["name"] for t in found["tags"]] == ["ai_handover"]
    [note] = [p for p in found["parts"] if p["part_type"] == "note"]
    assert "My parcel arrived &lt;broken&gt;" in note["body"] and "Sorry to hear that!" in note["body"]
    assert "damaged parcel" in note["body"]


def test_a_repeat_handover_creates_no_second_conversation(api, handed_over, intercom, worker):
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    api.post(f"/v1/conversations/{handed_over}/handover", json={"reason": "again"})
    drain(worker)
    found = intercom_conversation(intercom, handed_over)
    assert len(intercom.conversations) == 1 and len(intercom.contacts) == 1
    notes = [p["body"] for p in found["parts"] if p["part_type"] == "note"]
    assert any("Given back to the AI" in n for n in notes) and any("again" in n for n in notes)


def test_shopper_replies_and_an_admin_reply_relayed_once(api, handed_over, intercom, worker, hooks):
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Hello? <b>x</b>"})
    drain(worker)
    found = intercom_conversation(intercom, handed_over)
    reply = found["parts"][-1]
    assert (reply["author"]["type"], reply["part_type"]) == ("user", "comment")
    assert reply["body"] == "<p>Hello? &lt;b&gt;x&lt;/b&gt;</p>"

    calls = len(intercom.requests)
    part = intercom.admin_reply(found["id"], "Refund issued <today>", intercom.sam["id"])
    notification = intercom.deliveries[-1]["notification"]
    assert intercom.answers[-1].status_code == 200 and intercom.answers[-1].get_json() == {"outcome": "queued"}
    assert len(intercom.requests) == calls  # acknowledged without calling Intercom: the worker acts
    assert not [m for m in messages(api, handed_over) if m["author"] == "human"]
    drain(worker)
    intercom.redeliver(notification)  # the same notification again
    assert intercom.answers[-1].get_json() == {"outcome": "duplicate"}
    intercom.notify("conversation.admin.replied", found["id"], [part["id"]])  # the same part, a new notification
    drain(worker)
    human = [m for m in messages(api, handed_over) if m["author"] == "human"]
    assert [(m["author_name"], m["text"]) for m in human] == [("Sam Teammate", "Refund issued <today>")]
    state = conversation(api, handed_over)
    assert (state["controller"], state["status"]) == ("human", "open")


def test_plain_text_bodies_from_api_2_15_are_relayed_as_they_are(api, handed_over, intercom, worker, hooks):
    intercom.webhook_version = "2.15"  # the Developer Hub's webhook version: bodies are text, not HTML
    found = intercom_conversation(intercom, handed_over)
    intercom.admin_reply(found["id"], "Use code <SAVE10> & enjoy\nSecond line", intercom.sam["id"])
    sent = intercom.deliveries[-1]["notification"]["data"]["item"]["conversation_parts"]["conversation_parts"][0]
    assert sent["body"] == "Use code <SAVE10> & enjoy\nSecond line"
    drain(worker)
    assert messages(api, handed_over)[-1]["text"] == "Use code <SAVE10> & enjoy\nSecond line"


def test_an_admin_reply_takes_over_from_the_ai(api, handed_over, intercom, worker, hooks):
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    drain(worker)
    found = intercom_conversation(intercom, handed_over)
    intercom.admin_reply(found["id"], "I'll take this", intercom.sam["id"])
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "human"
    assert messages(api, handed_over)[-1]["text"] == "I'll take this"


def test_bot_parts_notes_and_other_topics_are_not_relayed(api, handed_over, intercom, worker, hooks):
    found = intercom_conversation(intercom, handed_over)
    before = messages(api, handed_over)
    intercom.bot_reply(found["id"], "Fin here, can I help?", intercom.fin["id"])
    intercom.note(found["id"], "internal: call the courier", intercom.sam["id"])
    assert [a.get_json() for a in intercom.answers[-2:]] == [{"outcome": "ignored"}, {"outcome": "ignored"}]
    drain(worker)
    assert messages(api, handed_over) == before


def test_our_own_parts_sent_back_are_not_relayed(api, handed_over, intercom, worker, hooks):
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Are you there?"})
    drain(worker)
    found = intercom_conversation(intercom, handed_over)
    ours = [p["id"] for p in found["parts"]]  # the transcript note and the contact's reply we posted
    assert len(ours) == 2
    before = messages(api, handed_over)
    intercom.notify("conversation.admin.replied", found["id"], ours)
    assert intercom.answers[-1].get_json() == {"outcome": "ignored"}
    drain(worker)
    assert messages(api, handed_over) == before


def test_a_bad_or_missing_signature_is_401_and_stores_nothing(api, handed_over, intercom, worker, hooks, connector):
    found = intercom_conversation(intercom, handed_over)
    stored = receipts(connector)
    part = intercom.admin_reply(found["id"], "forged", intercom.sam["id"], send=False)
    body = json.dumps(intercom._notification("conversation.admin.replied", found, [part])).encode()
    for headers in ({"X-Hub-Signature": sign_hub("not the secret", body)}, {},
                    {"X-Hub-Signature": sign_hub(intercom.client_secret, body + b" ")}):
        answer = hooks.post(WEBHOOK, data=body, headers={"Content-Type": "application/json", **headers})
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "bad_signature"
    drain(worker)
    assert receipts(connector) == stored
    assert all(m["text"] != "forged" for m in messages(api, handed_over))


def test_head_ping_and_a_conversation_not_ours(api, handed_over, intercom, hooks):
    assert hooks.head(WEBHOOK).status_code == 200
    intercom.ping()
    assert intercom.answers[-1].status_code == 200
    other = intercom.conversations[intercom_conversation(intercom, handed_over)["id"]]
    stranger = {**other, "id": "424242", "parts": [], "custom_attributes": {}}
    intercom.conversations["424242"] = stranger
    intercom.admin_reply("424242", "hello", intercom.sam["id"])
    assert intercom.answers[-1].status_code == 200
    assert intercom.answers[-1].get_json()["outcome"] == "unknown_thread"
    bad = hooks.post(WEBHOOK, data=b"{not json", headers={"X-Hub-Signature": sign_hub(intercom.client_secret, b"{not json")})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "body"


def test_close_resolves_and_our_own_close_echoes_harmlessly(api, handed_over, intercom, worker, hooks, database):
    found = intercom_conversation(intercom, handed_over)
    intercom.close(found["id"], intercom.sam["id"])
    drain(worker)
    assert conversation(api, handed_over)["status"] == "resolved"
    assert events_of(api, handed_over).count("resolved") == 1
    resolved = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"][-1]
    assert (resolved["actor"].get("name"), resolved["source"]) == ("Sam Teammate", "intercom")
    # a shopper message reopens ours, and the Intercom conversation with it
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "One more thing"})
    drain(worker)
    assert conversation(api, handed_over)["status"] == "open"
    assert found["state"] == "open" and found["parts"][-1]["part_type"] in ("comment", "note", "open")
    # resolved from the console: we close it; Intercom's notification of our close is our own part
    api.post(f"/v1/conversations/{handed_over}/resolve", json={})
    drain(worker)
    assert found["state"] == "closed"
    notes_before = len([p for p in found["parts"] if p["part_type"] == "note"])
    our_close = found["parts"][-1]
    assert our_close["part_type"] == "close" and our_close["author"]["id"] == intercom.bot["id"]
    with database.read() as session:  # remembered as ours, so its notification is an echo
        assert session.query(Delivery).filter(Delivery.plugin == "intercom",
                                               Delivery.external_ref == our_close["id"]).count() == 1
    intercom.deliver_pending()
    closed = [a.get_json() for a in intercom.answers if a.get_json()]
    assert closed[-1]["outcome"] in ("queued", "duplicate")
    drain(worker)
    assert events_of(api, handed_over).count("resolved") == 2  # Intercom's echo resolved nothing again
    assert len([p for p in found["parts"] if p["part_type"] == "note"]) == notes_before  # and told nobody


def test_the_give_back_tag_gives_back_and_is_removed(api, handed_over, intercom, worker, hooks):
    found = intercom_conversation(intercom, handed_over)
    intercom.tag(found["id"], "give_back_to_ai", intercom.sam["id"])
    drain(worker)
    state = conversation(api, handed_over)
    assert state["controller"] == "ai"
    assert [t["name"] for t in found["tags"]] == ["ai_handover"]
    given = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"][-1]
    assert (given["type"], given["actor"].get("name")) == ("given_back", "Sam Teammate")
    # tagged again while the AI has it: refused, and the teammate is told in a note
    time.sleep(1.05)  # a new application of the tag (Intercom's applied_at is in whole seconds)
    intercom.tag(found["id"], "give_back_to_ai", intercom.sam["id"])
    drain(worker)
    assert "The AI is already in charge" in found["parts"][-1]["body"]


def test_a_429_with_x_ratelimit_reset_becomes_the_outboxs_delay(api, handed_over, intercom, worker, database):
    found = intercom_conversation(intercom, handed_over)
    intercom.rate_limit(1, reset_in=40, method="POST", path=f"/conversations/{found['id']}/reply")
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Anyone?"})
    worker.run_once()
    with database.read() as session:
        [row] = session.query(Delivery).filter(Delivery.status == "pending").all()
        assert row.next_attempt_at - utcnow() > dt.timedelta(seconds=35)
    with database.write() as session:
        session.query(Delivery).filter(Delivery.status == "pending").update({"next_attempt_at": utcnow()})
    drain(worker)
    assert found["parts"][-1]["body"] == "<p>Anyone?</p>"
    replies = [r.status for r in intercom.requests if r.path == f"/conversations/{found['id']}/reply"
               and (r.json or {}).get("type") == "user"]
    assert replies == [429, 200]  # no retry of the SDK's own, one of the outbox's
