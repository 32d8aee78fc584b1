"""``POST /hooks/gorgias/<token>``: the HTTP integration's calls.

The token is checked before the body is read (401 otherwise, for an unknown workspace
and a rotated token too). The body is then read strictly (400 naming the field); calls
that need no work (customer messages, internal notes, rules' and our own messages, updates
that neither close nor carry the give-back tag) are acknowledged as ignored; the rest is
stored as a task and acknowledged at once, and the worker reads the ticket back.
"""

from __future__ import annotations

import logging
import typing as t

from flask import Blueprint
from flask import jsonify
from flask import request

from connector.plugins import Host
from connector.plugins import webhooks

from handover_gorgias.payload import GIVE_BACK_TAG
from handover_gorgias.payload import parse
from handover_gorgias.verify import BadField

if t.TYPE_CHECKING:
    from handover_gorgias.plugin import GorgiasIntegration

log = logging.getLogger(__name__)
NAME = "gorgias"


def blueprint(plugin: GorgiasIntegration, host: Host) -> Blueprint:
    hooks = Blueprint(NAME, __name__)

    @hooks.post("/")
    def no_token() -> t.Any:
        return webhooks.error(401, "unauthorized", "the Gorgias hook URL needs its token")

    @hooks.post("/<token>")
    def call(token: str) -> t.Any:
        workspace = plugin.workspace_for_token(token)
        if workspace is None:
            log.info("gorgias hook refused", extra={"action": "gorgias_hook_refused"})
            return webhooks.error(401, "unauthorized", "unknown or revoked Gorgias hook URL")
        try:
            webhook = parse(request.get_data(cache=False))
        except BadField as exc:
            return webhooks.error(400, "invalid_field", exc.message, exc.field)
        reason = webhook.ignorable()
        if reason is None and webhook.event_type == "ticket-updated" and webhook.status == "closed" \
                and webhook.tags is not None and GIVE_BACK_TAG not in {tag.lower() for tag in webhook.tags}:
            view = host.conversation(NAME, str(webhook.ticket_id), [workspace])
            if view is not None and view.status == "resolved":
                reason = "already resolved"
        if reason is not None:
            return jsonify({"ok": True, "outcome": "ignored", "reason": reason})
        result = host.defer(plugin=NAME, event_id=webhook.dedupe_id, thread_id=str(webhook.ticket_id),
                            task=webhook.task(), workspaces=[workspace])
        return jsonify({"ok": True, "outcome": result.outcome})

    return hooks
