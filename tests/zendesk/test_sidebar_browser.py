"""The Zendesk sidebar page in headless Chromium, clicked against a running connector.

The page is the rendered app's ``assets/iframe.html``. Zendesk's SDK script is answered
with a stand-in for the framework's client object: ``get`` answers the ticket id and the
agent's name; ``request`` hands the options to Python, which does what Zendesk's proxy
does: puts the secure setting in, signs the JWT with the claims the page asked for, and
makes the call server-side to the live connector.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

import jwt
import pytest
import requests
from werkzeug.serving import make_server

from handover_zendesk import app_bundle
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import browser  # noqa: F401  (the fixture: Debian's Chromium, headless)
from tests.zendesk.conftest import APP_SECRET
from tests.zendesk.conftest import drain

STAND_IN = """
window.ZAFClient = { init: function () {
  var handlers = {};
  return {
    get: function (path) {
      var values = {"ticket.id": window.__ticket.id, "currentUser.name": window.__ticket.agent};
      var answer = {}; answer[path] = values[path];
      return Promise.resolve(answer);
    },
    request: function (options) {
      return window.zafProxy(JSON.stringify(options)).then(function (answer) {
        answer = JSON.parse(answer);
        if (answer.status >= 400) { return Promise.reject(answer); }
        return answer.body;
      });
    },
    invoke: function () { return Promise.resolve({}); },
    on: function (name, handler) { handlers[name] = handler; }
  };
}};
"""


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def proxy(options_json: str) -> str:
    """Zendesk's proxy, as its documentation describes it, for ``secure: true`` requests."""
    options = json.loads(options_json)
    assert options["secure"] is True and options["cors"] is False
    spec = options["jwt"]
    assert spec["secret_key"] == "{{setting.shared_secret}}"
    now = int(time.time())
    signed = jwt.encode({**spec["claims"], "iat": now, "exp": now + spec["expiry"]}, APP_SECRET, algorithm=spec["algorithm"])
    headers = {k: v.replace("{{jwt.token}}", signed) for k, v in options["headers"].items()}
    response = requests.request(options["type"], options["url"], data=options.get("data"), timeout=10,
                                headers={**headers, "Content-Type": options.get("contentType", "application/json")})
    return json.dumps({"status": response.status_code, "body": response.json()})


def test_sidebar_buttons_against_a_running_connector(browser, live, api, workspace_id, worker, zendesk, tmp_path):  # noqa: F811
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    ticket_id = next(t["id"] for t in zendesk.tickets.values() if t.get("external_id") == cid)
    bundle = zipfile.ZipFile(io.BytesIO(app_bundle.build_zip(live)))
    page_file = tmp_path / "iframe.html"
    page_file.write_bytes(bundle.read("assets/iframe.html"))

    page = browser.new_page()
    page.expose_function("zafProxy", proxy)
    page.add_init_script(f"window.__ticket = {{id: {ticket_id}, agent: 'Dana Agent'}};")
    page.route("https://static.zdassets.com/**", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body=STAND_IN))
    page.goto(page_file.as_uri())
    status = page.locator("#status")
    page.wait_for_function("document.getElementById('status').dataset.state === 'needs_you'")
    assert page.locator("#label").inner_text() == "Needs you"

    assert not page.get_by_role("button", name="Take over").is_visible()  # a human has it: they reply

    page.get_by_role("button", name="Give back to AI").click()
    page.wait_for_function("document.getElementById('status').dataset.state === 'ai'")
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "ai"
    assert not page.get_by_role("button", name="Give back to AI").is_visible()

    page.get_by_role("button", name="Take over").click()
    page.wait_for_function("document.getElementById('status').dataset.state === 'taken'")
    assert page.locator("#label").inner_text() == "Taken by Dana Agent"
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "human"

    page.get_by_role("button", name="Resolve").click()
    page.wait_for_function("document.getElementById('status').dataset.state === 'resolved'")
    assert api.get(f"/v1/conversations/{cid}").get_json()["status"] == "resolved"
    assert status.get_attribute("data-state") == "resolved"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "zendesk-sidebar.png"))
    page.close()
