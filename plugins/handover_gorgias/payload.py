"""The HTTP integration's body: what set-up asks Gorgias to send, and reading it strictly.

The body only says which ticket to look at (and lets obvious non-events through without
a call back): the worker reads the ticket and its messages through the API and acts on
what it reads there.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

from handover_gorgias.verify import BadField
from handover_gorgias.verify import optional_bool
from handover_gorgias.verify import optional_int
from handover_gorgias.verify import optional_str
from handover_gorgias.verify import required_int
from handover_gorgias.verify import tag_names

TRIGGERS = ("ticket-message-created", "ticket-updated")
GIVE_BACK_TAG = "give_back_to_ai"
#: the prefix of the ``external_id`` of every message the connector creates
OUR_PREFIX = "handover:"

#: the integration's ``http.form``: ids and flags only, never message text
FORM: dict[str, t.Any] = {
    "event": {"id": "{{event.id}}", "type": "{{event.type}}"},
    "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status": "{{ticket.status}}",
               "tags": "{{ticket.tags|tojson}}", "updated_datetime": "{{ticket.updated_datetime}}"},
    "message": {"id": "{{message.id}}", "from_agent": "{{message.from_agent}}", "public": "{{message.public}}",
                "channel": "{{message.channel}}", "via": "{{message.via}}",
                "external_id": "{{message.external_id}}", "rule_id": "{{message.rule_id}}"},
}


@dataclasses.dataclass(frozen=True)
class Webhook:
    event_id: int | None
    event_type: str
    ticket_id: int
    status: str | None
    tags: list[str] | None
    updated: str | None
    message_id: int | None = None
    from_agent: bool | None = None
    public: bool | None = None
    channel: str | None = None
    via: str | None = None
    message_external_id: str | None = None
    rule_id: int | None = None

    @property
    def dedupe_id(self) -> str:
        """One receipt per Gorgias event (a redelivery is a duplicate)."""
        if self.event_id is not None:
            return f"event:{self.event_id}"
        if self.message_id is not None:
            return f"message:{self.message_id}"
        return f"{self.event_type}:{self.ticket_id}:{self.updated or ''}:{self.status}:{','.join(self.tags or [])}"

    def ignorable(self) -> str | None:
        """Why this call needs no work at all, going by the body; None when the ticket must be read."""
        if self.event_type == "ticket-message-created":
            if self.from_agent is False:
                return "a customer message"
            if self.public is False or self.channel == "internal-note":
                return "an internal note"
            if self.via == "rule" or self.rule_id is not None:
                return "a rule's message"
            if (self.message_external_id or "").startswith(OUR_PREFIX):
                return "our own message"
            return None
        if self.status == "open" and self.tags is not None and GIVE_BACK_TAG not in {t.lower() for t in self.tags}:
            return "nothing to act on"
        return None

    def task(self) -> dict[str, t.Any]:
        return {"kind": "webhook", "ticket_id": self.ticket_id, "event": self.event_type,
                "message_id": self.message_id}


def _object(body: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    value = body.get(name)
    if value is None:
        return {}
    if isinstance(value, str):  # "{{context}}"-style or a stringified object
        try:
            value = json.loads(value)
        except ValueError:
            raise BadField(name, f"{name} must be an object") from None
    if not isinstance(value, dict):
        raise BadField(name, f"{name} must be an object")
    return value


def parse(raw: bytes) -> Webhook:
    """The integration's body, read strictly.

    :raises BadField: not JSON, an unknown event type, a missing ticket id, or a value that
        is not what its field must be (``"False"`` is false; ``"maybe"`` is an error).
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadField("body", "the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadField("body", "the body must be a JSON object")
    event, ticket, message = _object(body, "event"), _object(body, "ticket"), _object(body, "message")
    event_type = optional_str(event.get("type"), "event.type")
    if event_type not in TRIGGERS:
        raise BadField("event.type", f"event.type must be one of {', '.join(TRIGGERS)}")
    status = optional_str(ticket.get("status"), "ticket.status")
    if status not in (None, "open", "closed"):
        raise BadField("ticket.status", "ticket.status must be open or closed")
    webhook = Webhook(
        event_id=optional_int(event.get("id"), "event.id"), event_type=event_type,
        ticket_id=required_int(ticket.get("id"), "ticket.id"), status=status,
        tags=tag_names(ticket.get("tags"), "ticket.tags"),
        updated=optional_str(ticket.get("updated_datetime"), "ticket.updated_datetime"),
    )
    if event_type != "ticket-message-created":
        return webhook
    return dataclasses.replace(
        webhook, message_id=required_int(message.get("id"), "message.id"),
        from_agent=optional_bool(message.get("from_agent"), "message.from_agent"),
        public=optional_bool(message.get("public"), "message.public"),
        channel=optional_str(message.get("channel"), "message.channel"),
        via=optional_str(message.get("via"), "message.via"),
        message_external_id=optional_str(message.get("external_id"), "message.external_id"),
        rule_id=optional_int(message.get("rule_id"), "message.rule_id"),
    )
