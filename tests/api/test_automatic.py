"""Automatic handover through the API: the detector on shopper messages, both modes, evaluate."""

from __future__ import annotations

SCENARIOS = [
    {"name": "Asks for a human", "instruction": "The shopper asks to talk to a person"},
    {"name": "Refund requests over $200", "instruction": "Refund requests over $200"},
]


def enable(api, mode):
    assert api.put("/v1/settings/handover", json={"enabled": True, "mode": mode, "scenarios": SCENARIOS}).status_code == 200


def say(api, cid, text):
    response = api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": text})
    assert response.status_code == 201
    return response.get_json()["conversation"]


def test_automate_hands_over_when_a_scenario_fires(api):
    enable(api, "automate")
    cid = api.post("/v1/conversations").get_json()["id"]
    assert say(api, cid, "where is my parcel?")["controller"] == "ai"
    conversation = say(api, cid, "I want a refund of $450 for this")
    assert conversation["needs_you"] is True and conversation["ai_may_reply"] is False
    [event] = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert (event["type"], event["trigger"], event["scenario"], event["source"]) == (
        "handed_over", "automatic", "Refund requests over $200", "detector")
    refused = api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "Sure!"})
    assert refused.status_code == 409


def test_semi_automate_keeps_the_ai_and_logs_a_suggestion(api):
    enable(api, "semi_automate")
    cid = api.post("/v1/conversations").get_json()["id"]
    conversation = say(api, cid, "can I speak to a real person please")
    assert conversation["controller"] == "ai"
    [event] = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert (event["type"], event["scenario"]) == ("handover_suggested", "Asks for a human")


def test_nothing_fires_while_the_ability_is_off(api):
    api.put("/v1/settings/handover", json={"enabled": False, "mode": "automate", "scenarios": SCENARIOS})
    cid = api.post("/v1/conversations").get_json()["id"]
    assert say(api, cid, "get me a human now")["controller"] == "ai"
    assert api.get(f"/v1/conversations/{cid}/events").get_json()["data"] == []


def test_evaluate_with_given_and_with_the_workspace_scenarios(api, api_for):
    basic = api_for("basic")  # evaluation hands nothing over: open to every plan
    response = basic.post("/v1/handover-scenarios/evaluate", json={
        "messages": ["get me a human", "what sizes do you have?"], "scenarios": SCENARIOS})
    assert response.status_code == 200
    first, second = response.get_json()["results"]
    assert [f["scenario"] for f in first["fired"]] == ["Asks for a human"]
    assert 0 <= first["fired"][0]["score"] <= 1
    assert second == {"fired": []}

    enable(api, "automate")
    own = api.post("/v1/handover-scenarios/evaluate", json={"messages": ["refund my $999 now"]}).get_json()
    assert [f["scenario"] for f in own["results"][0]["fired"]] == ["Refund requests over $200"]


def test_evaluate_limits(api):
    too_many = api.post("/v1/handover-scenarios/evaluate", json={"messages": ["x"] * 501})
    assert too_many.status_code == 400 and too_many.get_json()["error"]["field"] == "messages"
    empty = api.post("/v1/handover-scenarios/evaluate", json={"messages": []})
    assert empty.status_code == 400


class AlwaysFires:
    def evaluate(self, message, scenarios, history=()):
        from connector.detection import Fired

        return [Fired(s.name, 1.0) for s in scenarios]


def always_fires():
    return AlwaysFires()


def test_the_detector_is_pluggable(settings, database):
    from connector.app import build_connector
    from connector.app import create_app
    from tests.conftest import ApiClient
    from connector.storage import repository

    settings.detector = "tests.api.test_automatic:always_fires"
    app = create_app(connector=build_connector(settings, db=database))
    with database.write() as session:
        _, key = repository.create_workspace(session, "Plug", "pro")
    api = ApiClient(app, key)
    enable(api, "automate")
    cid = api.post("/v1/conversations").get_json()["id"]
    assert say(api, cid, "hello")["needs_you"] is True


def test_evaluate_says_which_family_fired_and_why(api):
    body = {"messages": ["Let me talk to a real person please"],
            "scenarios": [{"name": "Asks for a human", "instruction": "The shopper asks for a human agent."}]}
    [result] = api.post("/v1/handover-scenarios/evaluate", json=body).get_json()["results"]
    [fired] = result["fired"]
    assert fired["scenario"] == "Asks for a human" and fired["family"] == "asks_for_human"
    assert "real person" in fired["evidence"]
