"""The inbox app (Canvas Kit): who is in charge, and Take over / Give back / Resolve from Intercom.

Requests are built by the fake as Intercom sends them and signed with ``X-Body-Signature``
(hex HMAC-SHA256 of the body, keyed with the client secret). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

from tests.intercom.conftest import drain

INITIALIZE = "/hooks/intercom/canvas/initialize"
SUBMIT = "/hooks/intercom/canvas/submit"


@pytest.fixture
def handed_over(api, workspace_id, worker, hooks):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann Lee"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "I need a person"})
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "asked for a person"})
    drain(worker)
    return cid


def thread_of(intercom, cid):
    [found] = [c for c in intercom.conversations.values() if c["custom_attributes"].get("handover_conversation_id") == cid]
    return found["id"]


def components(answer):
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["canvas"]["content"]["components"]


def buttons(answer):
    return [c["id"] for c in components(answer) if c["type"] == "button"]


def texts(answer):
    return [c["text"] for c in components(answer) if c["type"] == "text"]


def post(hooks, path, signed):
    body, headers = signed
    return hooks.post(path, data=body, headers=headers)


def submit(hooks, intercom, thread, component, previous):
    stored = previous.get_json()["canvas"].get("stored_data")
    return post(hooks, SUBMIT, intercom.canvas_request(thread, intercom.sam["id"], component, stored))


def test_initialize_shows_who_is_in_charge_and_the_allowed_buttons(api, handed_over, intercom, hooks):
    thread = thread_of(intercom, handed_over)
    answer = post(hooks, INITIALIZE, intercom.canvas_request(thread, intercom.sam["id"]))
    assert "Needs you" in texts(answer)
    assert any("asked for a person" in t for t in texts(answer))
    assert buttons(answer) == ["give_back", "resolve"]
    button = next(c for c in components(answer) if c["type"] == "button")
    assert button["action"] == {"type": "submit"} and button["label"] == "Give back to AI"


def test_unsigned_and_badly_signed_canvas_requests_are_401(api, handed_over, intercom, hooks):
    thread = thread_of(intercom, handed_over)
    body, headers = intercom.canvas_request(thread, intercom.sam["id"], "resolve")
    for bad in ({}, {"X-Body-Signature": "0" * 64},
                {"X-Body-Signature": intercom.canvas_request(thread, intercom.sam["id"], "resolve", secret="other")[1]["X-Body-Signature"]}):
        for path in (INITIALIZE, SUBMIT):
            answer = hooks.post(path, data=body, headers={"Content-Type": "application/json", **bad})
            assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "bad_signature"
    assert api.get(f"/v1/conversations/{handed_over}").get_json()["status"] == "open"


def test_each_button_runs_its_command_and_redraws_the_canvas(api, handed_over, intercom, hooks, worker):
    thread = thread_of(intercom, handed_over)
    shown = post(hooks, INITIALIZE, intercom.canvas_request(thread, intercom.sam["id"]))

    given = submit(hooks, intercom, thread, "give_back", shown)
    assert api.get(f"/v1/conversations/{handed_over}").get_json()["controller"] == "ai"
    assert "AI in charge" in texts(given) and buttons(given) == ["take_over", "resolve"]

    taken = submit(hooks, intercom, thread, "take_over", given)
    state = api.get(f"/v1/conversations/{handed_over}").get_json()
    assert state["controller"] == "human"
    assert "Taken by Sam Teammate" in texts(taken) and buttons(taken) == ["give_back", "resolve"]

    resolved = submit(hooks, intercom, thread, "resolve", taken)
    assert api.get(f"/v1/conversations/{handed_over}").get_json()["status"] == "resolved"
    assert "Resolved" in texts(resolved) and buttons(resolved) == ["take_over"]
    last = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"][-1]
    assert (last["type"], last["actor"].get("name"), last["source"]) == ("resolved", "Sam Teammate", "intercom")
    drain(worker)
    assert intercom.conversations[thread]["state"] == "closed"  # mirrored: the Intercom conversation closes


def test_a_double_click_is_one_command_and_a_stale_button_says_why(api, handed_over, intercom, hooks):
    thread = thread_of(intercom, handed_over)
    shown = post(hooks, INITIALIZE, intercom.canvas_request(thread, intercom.sam["id"]))
    first = submit(hooks, intercom, thread, "give_back", shown)
    again = submit(hooks, intercom, thread, "give_back", shown)  # the same drawing clicked twice
    events = [e["type"] for e in api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"]]
    assert events.count("given_back") == 1
    assert buttons(again) == buttons(first) == ["take_over", "resolve"]
    # the AI has it now: a Give back from a canvas drawn earlier elsewhere is refused, and says so
    stale = post(hooks, SUBMIT, intercom.canvas_request(thread, intercom.sam["id"], "give_back", {"version": "old"}))
    assert "The AI is already in charge of this conversation." in texts(stale)


def test_bad_submits_name_the_field(api, handed_over, intercom, hooks):
    thread = thread_of(intercom, handed_over)
    answer = post(hooks, SUBMIT, intercom.canvas_request(thread, intercom.sam["id"], "delete_everything"))
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "component_id"
    intercom.conversations[thread]["custom_attributes"].clear()
    answer = post(hooks, SUBMIT, intercom.canvas_request(thread, intercom.sam["id"], "resolve"))
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] == "conversation.custom_attributes.handover_conversation_id"


def test_a_conversation_that_was_not_handed_over_shows_so(api, handed_over, intercom, hooks):
    thread = thread_of(intercom, handed_over)
    intercom.conversations["515151"] = {**intercom.conversations[thread], "id": "515151", "custom_attributes": {}}
    answer = post(hooks, INITIALIZE, intercom.canvas_request("515151", intercom.sam["id"]))
    assert buttons(answer) == [] and any("not handed over" in t for t in texts(answer))


def test_manifests_name_the_urls_topics_and_permissions(connector):
    from handover_intercom import IntercomIntegration

    files = IntercomIntegration().manifests("https://connector.example/")
    setup = json.loads(files["intercom/setup.json"])
    assert setup["webhook"] == {"url": "https://connector.example/hooks/intercom/webhook", "topics": [
        "conversation.admin.replied", "conversation.admin.closed", "conversation_part.tag.created"]}
    assert setup["inbox_app"]["initialize_url"] == "https://connector.example/hooks/intercom/canvas/initialize"
    assert setup["inbox_app"]["submit_url"] == "https://connector.example/hooks/intercom/canvas/submit"
    assert "Write conversations" in setup["permissions"]
    steps = files["intercom/SETUP.md"].decode()
    assert steps.count("\n1. ") + steps.count("\n2. ") + steps.count("\n3. ") + steps.count("\n4. ") + steps.count("\n5. ") == 5
    assert "\n6. " not in steps
