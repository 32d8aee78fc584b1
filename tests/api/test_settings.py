"""Settings: the Handover to human ability, notification recipients, the platform webhook."""

from __future__ import annotations

import base64

import pytest

from connector.app import Connector
from connector.storage import repository


def test_handover_settings_default_and_round_trip(api):
    assert api.get("/v1/settings/handover").get_json() == {
        "enabled": False, "mode": "automate", "scenarios": [], "claim_timeout_seconds": None, "unclaimed_action": "remind"}
    body = {
        "enabled": True,
        "mode": "semi_automate",
        "scenarios": [
            {"name": "Frustrated customers", "instruction": "The shopper is angry or upset.", "examples": ["This is ridiculous"]},
            {"name": "Refund requests over $200", "instruction": "Asks for a refund above $200."},
        ],
    }
    response = api.put("/v1/settings/handover", json=body)
    assert response.status_code == 200
    expected = {**body, "scenarios": [body["scenarios"][0], {**body["scenarios"][1], "examples": []}],
                "claim_timeout_seconds": None, "unclaimed_action": "remind"}
    assert response.get_json() == expected
    assert api.get("/v1/settings/handover").get_json() == expected


def test_claim_timeout_settings(api):
    body = {"enabled": False, "mode": "automate", "scenarios": [], "claim_timeout_seconds": 300,
            "unclaimed_action": "give_back"}
    assert api.put("/v1/settings/handover", json=body).get_json() == body
    assert api.get("/v1/settings/handover").get_json() == body
    for bad, field in (({"claim_timeout_seconds": 3}, "claim_timeout_seconds"),
                       ({"unclaimed_action": "shout"}, "unclaimed_action")):
        refused = api.put("/v1/settings/handover", json={**body, **bad})
        assert refused.status_code == 400 and refused.get_json()["error"]["field"] == field


@pytest.mark.parametrize(
    "body, field",
    [
        ({"mode": "automate"}, "enabled"),
        ({"enabled": "yes", "mode": "automate"}, "enabled"),
        ({"enabled": True, "mode": "sometimes"}, "mode"),
        ({"enabled": True, "mode": "automate", "scenarios": [{"name": "x"}]}, "scenarios.0.instruction"),
        ({"enabled": True, "mode": "automate", "scenarios": [{"name": "a", "instruction": "b"}, {"name": "A", "instruction": "c"}]}, "scenarios"),
    ],
)
def test_handover_settings_validation(api, body, field):
    response = api.put("/v1/settings/handover", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert api.get("/v1/settings/handover").get_json()["enabled"] is False


def test_basic_plan_cannot_enable_the_ability(api_for):
    basic = api_for("basic")
    response = basic.put("/v1/settings/handover", json={"enabled": True, "mode": "automate"})
    assert response.status_code == 402
    assert response.get_json()["error"] == {
        "code": "upgrade_required",
        "message": "Your plan does not include the Handover to human ability.",
        "field": "enabled",
    }
    assert basic.put("/v1/settings/handover", json={"enabled": False, "mode": "automate"}).status_code == 200


def test_notification_recipients(api):
    assert api.get("/v1/settings/notifications").get_json() == {"recipients": []}
    response = api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example", "bo@shop.example"]})
    assert response.status_code == 200
    assert api.get("/v1/settings/notifications").get_json() == {"recipients": ["help@shop.example", "bo@shop.example"]}
    bad = api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example", "not-an-address"]})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["field"] == "recipients.1"
    assert api.get("/v1/settings/notifications").get_json()["recipients"] == ["help@shop.example", "bo@shop.example"]


def test_platform_webhook_secret_is_shown_once_and_stored_encrypted(api, connector: Connector, database):
    response = api.put("/v1/settings/platform-webhook", json={"url": "http://127.0.0.1:9000/hooks"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["url"] == "http://127.0.0.1:9000/hooks"
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"][len("whsec_"):])) == 32
    assert api.get("/v1/settings/platform-webhook").get_json() == {"url": body["url"], "secret": None}
    with database.read() as session:
        row = repository.workspace_for_key(session, api.api_key)
    assert body["secret"] not in row.platform_webhook_secret
    assert connector.secrets.decrypt(row.platform_webhook_secret) == body["secret"]


def test_platform_webhook_url_must_be_http(api):
    response = api.put("/v1/settings/platform-webhook", json={"url": "file:///etc/passwd"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "url"


def test_private_webhook_urls_can_be_denied(api, connector: Connector):
    connector.settings.webhook_deny_private = True
    response = api.put("/v1/settings/platform-webhook", json={"url": "http://127.0.0.1:9000/hooks"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "url"
