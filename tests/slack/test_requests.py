"""What reaches /hooks/slack/events: signatures first, then fast, complete answers."""

from __future__ import annotations

import json
import time

from connector.storage.models import Delivery
from connector.storage.models import Receipt
from tests.slack.conftest import SIGNING_SECRET


def challenge(token="c-123"):
    return json.dumps({"token": "legacy", "challenge": token, "type": "url_verification"})


def test_url_verification_is_answered_only_when_signed(sender, workspace_id):
    ok = sender.post(challenge(), "application/json")
    assert ok.status_code == 200 and ok.get_json()["challenge"] == "c-123"
    assert sender.post(challenge(), "application/json", signed=False).status_code == 401


def test_bad_and_stale_signatures_are_refused_before_parsing(sender, workspace_id, database):
    body = '{"type": "event_callback", this is not even JSON'
    for answer in (
        sender.post(body, "application/json", signed=False),
        sender.post(body, "application/json", secret="not-the-secret"),
        sender.post(body, "application/json", timestamp=int(time.time()) - 301),  # older than Slack's 5 minutes
        sender.post(body, "application/json", timestamp=int(time.time()) + 301),
    ):
        assert answer.status_code == 401
        assert answer.get_json()["error"]["field"] == "X-Slack-Signature"
    tampered = sender.client.post("/hooks/slack/events", data=challenge("other"), headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64})
    assert tampered.status_code == 401
    with database.read() as session:
        assert session.query(Receipt).count() == 0 and session.query(Delivery).count() == 0


def test_no_workspace_set_up_means_every_request_is_refused(sender):
    assert sender.post(challenge(), "application/json").status_code == 401


def test_subscribed_and_unknown_events_and_actions_never_get_404(sender, workspace_id):
    for event in ({"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "ts": "1.1"},
                  {"type": "reaction_added", "user": "U1", "reaction": "tada", "item": {"type": "message"}},
                  {"type": "message", "channel": "CUNKNOWN", "user": "U1", "text": "hi", "ts": "2.2", "thread_ts": "1.0"}):
        assert sender.event(event).status_code == 200
    assert sender.action("some_future_button", "x", "1.0").status_code == 200
    assert sender.action("resolve", "conv_unknown", "9.9").status_code == 200


def test_a_form_encoded_action_is_verified_on_its_raw_body(sender, workspace_id):
    # Touching request.form before verification would consume the body: it must still verify.
    assert sender.action("take_over", "conv_x", "1.0").status_code == 200
    assert sender.action("take_over", "conv_x", "1.0", secret="wrong").status_code == 401


def test_every_connector_workspaces_own_app_is_verified_with_its_own_secret(connector, app, slack, make_workspace, sender,
                                                                            workspace_id):
    from connector.storage import repository

    other_id, _ = make_workspace()
    with connector.db.write() as session:
        connector.integrations.save(session, repository.get_workspace(session, other_id), "slack", {
            "channel": "COTHER", "bot_token": "xoxb-other", "signing_secret": "other-app-signing-secret",
            "api_base_url": slack.url})
    assert sender.post(challenge(), "application/json", secret="other-app-signing-secret").status_code == 200
    assert sender.post(challenge(), "application/json", secret=SIGNING_SECRET).status_code == 200
    assert sender.post(challenge(), "application/json", secret="a-third-secret").status_code == 401


def test_without_a_deployment_app_the_oauth_routes_answer_404(app):
    client = app.test_client()
    assert client.get("/hooks/slack/install?ws=x").status_code == 404
    assert client.get("/hooks/slack/oauth_redirect?code=x&state=y").status_code == 404


def test_a_slash_command_on_the_same_url_is_answered(sender, workspace_id):
    import urllib.parse

    body = urllib.parse.urlencode({"command": "/handover", "text": "", "team_id": "T01", "user_id": "U1",
                                   "channel_id": "C1", "response_url": "https://hooks.slack.com/commands/x",
                                   "trigger_id": "1.2.3"})
    answer = sender.post(body, "application/x-www-form-urlencoded")
    assert answer.status_code == 200 and "buttons" in answer.get_data(as_text=True)
