"""Hand over, give back, resolve: the Contract's codes, the event log, usage and plans."""

from __future__ import annotations

import pytest


@pytest.fixture
def conversation(api):
    return api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()


def act(api, conversation, action, **body):
    return api.post(f"/v1/conversations/{conversation['id']}/{action}", json=body or None)


def events(api, conversation):
    return api.get(f"/v1/conversations/{conversation['id']}/events").get_json()["data"]


def test_hand_over_records_who_and_why(api, conversation):
    response = act(api, conversation, "handover", reason="Refund over $200", actor="Bo")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["controller"], body["status"], body["needs_you"], body["ai_may_reply"]) == ("human", "open", True, False)
    assert body["ever_handed_over"] is True
    [event] = events(api, conversation)
    assert event["type"] == "handed_over"
    assert event["actor"] == {"kind": "human", "name": "Bo"}
    assert event["reason"] == "Refund over $200"
    assert event["trigger"] == "manual"
    assert event["source"] == "api"


def test_second_hand_over_succeeds_and_changes_nothing(api, conversation):
    first = act(api, conversation, "handover").get_json()
    second = act(api, conversation, "handover")
    assert second.status_code == 200
    assert second.get_json() == first  # same version, same updated_at
    assert len(events(api, conversation)) == 1


def test_give_back(api, conversation):
    act(api, conversation, "handover")
    response = act(api, conversation, "give-back")
    assert response.status_code == 200
    assert response.get_json()["controller"] == "ai"
    assert response.get_json()["ai_may_reply"] is True
    # the AI resumes on the shopper's next message
    api.post(f"/v1/conversations/{conversation['id']}/messages", json={"author": "shopper", "text": "hi"})
    assert api.post(f"/v1/conversations/{conversation['id']}/messages", json={"author": "ai", "text": "hello"}).status_code == 201


def test_give_back_while_the_ai_holds_is_409_and_changes_nothing(api, conversation):
    response = act(api, conversation, "give-back")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_in_human_mode"
    assert api.get(f"/v1/conversations/{conversation['id']}").get_json() == conversation
    assert events(api, conversation) == []


def test_resolve_then_resolve_again(api, conversation):
    response = act(api, conversation, "resolve", **{})
    assert response.status_code == 200
    resolved = response.get_json()
    assert resolved["status"] == "resolved"
    again = act(api, conversation, "resolve")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_resolved"
    assert api.get(f"/v1/conversations/{conversation['id']}").get_json() == resolved


def test_commands_accept_an_empty_object_body(api, conversation):
    response = api.post(f"/v1/conversations/{conversation['id']}/resolve", json={})
    assert response.status_code == 200


def test_hand_over_a_resolved_conversation_reopens_it(api, conversation):
    act(api, conversation, "resolve")
    body = act(api, conversation, "handover").get_json()
    assert (body["status"], body["controller"]) == ("open", "human")
    assert [e["type"] for e in events(api, conversation)] == ["resolved", "reopened", "handed_over"]


def test_back_and_forth_as_often_as_wanted(api, conversation):
    for _ in range(3):
        assert act(api, conversation, "handover").status_code == 200
        assert act(api, conversation, "give-back").status_code == 200
    assert [e["type"] for e in events(api, conversation)] == ["handed_over", "given_back"] * 3


def test_basic_plan_cannot_hand_over(api_for):
    basic = api_for("basic")
    conversation = basic.post("/v1/conversations").get_json()
    response = basic.post(f"/v1/conversations/{conversation['id']}/handover")
    assert response.status_code == 402
    assert response.get_json()["error"]["code"] == "upgrade_required"
    assert basic.get(f"/v1/conversations/{conversation['id']}").get_json() == conversation
    # everything else still works on basic
    assert basic.post(f"/v1/conversations/{conversation['id']}/resolve").status_code == 200


def test_usage_follows_the_quota_rule(api):
    def new():
        return api.post("/v1/conversations").get_json()

    ai_only = new()
    for _ in range(3):
        api.post(f"/v1/conversations/{ai_only['id']}/messages", json={"author": "ai", "text": "answer"})
    act(api, ai_only, "resolve")

    escalated = new()
    for _ in range(5):
        api.post(f"/v1/conversations/{escalated['id']}/messages", json={"author": "ai", "text": "answer"})
    act(api, escalated, "handover")
    act(api, escalated, "give-back")
    act(api, escalated, "resolve")

    handed_open = new()
    act(api, handed_open, "handover")
    new()  # untouched

    usage = api.get("/v1/usage").get_json()
    assert usage == {"ai_resolutions": 1, "handed_over_conversations": 2, "resolved_conversations": 2}
    assert api.get(f"/v1/conversations/{escalated['id']}").get_json()["ai_resolution"] is False
    assert api.get(f"/v1/conversations/{ai_only['id']}").get_json()["ai_resolution"] is True


def test_an_ai_resolution_stops_counting_once_handed_over(api, conversation):
    act(api, conversation, "resolve")
    assert api.get("/v1/usage").get_json()["ai_resolutions"] == 1
    api.post(f"/v1/conversations/{conversation['id']}/messages", json={"author": "shopper", "text": "wait"})
    act(api, conversation, "handover")
    assert api.get("/v1/usage").get_json()["ai_resolutions"] == 0
