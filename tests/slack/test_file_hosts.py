"""Issue 14, items 1 and 7: Slack files come only from Slack's hosts; a file that cannot go never sinks the reply."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.vendor import FakeVendor
from tests.slack.conftest import AGENT
from tests.slack.conftest import BOT_TOKEN
from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain


def open_thread(api, worker, slack):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    top = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])][0]
    return cid, top["ts"]


def human_messages(api, cid):
    return [m for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"] if m["author"] == "human"]


@pytest.fixture
def internal():
    """An internal service (cloud metadata, an admin port) the connector can reach and nobody else should."""
    with FakeVendor() as vendor:
        yield vendor


def test_a_file_url_elsewhere_is_never_fetched_and_the_token_goes_nowhere(api, workspace_id, worker, slack,
                                                                          sender, internal):
    cid, ts = open_thread(api, worker, slack)
    real = slack.add_file("F0OK", "label.pdf", "application/pdf", b"%PDF label")
    evil = {"id": "F0EVIL", "name": "secrets.txt", "mimetype": "text/plain", "size": 10,
            "url_private": f"{internal.url}/latest/meta-data/iam", "url_private_download": f"{internal.url}/admin"}
    sender.reply(ts, "Here you go", subtype="file_share", files=[evil, real])
    drain(worker)
    assert internal.requests_for("/") == []  # not fetched, so no bot token reached it either
    [reply] = human_messages(api, cid)
    assert reply["text"] == "Here you go"
    assert [a["name"] for a in reply["attachments"]] == ["label.pdf"]
    # the agent is told which file did not go, and why
    [notice] = [e for e in slack.ephemerals if e["user"] == AGENT]
    assert "secrets.txt" in notice["text"] and "not a Slack file URL" in notice["text"]


def test_a_redirect_from_the_file_host_is_not_followed(api, workspace_id, worker, slack, sender, internal):
    cid, ts = open_thread(api, worker, slack)
    file = slack.add_file("F0HOP", "hop.pdf", "application/pdf", b"%PDF")
    slack.file_redirects["F0HOP"] = f"{internal.url}/steal"
    sender.reply(ts, "See attached", subtype="file_share", files=[file])
    drain(worker)
    assert internal.requests_for("/") == []
    [reply] = human_messages(api, cid)
    assert reply["text"] == "See attached" and reply["attachments"] == []


def test_only_slacks_own_hosts_by_default():
    from handover_slack.plugin import file_url_allowed
    from handover_slack.plugin import response_url_allowed

    assert file_url_allowed("https://files.slack.com/files-pri/T01-F01/label.pdf", None)
    for url in ("http://files.slack.com/files-pri/T01-F01/a", "https://files.slack.com.evil.example/a",
                "https://evil.example/files.slack.com/a", "https://169.254.169.254/latest/meta-data/",
                "https://127.0.0.1/a", "https://files.slack.com:8443/a", "https://user@files.slack.com/a",
                "file:///etc/passwd", "https://slack.com/api/x"):
        assert not file_url_allowed(url, None), url
    assert response_url_allowed("https://hooks.slack.com/actions/T01/1/abc", None)
    assert not response_url_allowed("https://hooks.slack.com.evil.example/actions", None)
    assert not response_url_allowed("http://10.0.0.7/actions/T01", None)


def test_with_an_api_base_url_only_that_exact_origin():
    from handover_slack.plugin import file_url_allowed
    from handover_slack.plugin import response_url_allowed

    base = "http://127.0.0.1:5000/api/"
    assert file_url_allowed("http://127.0.0.1:5000/files-pri/T01-F1/a.pdf", base)
    assert not file_url_allowed("http://127.0.0.1:5001/files-pri/T01-F1/a.pdf", base)  # another port
    assert not file_url_allowed("https://127.0.0.1:5000/files-pri/a", base)  # another scheme
    assert not file_url_allowed("https://files.slack.com/files-pri/a", base)
    assert not response_url_allowed("http://localhost:5000/actions/1", base)


def test_slacks_file_host_resolving_to_a_private_address_is_refused(monkeypatch):
    """Even files.slack.com is refused when it resolves to a private address (a poisoned resolver)."""
    from connector.plugins.http import AddressRefused
    from connector.plugins.http import pinned_request

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "files.slack.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(AddressRefused):
        pinned_request("GET", "https://files.slack.com/files-pri/T01-F1/a", timeout=1,
                       headers={"Authorization": f"Bearer {BOT_TOKEN}"})


def test_a_response_url_elsewhere_gets_no_post(api, workspace_id, worker, slack, sender, internal):
    cid, ts = open_thread(api, worker, slack)
    sender.action("give_back", cid, ts)
    sender.reply(ts, "just thinking out loud")
    drain(worker)
    draft = slack.ephemerals[0]["blocks"][1]["elements"][0]["value"]
    sender.response_url = f"{internal.url}/actions/T01/1/abc"  # a signed payload naming an internal URL
    assert sender.action("keep_note", draft, ts).status_code == 200
    drain(worker)
    assert internal.requests_for("/") == []


def test_a_file_too_big_leaves_the_text_and_the_other_files(api, workspace_id, worker, slack, sender, connector):
    """Item 7: the agent's text reaches the shopper; the agent is told which file was not sent and why."""
    connector.settings.attachment_max_bytes = 100
    cid, ts = open_thread(api, worker, slack)
    big = slack.add_file("F0BIG", "video.mov", "video/quicktime", b"x" * 1000)
    small = slack.add_file("F0SMALL", "note.txt", "text/plain", b"fits")
    sender.reply(ts, "Your refund is on its way", subtype="file_share", files=[big, small])
    drain(worker)
    [reply] = human_messages(api, cid)
    assert reply["text"] == "Your refund is on its way"
    assert [a["name"] for a in reply["attachments"]] == ["note.txt"]
    [notice] = [e for e in slack.ephemerals if e["user"] == AGENT]
    assert "video.mov" in notice["text"] and "larger than" in notice["text"]
