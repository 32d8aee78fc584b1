"""Console pages through the Flask test client: auth, CSRF, settings, workspace isolation."""

from __future__ import annotations

import re

import pytest

from connector.console.auth import create_admin
from connector.console.auth import signin_link
from connector.console.demo import stand_in_answer
from connector.storage import repository


@pytest.fixture
def workspace(database, make_workspace):
    workspace_id, key = make_workspace("pro", name="Shop")
    return workspace_id, key


def signed_in(app, connector, workspace_id):
    client = app.test_client()
    link = signin_link(connector.secret_key, "http://localhost", workspace_id)
    response = client.get(link.replace("http://localhost", ""))
    assert response.status_code == 302
    return client


def csrf(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_pages_need_a_sign_in(app):
    client = app.test_client()
    for path in ("/console/conversations", "/console/settings/notifications", "/console/train/abilities",
                 "/console/settings/integrations"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/signin" in response.headers["Location"]
    assert client.post("/console/conversations/conv_x/handover").status_code == 401


def test_password_sign_in(app, connector, workspace):
    create_admin(connector.db, workspace[0], "bo@shop.example", "Bo", "correct horse battery")
    client = app.test_client()
    bad = client.post("/console/signin", data={"email": "bo@shop.example", "password": "nope"})
    assert bad.status_code == 401 and "Wrong e-mail or password" in bad.get_data(as_text=True)
    good = client.post("/console/signin", data={"email": "BO@shop.example", "password": "correct horse battery"})
    assert good.status_code == 302
    assert "Bo · Shop" in client.get("/console/conversations").get_data(as_text=True)


def test_a_tampered_or_expired_link_is_refused(app, connector, workspace):
    link = signin_link(connector.secret_key, "", workspace[0])
    response = app.test_client().get(link[:-3] + "xyz")
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)


def test_posts_without_the_csrf_token_are_refused(app, connector, workspace, api):
    client = signed_in(app, connector, workspace[0])
    cid = api.post("/v1/conversations").get_json()["id"]
    response = client.post(f"/console/conversations/{cid}/handover")
    assert response.status_code == 400


def test_console_commands_record_the_admin_and_the_console(app, connector, workspace):
    from tests.conftest import ApiClient

    api = ApiClient(app, workspace[1])
    cid = api.post("/v1/conversations").get_json()["id"]
    client = signed_in(app, connector, workspace[0])
    token = csrf(client, f"/console/conversations/{cid}")
    assert client.post(f"/console/conversations/{cid}/handover", data={"csrf_token": token}).status_code == 302
    client.post(f"/console/conversations/{cid}/messages", data={"csrf_token": token, "text": "line one\nline two"})
    [event, joined] = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert (event["type"], event["source"], event["actor"]["name"]) == ("handed_over", "console", "Admin")
    [message] = api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]
    assert (message["author"], message["text"], message["source"]) == ("human", "line one\nline two", "console")
    assert "Handed over by Admin from console." in client.get(f"/console/conversations/{cid}").get_data(as_text=True)


def test_another_workspaces_conversation_is_404_in_the_console(app, connector, workspace, make_workspace):
    from tests.conftest import ApiClient

    _, other_key = make_workspace("pro", name="Other")
    cid = ApiClient(app, other_key).post("/v1/conversations").get_json()["id"]
    client = signed_in(app, connector, workspace[0])
    assert client.get(f"/console/conversations/{cid}").status_code == 404
    token = csrf(client, "/console/conversations")
    assert client.post(f"/console/conversations/{cid}/resolve", data={"csrf_token": token}).status_code == 404


def test_notifications_page(app, connector, workspace, database):
    client = signed_in(app, connector, workspace[0])
    token = csrf(client, "/console/settings/notifications")
    saved = client.post("/console/settings/notifications",
                        data={"csrf_token": token, "recipients": "help@shop.example\nbo@shop.example"})
    assert saved.status_code == 302
    with database.read() as session:
        row = repository.get_workspace(session, workspace[0])
    assert row.settings["notifications"] == {"recipients": ["help@shop.example", "bo@shop.example"]}
    bad = client.post("/console/settings/notifications", data={"csrf_token": token, "recipients": "not an address"})
    assert bad.status_code == 400 and "recipients.0" in bad.get_data(as_text=True)


def test_abilities_page_adds_edits_and_removes_scenarios(app, connector, workspace, database):
    client = signed_in(app, connector, workspace[0])
    token = csrf(client, "/console/train/abilities")
    page = client.get("/console/train/abilities").get_data(as_text=True)
    assert "Pause the chat, hand over to an admin, and notify the user via email when admin joins." in page
    assert "Keep the AI chatting and email the admin to decide whether to hand over." in page

    def save(**form):
        return client.post("/console/train/abilities", data={"csrf_token": token, **form})

    assert save(enabled="on", mode="semi_automate", scenario_name=["Refunds"],
                scenario_instruction=["Refund requests over $200"], scenario_examples=["I want my $300 back"]).status_code == 302
    assert save(enabled="on", mode="semi_automate", scenario_name=["Refunds", "Angry"],
                scenario_instruction=["Refund requests over $250", "Frustrated customers"],
                scenario_examples=["", ""]).status_code == 302

    def stored():
        with database.read() as session:
            return repository.get_workspace(session, workspace[0]).settings["handover"]

    assert stored() == {"enabled": True, "mode": "semi_automate", "scenarios": [
        {"name": "Refunds", "instruction": "Refund requests over $250", "examples": []},
        {"name": "Angry", "instruction": "Frustrated customers", "examples": []}]}
    assert save(enabled="on", mode="semi_automate", scenario_name=["Refunds", "Angry", ""],
                scenario_instruction=["Refund requests over $250", "Frustrated customers", ""],
                scenario_examples=["", "", ""], remove="0").status_code == 302
    assert [s["name"] for s in stored()["scenarios"]] == ["Angry"]
    bad = save(mode="automate", scenario_name=["No instruction"], scenario_instruction=[""], scenario_examples=[""])
    assert bad.status_code == 400
    assert "scenarios.0.instruction" in bad.get_data(as_text=True)
    assert [s["name"] for s in stored()["scenarios"]] == ["Angry"] and stored()["enabled"] is True


def test_a_basic_plan_cannot_switch_the_ability_on(app, connector, make_workspace):
    workspace_id, _ = make_workspace("basic")
    client = signed_in(app, connector, workspace_id)
    page = client.get("/console/train/abilities").get_data(as_text=True)
    assert "does not include the Handover to human ability" in page
    token = csrf(client, "/console/train/abilities")
    refused = client.post("/console/train/abilities", data={"csrf_token": token, "enabled": "on", "mode": "automate"})
    assert refused.status_code == 402


def test_stand_in_ai_never_pretends_to_be_human():
    assert "not a person" in stand_in_answer("can I talk to a human please")
    assert "shipping" in stand_in_answer("when will my order arrive?").lower()
    assert "return" in stand_in_answer("I want a refund").lower()


def test_the_demo_widget_can_be_switched_off(settings, database, make_workspace):
    from connector.app import build_connector
    from connector.app import create_app

    settings.demo_widget = False
    app = create_app(connector=build_connector(settings, db=database))
    workspace_id, _ = make_workspace()
    client = signed_in(app, app.extensions["connector"], workspace_id)
    assert client.get("/demo").status_code == 404
    assert "demo widget" not in client.get("/console/conversations").get_data(as_text=True)


def test_integrations_page_tests_health_and_retries_failed_deliveries(settings, database, make_workspace):
    from connector.app import build_connector
    from connector.app import create_app
    from connector.delivery.worker import DeliveryWorker
    from connector.plugin_registry import PluginRegistry
    from connector.storage.models import Delivery
    from tests.conftest import ApiClient
    from tests.fakes.vendor import FakeVendor
    from tests.plugins.fakedesk import FakeDesk

    connector = build_connector(settings, db=database, plugins=PluginRegistry([FakeDesk("desk")]))
    app = create_app(connector=connector)
    workspace_id, key = make_workspace()
    with FakeVendor() as vendor:
        with database.write() as session:
            workspace = repository.get_workspace(session, workspace_id)
            connector.integrations.save(session, workspace, "desk", {
                "api_base_url": vendor.url, "api_key": "k", "signing_secret": "s"})
        client = signed_in(app, connector, workspace_id)
        page = client.get("/console/settings/integrations").get_data(as_text=True)
        assert "Fake desk" in page and "unknown" in page and "No failed deliveries." in page

        token = csrf(client, "/console/settings/integrations")
        client.post("/console/settings/integrations/desk/test", data={"csrf_token": token})
        assert '<span class="health ok">ok</span>' in client.get("/console/settings/integrations").get_data(as_text=True)

        connector.settings.delivery_max_attempts = 1
        vendor.fail_next(1, status=500)
        api = ApiClient(app, key)
        cid = api.post("/v1/conversations").get_json()["id"]
        api.post(f"/v1/conversations/{cid}/handover")
        DeliveryWorker(connector).run_once()
        page = client.get("/console/settings/integrations").get_data(as_text=True)
        [delivery_id] = re.findall(r"<code>(dlv_\w+)</code>", page)
        assert "HTTP 500 (after 1 attempts)" in page
        assert client.post(f"/console/deliveries/{delivery_id}/retry", data={"csrf_token": token}).status_code == 302
        DeliveryWorker(connector).run_once()
        with database.read() as session:
            assert session.query(Delivery).filter(Delivery.id == delivery_id).one().status == "delivered"
        assert "No failed deliveries." in client.get("/console/settings/integrations").get_data(as_text=True)


def test_mail_written_as_files_is_listed_on_the_notifications_page(app, connector, workspace, monkeypatch, tmp_path):
    from email.message import EmailMessage

    from connector.notifications import mailer

    monkeypatch.setattr(mailer, "MAIL_DIR", tmp_path / "mail")
    message = EmailMessage()
    message["To"], message["Subject"], message["Message-ID"] = "help@shop.example", "Customer needs your help", "<dlv_x@y>"
    message.set_content("hello")
    mailer.Mailer(None, mail_dir=mailer.MAIL_DIR).send(message)
    client = signed_in(app, connector, workspace[0])
    page = client.get("/console/settings/notifications").get_data(as_text=True)
    assert "Customer needs your help" in page and "help@shop.example" in page
