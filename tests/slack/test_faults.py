"""Slack failing: rate limits, revoked tokens, a missing channel, an uninstall; nothing is lost."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from connector.delivery import outbox
from connector.storage.models import Delivery
from connector.storage.models import Integration
from connector.storage.models import utcnow
from tests.slack.conftest import BOT_TOKEN
from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain


def hand_over(api, text="I need a person"):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": text})
    api.post(f"/v1/conversations/{cid}/handover", json={})
    return cid


def health(database):
    with database.read() as session:
        row = session.query(Integration).one()
        return row.health, row.health_reason


def deliveries(database):
    with database.read() as session:
        return [(d.action, d.status, d.last_error) for d in session.query(Delivery).order_by(Delivery.pk)]


def test_rate_limit_becomes_the_outboxs_backoff_with_retry_after_as_a_floor(api, workspace_id, worker, slack, database):
    slack.rate_limit("chat.postMessage", times=1, retry_after=30)
    hand_over(api)
    worker.run_once()
    with database.read() as session:
        row = session.query(Delivery).one()
        assert row.status == "pending" and row.attempts == 1
        assert "rate limited" in row.last_error
        assert row.next_attempt_at - utcnow() > dt.timedelta(seconds=25)
        row_id = row.id
    assert slack.messages(CHANNEL) == []
    with database.write() as session:  # time passes
        session.query(Delivery).filter(Delivery.id == row_id).update({"next_attempt_at": utcnow()})
    drain(worker)
    assert len([m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]) == 1


def test_server_errors_are_retried_and_the_thread_opens_once(api, workspace_id, worker, slack, database):
    slack.fail("chat.postMessage", times=2, status=500)
    hand_over(api)
    for _ in range(3):
        worker.run_once()
        with database.write() as session:
            session.query(Delivery).filter(Delivery.status == "pending").update({"next_attempt_at": utcnow()})
    drain(worker)
    tops = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]
    assert len(tops) == 1


def test_revoked_token_marks_the_integration_unhealthy_and_keeps_deliveries(api, app, workspace_id, worker, slack,
                                                                           database, connector):
    slack.revoke(BOT_TOKEN)
    cid = hand_over(api)
    drain(worker)
    state, reason = health(database)
    assert state == "unhealthy" and reason.startswith("token_revoked")
    assert [(a, s) for a, s, _ in deliveries(database)] == [(outbox.OPEN_THREAD, "dead")]
    # the console shows why
    checked = connector.integrations.run_check(connector.db, _workspace_pk(database), "slack", 5)
    assert not checked.ok and "token_revoked" in checked.detail
    # reinstalled: replay delivers what waited, nothing was dropped
    slack.add_token(BOT_TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
    with database.write() as session:
        [row] = session.query(Delivery).all()
        assert outbox.replay(session, row.id)
    drain(worker)
    assert any(cid in str(m.get("blocks")) for m in slack.messages(CHANNEL))


def test_bot_not_in_channel_is_reported_by_integration_test(api, workspace_id, worker, slack, database, connector):
    slack.set_bot_member(CHANNEL, False)
    hand_over(api)
    drain(worker)
    state, reason = health(database)
    assert state == "unhealthy" and reason.startswith("not_in_channel")
    checked = connector.integrations.run_check(connector.db, _workspace_pk(database), "slack", 5)
    assert not checked.ok and "not_in_channel" in checked.detail
    slack.set_bot_member(CHANNEL, True)
    checked = connector.integrations.run_check(connector.db, _workspace_pk(database), "slack", 5)
    assert checked.ok, checked.detail
    assert health(database) == ("ok", None)


def test_channel_not_found(api, workspace_id, worker, slack, database):
    slack.delete_channel(CHANNEL)
    hand_over(api)
    drain(worker)
    assert health(database)[1].startswith("channel_not_found")


def test_app_uninstalled_event_marks_unhealthy(api, sender, workspace_id, database):
    assert sender.event({"type": "app_uninstalled"}).status_code == 200
    assert health(database) == ("unhealthy", "app_uninstalled: the app was removed from Slack; reinstall it")
    assert sender.event({"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}).status_code == 200
    assert health(database)[1].startswith("token_revoked")


def _workspace_pk(database):
    with database.read() as session:
        return session.query(Integration).one().workspace_pk


def test_cli_integration_test_prints_the_reason(tmp_path, slack, monkeypatch):
    """`connector integration test` against the fake, through the real CLI."""
    from connector.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    import json

    created = json.loads(runner.invoke(main, ["workspace", "create", "--name", "S", "--json"]).output)
    saved = runner.invoke(main, ["integration", "set", created["id"], "slack", f"channel={CHANNEL}",
                                 f"bot_token={BOT_TOKEN}", "signing_secret=shh-secret", f"api_base_url={slack.url}"])
    assert saved.exit_code == 0, saved.output
    assert BOT_TOKEN not in saved.output and "shh-secret" not in saved.output
    ok = runner.invoke(main, ["integration", "test", created["id"], "slack"])
    assert ok.exit_code == 0 and "posting to #handover" in ok.output
    slack.revoke(BOT_TOKEN)
    failed = runner.invoke(main, ["integration", "test", created["id"], "slack"])
    assert failed.exit_code == 1 and "token_revoked" in failed.output
