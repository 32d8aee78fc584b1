"""Posting into Slack at most once, even when Slack applied a post whose answer was lost.

Every post the worker makes is tagged, in Slack message metadata, with a key made of the
delivery's idempotency key and the part. The delivery's progress records the key before the
call ("sending") and the ts after it ("posted"). A later attempt skips what was posted, and
looks for what was being sent when the answer was lost (a timeout, a reset connection): in
the thread (``conversations.replies``) or, for a thread's parent, in the channel's recent
messages (``conversations.history``), both with ``include_all_metadata``. Only when the key
is not there is it posted again. These reads happen only after such a loss, never on the
way of a normal post (the history methods have low rate limits).
"""

from __future__ import annotations

import time
import typing as t

from connector.plugins import DeliveryContext

from handover_slack.client import ChannelPacer
from handover_slack.client import calling_slack

EVENT_TYPE = "handover_post"
#: how far back a parent is looked for: the post went out at most this long before it was recorded
HISTORY_MARGIN = 300.0
PAGES = 5


def post_once(ctx: DeliveryContext, client: t.Any, pacer: ChannelPacer, key: str, *, channel: str,
              thread_ts: str | None = None, opening: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
    """``chat.postMessage`` tagged with ``key``; its ``{"channel", "ts"}``, posted now or by an earlier attempt.

    Paced by ``pacer`` (a thread's parent post, ``opening``, ahead of the channel's queue)
    before it is recorded as being sent: a post deferred to its turn was never sent.
    """
    posted: dict[str, t.Any] = dict(ctx.progress.get("posted") or {})
    if key in posted:
        return posted[key]
    sending = ctx.progress.get("sending") or {}
    if key in sending:  # an earlier attempt sent it and never heard back: did Slack apply it?
        found = find_posted(client, channel, thread_ts, key, float(sending[key]) - HISTORY_MARGIN)
        if found is not None:
            posted[key] = {"channel": channel, "ts": found}
            ctx.record_progress({"posted": posted, "sending": {}})
            return posted[key]
    pacer.admit(channel, key, opening=opening)  # or Defer to its turn
    ctx.record_progress({"sending": {key: f"{time.time():.6f}"}})
    with calling_slack("chat.postMessage"):
        answer = client.chat_postMessage(channel=channel, thread_ts=thread_ts, **kwargs,
                                         metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}})
    posted[key] = {"channel": answer["channel"], "ts": answer["ts"]}
    ctx.record_progress({"posted": posted, "sending": {}})
    return posted[key]


def find_posted(client: t.Any, channel: str, thread_ts: str | None, key: str, since: float) -> str | None:
    """The ts of our post tagged ``key``: in the thread of ``thread_ts``, or among the channel's messages since ``since``."""
    cursor = None
    for _ in range(PAGES):
        if thread_ts:
            with calling_slack("conversations.replies"):
                page = client.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True,
                                                    limit=200, cursor=cursor)
        else:
            with calling_slack("conversations.history"):
                page = client.conversations_history(channel=channel, oldest=f"{max(0.0, since):.6f}",
                                                    include_all_metadata=True, limit=200, cursor=cursor)
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_type") == EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("key") == key):
                return message["ts"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None
