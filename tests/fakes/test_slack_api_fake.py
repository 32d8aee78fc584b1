"""The Slack fake, driven by the real slack_sdk WebClient over HTTP (and plain requests for files)."""

from __future__ import annotations

import json
import threading
import typing as t
import urllib.request

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .slack_api import CONTRACT
from .slack_api import FakeSlack

TOKEN = "xoxb-1-fake-test"
CHANNEL = "CHANDOFF"
AGENT = "UAGENT7"


@pytest.fixture
def slack() -> t.Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_token(TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        fake.add_channel(CHANNEL, name="handover")
        fake.add_user(AGENT, name="sam", real_name="Sam Rivera", display_name="Sam", email="sam@shop.example")
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url, timeout=5)


def error_of(call: t.Callable[[], t.Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


# -- life cycle and identity -------------------------------------------------------------


def test_url_is_a_base_url_for_slack_sdk_and_stop_closes_the_port():
    fake = FakeSlack().start()
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/")
    fake.add_token(TOKEN)
    assert WebClient(token=TOKEN, base_url=fake.url).auth_test()["ok"]
    fake.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(fake.url + "auth.test", timeout=2)


def test_auth_test_shape_and_scopes_header(slack, client):
    me = client.auth_test()
    assert me.data == {"ok": True, "url": "https://fake.slack.com/", "team": "Fake Team", "user": "handover",
                       "team_id": "T01", "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": False}
    assert "chat:write" in me.headers["X-OAuth-Scopes"].split(",")
    [call] = slack.calls_of("auth.test")
    assert call.headers["authorization"] == f"Bearer {TOKEN}" and call.status == 200 and call.response["ok"]


def test_revoked_unknown_and_missing_tokens(slack, client):
    slack.revoke(TOKEN)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="hi")).response["error"] == "token_revoked"
    unknown = WebClient(token="xoxb-nobody", base_url=slack.url)
    assert error_of(unknown.auth_test).response["error"] == "invalid_auth"
    anonymous = WebClient(base_url=slack.url)
    assert error_of(anonymous.auth_test).response["error"] == "not_authed"
    assert slack.messages(CHANNEL) == [] and slack.violations == []


def test_token_as_a_form_param_counts(slack):
    answer = requests.post(slack.url + "auth.test", data={"token": TOKEN}, timeout=5).json()
    assert answer["ok"] and answer["user_id"] == "UBOT"


def test_a_token_without_the_methods_scope_gets_missing_scope(slack):
    slack.add_token("xoxb-narrow", scopes=("chat:write",))
    narrow = WebClient(token="xoxb-narrow", base_url=slack.url)
    error = error_of(lambda: narrow.users_info(user=AGENT)).response
    assert error["error"] == "missing_scope" and error["needed"] == "users:read" and error["provided"] == "chat:write"


# -- posting -----------------------------------------------------------------------------


def test_post_message_shape_and_stored_message(slack, client):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Ann* needs a human"}}]
    posted = client.chat_postMessage(channel=CHANNEL, text="Ann needs a human", blocks=blocks, unfurl_links=False)
    assert posted["ok"] and posted["channel"] == CHANNEL
    ts = posted["ts"]
    seconds, counter = ts.split(".")
    assert seconds.isdigit() and len(counter) == 6
    assert posted["message"] == {"type": "message", "ts": ts, "text": "Ann needs a human", "blocks": blocks,
                                 "user": "UBOT", "bot_id": "BBOT", "app_id": "A01", "team": "T01"}
    [stored] = slack.messages(CHANNEL)
    assert stored["blocks"] == blocks and stored["thread_ts"] is None and stored["user"] == "UBOT"
    assert slack.calls_of("chat.postMessage")[0].params["unfurl_links"] is False  # slack_sdk sent JSON


def test_form_encoded_blocks_arrive_decoded(slack, client):
    blocks = [{"type": "divider"}]
    client.api_call("chat.postMessage", data={"channel": CHANNEL, "text": "x", "blocks": json.dumps(blocks)})
    assert slack.messages(CHANNEL)[0]["blocks"] == blocks
    assert slack.calls_of("chat.postMessage")[0].headers["Content-Type"].startswith("application/x-www-form")


def test_replies_threads_and_increasing_ts(slack, client):
    top = client.chat_postMessage(channel=CHANNEL, text="top")["ts"]
    replies = [client.chat_postMessage(channel=CHANNEL, thread_ts=top, text=f"r{n}", username="Ann (shopper)",
                                       icon_emoji=":bust_in_silhouette:")["ts"] for n in range(3)]
    all_ts = [top, *replies]
    assert all_ts == sorted(all_ts, key=float) and len(set(all_ts)) == 4
    thread = slack.thread(CHANNEL, top)
    assert [m["text"] for m in thread] == ["r0", "r1", "r2"]
    assert thread[0]["username"] == "Ann (shopper)" and thread[0]["icon_emoji"] == ":bust_in_silhouette:"
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["top", "r0", "r1", "r2"]
    assert slack.stray_replies == []


def test_replies_to_no_message_post_anyway_and_are_noted(slack, client):
    posted = client.chat_postMessage(channel=CHANNEL, thread_ts="1111111111.000001", text="lost")
    assert posted["ok"]
    [stray] = slack.stray_replies
    assert stray["ts"] == posted["ts"] and "no message" in stray["reason"]
    top = client.chat_postMessage(channel=CHANNEL, text="top")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, thread_ts=top, text="r")["ts"]
    client.chat_postMessage(channel=CHANNEL, thread_ts=reply, text="reply to a reply")
    assert [m["text"] for m in slack.thread(CHANNEL, top)] == ["r", "reply to a reply"]
    assert len(slack.stray_replies) == 2


def test_message_content_limits(slack, client):
    assert error_of(lambda: client.api_call("chat.postMessage", json={"channel": CHANNEL})).response["error"] == "no_text"
    too_long = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x" * 40_001))
    assert too_long.response["error"] == "msg_too_long"
    assert client.chat_postMessage(channel=CHANNEL, text="x" * 40_000)["ok"]
    blocks = [{"type": "divider"}] * 51
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)
                    ).response["error"] == "invalid_blocks"
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", blocks=long_section)
                    ).response["error"] == "invalid_blocks"
    assert len(slack.messages(CHANNEL)) == 1 and slack.violations == []


def test_not_in_channel_channel_not_found_archived(slack, client):
    slack.set_bot_member(CHANNEL, False)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response["error"] == "not_in_channel"
    slack.set_bot_member(CHANNEL, True)
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert error_of(lambda: client.chat_postMessage(channel="CNOPE", text="x")).response["error"] == "channel_not_found"
    slack.archive_channel(CHANNEL)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response["error"] == "is_archived"
    slack.delete_channel(CHANNEL)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response["error"] == "channel_not_found"
    assert error_of(lambda: client.conversations_info(channel=CHANNEL)).response["error"] == "channel_not_found"


def test_chat_write_public_posts_without_joining_public_channels_only(slack):
    slack.add_token("xoxb-public", scopes=("chat:write", "chat:write.public"))
    slack.add_channel("CPUB", bot_member=False)
    slack.add_channel("GPRIV", bot_member=False)
    public = WebClient(token="xoxb-public", base_url=slack.url)
    assert public.chat_postMessage(channel="CPUB", text="x")["ok"]
    assert error_of(lambda: public.chat_postMessage(channel="GPRIV", text="x")).response["error"] == "channel_not_found"


def test_update_replaces_content_and_keeps_versions(slack, client):
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "open"}}]
    ts = client.chat_postMessage(channel=CHANNEL, text="open", blocks=blocks)["ts"]
    updated = client.chat_update(channel=CHANNEL, ts=ts, text="resolved")
    assert updated["ok"] and updated["ts"] == ts and updated["text"] == "resolved"
    assert "blocks" not in updated["message"]
    [message] = slack.messages(CHANNEL)
    assert message["text"] == "resolved" and message["blocks"] is None  # text alone removes the blocks
    assert [v["text"] for v in slack.versions(CHANNEL, ts)] == ["open", "resolved"]
    assert slack.versions(CHANNEL, ts)[0]["blocks"] == blocks
    missing = error_of(lambda: client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"
    slack.add_token("xoxb-other-app", bot_user_id="UOTHER", bot_id="BOTHER")
    other = WebClient(token="xoxb-other-app", base_url=slack.url)
    assert error_of(lambda: other.chat_update(channel=CHANNEL, ts=ts, text="x")).response["error"] == "cant_update_message"


def test_post_ephemeral(slack, client):
    top = client.chat_postMessage(channel=CHANNEL, text="top")["ts"]
    blocks = [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Send"},
                                                "action_id": "send", "value": "v"}]}]
    answer = client.chat_postEphemeral(channel=CHANNEL, user=AGENT, thread_ts=top, text="Send it?", blocks=blocks)
    assert answer["ok"] and answer["message_ts"]
    assert slack.ephemerals == [{"channel": CHANNEL, "user": AGENT, "text": "Send it?", "blocks": blocks,
                                 "attachments": None, "thread_ts": top, "ts": answer["message_ts"]}]
    assert error_of(lambda: client.chat_postEphemeral(channel=CHANNEL, user="UNOBODY", text="x")
                    ).response["error"] == "user_not_in_channel"
    assert len(slack.messages(CHANNEL)) == 1  # ephemerals are not channel messages


def test_users_info_conversations_info_permalink(slack, client):
    user = client.users_info(user=AGENT)["user"]
    assert {k: user[k] for k in ("id", "team_id", "name", "real_name", "is_bot")} == {
        "id": AGENT, "team_id": "T01", "name": "sam", "real_name": "Sam Rivera", "is_bot": False}
    assert user["profile"]["display_name"] == "Sam" and user["profile"]["real_name"] == "Sam Rivera"
    assert user["profile"]["email"] == "sam@shop.example" and user["profile"]["image_72"].startswith("http")
    assert slack.calls_of("users.info")[0].params == {"user": AGENT}  # a GET with a query string
    assert error_of(lambda: client.users_info(user="UNOBODY")).response["error"] == "user_not_found"
    channel = client.conversations_info(channel=CHANNEL)["channel"]
    assert channel["id"] == CHANNEL and channel["name"] == "handover" and channel["is_member"] is True
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=ts)
    assert link["permalink"] == f"https://fake.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"


# -- contract ----------------------------------------------------------------------------


def test_an_undeclared_parameter_is_a_violation(slack, client):
    error = error_of(lambda: client.api_call("chat.postMessage", params={"channel": CHANNEL, "text": "x", "bogus": 1}))
    assert error.response["error"] == "invalid_arguments"
    assert slack.violations == ["chat.postMessage: parameter 'bogus' is not in Slack's API description"]
    assert slack.messages(CHANNEL) == []


def test_a_missing_required_parameter_and_an_unknown_method_are_violations(slack, client):
    assert error_of(lambda: client.api_call("chat.postMessage", json={"text": "x"})
                    ).response["error"] == "invalid_arguments"
    assert error_of(lambda: client.api_call("chat.scheduleMessage", json={"channel": CHANNEL})
                    ).response["error"] == "unknown_method"
    assert slack.violations == [
        "chat.postMessage: required parameter 'channel' missing",
        "chat.scheduleMessage: not a method in the contract extract of Slack's API description",
    ]


def test_json_to_a_form_only_method_is_ignored_like_slack_does(slack, client):
    error = error_of(lambda: client.api_call("conversations.info", json={"channel": CHANNEL}))
    assert error.response["error"] == "channel_not_found"
    assert slack.violations == ["conversations.info: JSON body sent to a method that only takes form data "
                                "(Slack ignores it)"]


def test_the_contract_is_the_extract():
    assert set(CONTRACT["methods"]) == {"auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral",
                                        "chat.getPermalink", "users.info", "conversations.info", "files.info",
                                        "oauth.v2.access", "conversations.replies", "conversations.history"}
    assert CONTRACT["methods"]["chat.postMessage"]["params"]["metadata"] is False
    assert CONTRACT["methods"]["chat.postEphemeral"]["params"]["user"] is True


# -- faults ------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_then_recovers(slack, client):
    slack.rate_limit("chat.postMessage", times=2, retry_after=7)
    for _ in range(2):
        error = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x"))
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "7" and error.response["error"] == "ratelimited"
    assert client.auth_test()["ok"]  # other methods are not limited
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert [c.status for c in slack.calls_of("chat.postMessage")] == [429, 429, 200]
    assert len(slack.messages(CHANNEL)) == 1


def test_fail_and_fail_with(slack, client):
    slack.fail("chat.update", times=1, status=503)
    slack.fail_with("chat.postMessage", "fatal_error")
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")).response["error"] == "fatal_error"
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts=ts, text="y")).response.status_code == 503
    assert client.chat_update(channel=CHANNEL, ts=ts, text="y")["ok"]


def test_concurrent_posts_get_unique_ts(slack):
    client = WebClient(token=TOKEN, base_url=slack.url)
    results: list[str] = []

    def post(n: int) -> None:
        results.append(client.chat_postMessage(channel=CHANNEL, text=str(n))["ts"])

    threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 20 and len(slack.messages(CHANNEL)) == 20 and len(slack.calls) == 20


# -- files -------------------------------------------------------------------------------


def test_file_object_and_download_with_and_without_the_token(slack, client):
    file = slack.add_file("F123", "return label.pdf", "application/pdf", b"%PDF-1.7 label")
    assert file["url_private"] == f"{slack.root}/files-pri/T01-F123/return%20label.pdf"
    assert file["url_private_download"] == f"{slack.root}/files-pri/T01-F123/download/return%20label.pdf"
    assert client.files_info(file="F123")["file"] == file
    assert error_of(lambda: client.files_info(file="FNOPE")).response["error"] == "file_not_found"

    good = requests.get(file["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert good.status_code == 200 and good.content == b"%PDF-1.7 label"
    assert good.headers["Content-Type"] == "application/pdf"
    # The pitfall: without the token Slack answers 200 and a sign-in page, not an error status.
    anonymous = requests.get(file["url_private_download"], timeout=5)
    assert anonymous.status_code == 200 and anonymous.headers["Content-Type"].startswith("text/html")
    assert b"Sign in" in anonymous.content
    slack.revoke(TOKEN)
    revoked = requests.get(file["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert revoked.headers["Content-Type"].startswith("text/html")
    assert [d["authorized"] for d in slack.downloads] == [True, False, False]


# -- OAuth -------------------------------------------------------------------------------


def test_oauth_v2_access_with_basic_auth_and_with_params(slack):
    slack.add_oauth_code("code-1", "111.222", "s3cret", team_id="T02", bot_token="xoxb-t2", bot_user_id="UBOT2",
                         scopes=["chat:write", "users:read"], redirect_uri="https://connector.example/redirect")
    anonymous = WebClient(base_url=slack.url)
    answer = anonymous.oauth_v2_access(client_id="111.222", client_secret="s3cret", code="code-1",
                                       redirect_uri="https://connector.example/redirect")
    assert answer.data == {
        "ok": True, "access_token": "xoxb-t2", "token_type": "bot", "scope": "chat:write,users:read",
        "bot_user_id": "UBOT2", "app_id": "A01", "team": {"id": "T02", "name": "Fake Team"}, "enterprise": None,
        "authed_user": {"id": "UINSTALLER"}, "is_enterprise_install": False,
    }
    assert slack.calls_of("oauth.v2.access")[0].headers["Authorization"].startswith("Basic ")
    # The code is spent; the token it gave works.
    again = error_of(lambda: anonymous.oauth_v2_access(client_id="111.222", client_secret="s3cret", code="code-1",
                                                      redirect_uri="https://connector.example/redirect"))
    assert again.response["error"] == "invalid_code"
    assert WebClient(token="xoxb-t2", base_url=slack.url).auth_test()["team_id"] == "T02"

    slack.add_oauth_code("code-2", "111.222", "s3cret", team_id="T03", bot_token="xoxb-t3", bot_user_id="UB3",
                         scopes=["chat:write"])
    assert error_of(lambda: anonymous.api_call("oauth.v2.access", data={
        "client_id": "111.222", "client_secret": "wrong", "code": "code-2"})).response["error"] == "bad_client_secret"
    by_params = anonymous.api_call("oauth.v2.access", data={"client_id": "111.222", "client_secret": "s3cret",
                                                            "code": "code-2"})
    assert by_params["access_token"] == "xoxb-t3"
    assert error_of(lambda: anonymous.oauth_v2_access(client_id="111.222", client_secret="s3cret", code="nope")
                    ).response["error"] == "invalid_code"
    assert slack.violations == []


def test_metadata_is_kept_and_shown_only_when_asked(slack, client):
    """Message metadata (what the plugin tags its posts with) comes back from conversations.replies."""
    parent = client.chat_postMessage(channel="CHANDOFF", text="parent")["ts"]
    client.chat_postMessage(channel="CHANDOFF", thread_ts=parent, text="part 1",
                            metadata={"event_type": "handover_post", "event_payload": {"key": "k1"}})
    plain = client.conversations_replies(channel="CHANDOFF", ts=parent)["messages"]
    assert [m["text"] for m in plain] == ["parent", "part 1"] and "metadata" not in plain[1]
    tagged = client.conversations_replies(channel="CHANDOFF", ts=parent, include_all_metadata=True)["messages"]
    assert tagged[1]["metadata"] == {"event_type": "handover_post", "event_payload": {"key": "k1"}}
    tops = client.conversations_history(channel="CHANDOFF", include_all_metadata=True)["messages"]
    assert [m["text"] for m in tops] == ["parent"]
