"""Multi-workspace OAuth: the deployment's app installed into a Slack team for a connector workspace."""

from __future__ import annotations

import html
import re
import urllib.parse

import pytest
import sqlalchemy

from connector.storage import repository
from handover_slack.plugin import SlackApp
from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain

DEPLOY_SECRET = "deployment-app-signing-secret-0001"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "deployment-client-secret"
OAUTH_TOKEN = "xoxb-oauth-installed"
BOLT_TABLES = ("slack_installations", "slack_bots", "slack_oauth_states")


@pytest.fixture
def slack_app(slack):
    return SlackApp(posts_per_second=0, signing_secret=DEPLOY_SECRET, client_id=CLIENT_ID,
                    client_secret=CLIENT_SECRET, api_base_url=slack.url)


@pytest.fixture(autouse=True)
def drop_bolt_tables(database):
    yield
    with database.engine.begin() as connection:
        for table in BOLT_TABLES:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))


@pytest.fixture
def channel_only(connector, api):
    with connector.db.write() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
        connector.integrations.save(session, workspace, "slack", {"channel": CHANNEL})
        return workspace.id


def local(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_install_binds_the_slack_team_to_the_workspace_and_posts_with_its_token(
        app, connector, api, slack, channel_only, worker, sender, database):
    plugin = connector.plugins.get("slack")
    client = app.test_client()
    started = client.get(local(plugin.install_url(channel_only)))
    assert started.status_code == 302
    authorize = urllib.parse.urlsplit(started.headers["Location"])
    query = urllib.parse.parse_qs(authorize.query)
    assert query["client_id"] == [CLIENT_ID]
    assert set(query["scope"][0].split(",")) >= {"chat:write", "channels:history"}
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/hooks/slack/oauth_redirect"]
    slack.add_oauth_code("code-42", CLIENT_ID, CLIENT_SECRET, team_id="T02", bot_token=OAUTH_TOKEN,
                         bot_user_id="UBOT2", scopes=["chat:write"])
    slack.add_token(OAUTH_TOKEN, team_id="T02", bot_user_id="UBOT2", bot_id="BBOT2")
    done = client.get(f"/hooks/slack/oauth_redirect?code=code-42&state={query['state'][0]}")
    assert done.status_code == 200, done.data
    assert b"Installed" in done.data
    with database.read() as session:
        settings = connector.integrations.load(session, repository.get_workspace(session, channel_only).pk, "slack")
    assert settings.team_id == "T02" and settings.bot_token is None

    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    [call] = slack.calls_of("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"

    # Events of that team are signed with the deployment's secret; uninstalling marks it unhealthy.
    assert sender.event({"type": "app_uninstalled"}, team_id="T02", secret=DEPLOY_SECRET).status_code == 200
    from connector.storage.models import Integration

    with database.read() as session:
        row = session.query(Integration).one()
        assert row.health == "unhealthy" and row.health_reason.startswith("app_uninstalled")
    assert plugin.installations.find_bot(enterprise_id=None, team_id="T02") is None


def test_install_needs_a_signed_link_and_the_same_browser(app, connector, channel_only, slack):
    client = app.test_client()
    assert client.get("/hooks/slack/install").status_code == 400
    assert client.get("/hooks/slack/install?ws=forged").status_code == 400
    # Another browser (without the install cookie) cannot finish somebody's install.
    plugin = connector.plugins.get("slack")
    started = client.get(local(plugin.install_url(channel_only)))
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(started.headers["Location"]).query)["state"][0]
    slack.add_oauth_code("code-7", CLIENT_ID, CLIENT_SECRET, team_id="T03", bot_token="xoxb-t3",
                         bot_user_id="UB3", scopes=["chat:write"])
    stranger = app.test_client()
    answer = stranger.get(f"/hooks/slack/oauth_redirect?code=code-7&state={state}")
    assert answer.status_code >= 400


def test_the_console_offers_the_install_link(app, connector, channel_only, slack):
    from tests.console.test_console_pages import signed_in

    page = signed_in(app, connector, channel_only).get("/console/settings/integrations").get_data(as_text=True)
    link = re.search(r'href="([^"]*/hooks/slack/install\?ws=[^"]+)"', page)
    assert link and "Install in Slack" in page
    assert app.test_client().get(local(html.unescape(link.group(1)))).status_code == 302


def test_oauth_tokens_are_encrypted_at_rest(app, connector, api, slack, channel_only, worker, database):
    """Issue 14, item 8: bolt's store keeps no token in clear; the plugin still posts with it."""
    plugin = connector.plugins.get("slack")
    client = app.test_client()
    started = client.get(local(plugin.install_url(channel_only)))
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(started.headers["Location"]).query)["state"][0]
    slack.add_oauth_code("code-8", CLIENT_ID, CLIENT_SECRET, team_id="T02", bot_token=OAUTH_TOKEN,
                         bot_user_id="UBOT2", scopes=["chat:write"])
    slack.add_token(OAUTH_TOKEN, team_id="T02", bot_user_id="UBOT2", bot_id="BBOT2")
    assert client.get(f"/hooks/slack/oauth_redirect?code=code-8&state={state}").status_code == 200
    with database.engine.connect() as connection:
        stored = [" ".join(str(v) for v in row) for table in ("slack_installations", "slack_bots")
                  for row in connection.execute(sqlalchemy.text(f"SELECT * FROM {table}"))]
    assert stored and not any(OAUTH_TOKEN in row for row in stored)
    assert not any("xoxb-" in row for row in stored)
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    [call] = slack.calls_of("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"
