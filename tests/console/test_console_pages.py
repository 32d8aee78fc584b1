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
    assert "Handed over by Admin from the console ·" in client.get(f"/console/conversations/{cid}").get_data(as_text=True)


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
        {"name": "Angry", "instruction": "Frustrated customers", "examples": []}],
        "claim_timeout_seconds": None, "unclaimed_action": "remind"}
    assert save(enabled="on", mode="semi_automate", scenario_name=["Refunds", "Angry", ""],
                scenario_instruction=["Refund requests over $250", "Frustrated customers", ""],
                scenario_examples=["", "", ""], remove="0").status_code == 302
    assert [s["name"] for s in stored()["scenarios"]] == ["Angry"]
    bad = save(mode="automate", scenario_name=["No instruction"], scenario_instruction=[""], scenario_examples=[""])
    assert bad.status_code == 400
    assert "scenarios.0.instruction" in bad.get_data(as_text=True)
    assert [s["name"] for s in stored()["scenarios"]] == ["Angry"] and stored()["enabled"] is True


def test_abilities_page_sets_the_claim_timeout_in_minutes(app, connector, workspace, database):
    client = signed_in(app, connector, workspace[0])
    token = csrf(client, "/console/train/abilities")
    saved = client.post("/console/train/abilities", data={
        "csrf_token": token, "mode": "automate", "claim_timeout_minutes": "15", "unclaimed_action": "give_back"})
    assert saved.status_code == 302
    with database.read() as session:
        handover = repository.get_workspace(session, workspace[0]).settings["handover"]
    assert (handover["claim_timeout_seconds"], handover["unclaimed_action"]) == (900, "give_back")
    page = client.get("/console/train/abilities").get_data(as_text=True)
    assert 'name="claim_timeout_minutes" min="1" max="10080" step="1"\n             value="15"' in page
    off = client.post("/console/train/abilities", data={"csrf_token": token, "mode": "automate",
                                                        "claim_timeout_minutes": "", "unclaimed_action": "remind"})
    assert off.status_code == 302
    with database.read() as session:
        assert repository.get_workspace(session, workspace[0]).settings["handover"]["claim_timeout_seconds"] is None


def test_reports_page_shows_the_figures_and_charts(app, connector, workspace, make_workspace):
    from tests.conftest import ApiClient

    api = ApiClient(app, workspace[1])
    for name in ("Ann", "Bo"):
        cid = api.post("/v1/conversations", json={"shopper": {"name": name}}).get_json()["id"]
        api.post(f"/v1/conversations/{cid}/handover")
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "human", "text": "hi", "author_name": "Cy"})
    client = signed_in(app, connector, workspace[0])
    page = client.get("/console/reports").get_data(as_text=True)
    assert 'id="figure-handovers">2<' in page and 'id="figure-claimed">1<' in page and 'id="figure-unclaimed">1<' in page
    assert page.count('<svg class="chart" role="img"') == 4
    assert "<title>api: 2</title>" in page  # the split by tool


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


def test_integrations_page_shows_waiting_and_dead_deliveries_with_retry(settings, database, make_workspace):
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

    def status(delivery_id):
        with database.read() as session:
            return session.query(Delivery).filter(Delivery.id == delivery_id).one()

    def page():
        return client.get("/console/settings/integrations").get_data(as_text=True)

    with FakeVendor() as vendor:
        with database.write() as session:
            workspace = repository.get_workspace(session, workspace_id)
            connector.integrations.save(session, workspace, "desk", {
                "api_base_url": vendor.url, "api_key": "k", "signing_secret": "s"})
        client = signed_in(app, connector, workspace_id)
        assert "Fake desk" in page() and "unknown" in page() and "No failing deliveries." in page()

        token = csrf(client, "/console/settings/integrations")
        client.post("/console/settings/integrations/desk/test", data={"csrf_token": token})
        assert '<span class="health ok">ok</span>' in page()

        # fails once and waits for its next attempt: listed (it used to say "No failed deliveries")
        connector.settings.delivery_max_attempts = 2
        connector.settings.delivery_backoff_base = 3600
        vendor.fail_next(2, status=500)
        api = ApiClient(app, key)
        cid = api.post("/v1/conversations").get_json()["id"]
        api.post(f"/v1/conversations/{cid}/handover")
        DeliveryWorker(connector).run_once()
        [delivery_id] = re.findall(r'class="failure pending" data-id="(dlv_\w+)"', page())
        assert "Waiting to retry" in page() and "1 attempt<" in page() and "HTTP 500" in page()
        assert f"/console/conversations/{cid}" in page()

        # Retry tries a waiting one now, without waiting for its backoff; out of attempts it is dead
        assert client.post(f"/console/deliveries/{delivery_id}/retry", data={"csrf_token": token}).status_code == 302
        DeliveryWorker(connector).run_once()
        assert status(delivery_id).status == "dead"
        assert f'class="failure dead" data-id="{delivery_id}"' in page()
        assert "Dead, out of attempts" in page() and "2 attempts" in page()

        # another workspace's delivery is not found; a dead one comes back with Retry
        other = signed_in(app, connector, make_workspace(name="Third")[0])
        other_token = csrf(other, "/console/settings/integrations")
        assert other.post(f"/console/deliveries/{delivery_id}/retry", data={"csrf_token": other_token}).status_code == 404
        assert delivery_id not in other.get("/console/settings/integrations").get_data(as_text=True)
        assert client.post(f"/console/deliveries/{delivery_id}/retry", data={"csrf_token": token}).status_code == 302
        DeliveryWorker(connector).run_once()
        assert status(delivery_id).status == "delivered"
        assert "No failing deliveries." in page()
        # a delivery that is fine now is not "retried"
        client.post(f"/console/deliveries/{delivery_id}/retry", data={"csrf_token": token})
        assert "not failing any more" in page()


def test_failing_deliveries_query(database, make_workspace):
    from connector.delivery import failures
    from connector.storage.models import Delivery
    from connector.storage.models import utcnow

    workspace_id, _ = make_workspace()
    with database.write() as session:
        workspace = repository.get_workspace(session, workspace_id)
        for n, (status, attempts, error) in enumerate([
            ("pending", 0, None),  # never tried: not failing
            ("pending", 2, "connection refused"),
            ("in_flight", 3, "HTTP 502"),
            ("dead", 10, "HTTP 401"),
            ("delivered", 4, None),
            ("pending", 0, "deferred: waiting for the thread"),  # deferred, never failed
        ]):
            session.add(Delivery(id=f"dlv_q{n}", workspace_pk=workspace.pk, plugin="desk", action="open_thread",
                                 payload={}, ordering_key=f"k{n}", idempotency_key=f"i{n}", status=status,
                                 attempts=attempts, last_error=error, next_attempt_at=utcnow()))
    with database.read() as session:
        listed = failures.failing_deliveries(session, workspace.pk)
        assert [(f.id, f.status, f.attempts, f.last_error) for f in listed] == [
            ("dlv_q3", "dead", 10, "HTTP 401"), ("dlv_q2", "in_flight", 3, "HTTP 502"),
            ("dlv_q1", "pending", 2, "connection refused")]
        assert listed[2].next_attempt_at is not None and listed[0].next_attempt_at is None
        assert failures.find_failing(session, workspace.pk, "dlv_q4") is None
        assert failures.find_failing(session, workspace.pk + 1000, "dlv_q3") is None


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
