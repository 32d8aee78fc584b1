"""The Gorgias integration: a native ticket per handover, worked from the Gorgias ticket view.

Outbound (delivery worker): the shopper as the customer (found or created by e-mail;
without one, by name and our shopper id), one ticket on the API channel looked up by
``external_id`` before it is created, with the transcript as imported messages
(``sent_datetime`` set, so Gorgias sends none of them) and a note saying why and how to
work it; later shopper messages as imported customer messages; whatever happens
elsewhere as internal notes; resolve closes the ticket, a reopened conversation opens it.

Inbound (:mod:`handover_gorgias.hooks`, then :meth:`GorgiasIntegration.run_task`): the
worker reads the ticket and its messages through the API: agents' public messages
(not notes, not rules', not ours) become human replies, once per message id; a closed
ticket resolves; the tag ``give_back_to_ai`` gives back and is removed.
"""

from __future__ import annotations

import typing as t

import requests
from pydantic import BaseModel

from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Health
from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import Refusal
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins import text
from connector.plugins.webhooks import UrlTokens

from handover_gorgias import render
from handover_gorgias import setup
from handover_gorgias.client import PAGE_SIZE
from handover_gorgias.client import GorgiasClient
from handover_gorgias.client import NotFound
from handover_gorgias.payload import GIVE_BACK_TAG
from handover_gorgias.payload import OUR_PREFIX
from handover_gorgias.settings import GorgiasSettings
from handover_gorgias.verify import SALT
from handover_gorgias.verify import token_matches

NAME = "gorgias"
#: Gorgias takes 1 to 500 messages with a new ticket: the transcript's oldest beyond these
#: are folded into one note
TRANSCRIPT_MESSAGES = 498
STATUS_EVENTS = {"resolved", "reopened", "handed_over"}


class GorgiasIntegration(Integration):
    name = NAME
    title = "Gorgias"
    settings_model = GorgiasSettings

    def __init__(self) -> None:
        self.host: Host | None = None

    def bind(self, host: Host) -> None:
        self.host = host

    def blueprint(self, host: Host) -> t.Any:
        from handover_gorgias.hooks import blueprint

        return blueprint(self, host)

    # -- the hook URL --------------------------------------------------------------------

    @property
    def tokens(self) -> UrlTokens:
        if self.host is None:
            raise RuntimeError("the Gorgias plugin is not bound to the connector yet")
        return t.cast(UrlTokens, self.host.url_tokens(SALT))

    def workspace_for_token(self, token: str) -> t.Any:
        """The workspace whose current hook token this is, or None (bad, unknown or rotated)."""
        assert self.host is not None
        claims = self.tokens.loads(token)
        if claims is None:
            return None
        for key, settings in self.host.settings(NAME).all(refresh=True):
            settings = t.cast(GorgiasSettings, settings)
            if token_matches(claims, settings.workspace_id, settings.token_nonce):
                return key
        return None

    # -- set-up ------------------------------------------------------------------------------

    def check(self, settings: BaseModel, http: requests.Session, timeout: float) -> Health:
        client = GorgiasClient(t.cast(GorgiasSettings, settings), http, timeout, pace=False)
        return setup.check(client, self.tokens, self._base_url())

    def configure(self, workspace_id: str, settings: BaseModel, http: requests.Session, timeout: float,
                  base_url: str) -> dict[str, t.Any]:
        client = GorgiasClient(t.cast(GorgiasSettings, settings), http, timeout, pace=False)
        return setup.configure(client, self.tokens, workspace_id, base_url)

    def unconfigure(self, settings: BaseModel, http: requests.Session, timeout: float) -> None:
        setup.unconfigure(GorgiasClient(t.cast(GorgiasSettings, settings), http, timeout, pace=False))

    def manifests(self, base_url: str) -> dict[str, bytes]:
        return {"gorgias/setup.md": setup.manifest(base_url)}

    def _base_url(self) -> str:
        return self.host.base_url if self.host is not None else ""

    # -- outbound ------------------------------------------------------------------------

    @staticmethod
    def _client(ctx: DeliveryContext) -> GorgiasClient:
        return GorgiasClient(t.cast(GorgiasSettings, ctx.settings), ctx.http, ctx.timeout)

    def open_thread(self, ctx: DeliveryContext, conversation: dict[str, t.Any], transcript: list[dict[str, t.Any]],
                    events: list[dict[str, t.Any]]) -> ThreadRef:
        client = self._client(ctx)
        found = client.get("/tickets", "find the ticket", external_id=conversation["id"], limit=1).get("data") or []
        if found:  # a create that was retried, or a ticket made before
            return ThreadRef(str(found[0]["id"]), data={"customer_id": (found[0].get("customer") or {}).get("id")})
        customer_id = self._customer(client, conversation)
        settings = t.cast(GorgiasSettings, ctx.settings)
        shopper = conversation.get("shopper") or {}
        earlier, recent = transcript[:-TRANSCRIPT_MESSAGES], transcript[-TRANSCRIPT_MESSAGES:]
        messages = [_note(settings, render.earlier_note(earlier, shopper), f"{conversation['id']}:earlier",
                          earlier[0].get("created_at"))] if earlier else []
        messages += [_message(settings, customer_id, m, shopper) for m in recent]
        messages.append(_note(settings, render.handover_note(conversation, events, ctx.base_url),
                              f"{conversation['id']}:handover"))
        ticket = client.post("/tickets", "create the ticket", {
            "customer": {"id": customer_id}, "channel": "api", "via": "api", "from_agent": False,
            "external_id": conversation["id"], "subject": text.subject(conversation, events), "status": "open",
            "tags": [{"name": tag} for tag in text.handover_tags(events)], "messages": messages,
        })
        return ThreadRef(str(ticket["id"]), data={"customer_id": customer_id})

    def _customer(self, client: GorgiasClient, conversation: dict[str, t.Any]) -> int:
        """The shopper's customer: by e-mail, else by name and our shopper id; created if missing.

        A create refused for the e-mail address (made meanwhile by another worker, or an
        address Gorgias does not take) looks the address up again, then goes without it.
        """
        shopper = conversation.get("shopper") or {}
        email = (shopper.get("email") or "").strip().lower()
        if email:
            found = client.get("/customers", "find the customer", email=email, limit=1).get("data") or []
            if found:
                return int(found[0]["id"])
            body = {"name": shopper.get("name") or email, "email": email, "external_id": f"handover-shopper:{email}",
                    "channels": [{"type": "email", "address": email, "preferred": True}]}
            try:
                return int(client.post("/customers", "create the customer", body)["id"])
            except NotFound:
                raise
            except GiveUp:
                found = client.get("/customers", "find the customer", email=email, limit=1).get("data") or []
                if found:
                    return int(found[0]["id"])
        ours = f"handover-shopper:{conversation['id']}"
        name = shopper.get("name") or f"Shopper ({conversation['id']})"
        found = [c for c in client.list("/customers", "find the customer", name=name) if c.get("external_id") == ours]
        if found:
            return int(found[0]["id"])
        return int(client.post("/customers", "create the customer", {"name": name, "external_id": ours,
                                                                     "channels": []})["id"])

    def _customer_of(self, client: GorgiasClient, thread: ThreadRef) -> int:
        if thread.data.get("customer_id"):
            return int(thread.data["customer_id"])
        ticket = client.get(f"/tickets/{thread.external_id}", "the ticket")
        return int(ticket["customer"]["id"])

    def mirror_message(self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any],
                       message: dict[str, t.Any]) -> str | None:
        client = self._client(ctx)
        settings = t.cast(GorgiasSettings, ctx.settings)
        if message["author"] == "shopper":
            body = _message(settings, self._customer_of(client, thread), message, conversation.get("shopper") or {})
        else:
            body = _note(settings, render.labelled_body(message, conversation.get("shopper") or {}), message["id"])
        created = client.post(f"/tickets/{thread.external_id}/messages", "add the message", body)
        return str(created["id"])

    def mirror_state(self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any],
                     events: list[dict[str, t.Any]]) -> TaskResult | None:
        client = self._client(ctx)
        settings = t.cast(GorgiasSettings, ctx.settings)
        path = f"/tickets/{thread.external_id}"
        reopening = conversation["status"] == "open" and any(e["type"] in STATUS_EVENTS for e in events)
        if reopening:  # before the note, so the note lands on an open ticket
            client.put(path, "reopen the ticket", {"status": "open"})
        note = render.state_note(events)
        if note is not None:
            client.post(f"{path}/messages", "add a note", _note(settings, note, f"state:{events[-1]['id']}"))
        scenario_tags = [tag for tag in text.handover_tags([e for e in events if e["type"] == "handed_over"])[1:]]
        if scenario_tags:
            client.post(f"{path}/tags", "tag the ticket", {"names": scenario_tags})
        if conversation["status"] == "resolved" and any(e["type"] == "resolved" for e in events):
            client.put(path, "close the ticket", {"status": "closed"})
        return None

    def tell_agent(self, ctx: DeliveryContext, thread: ThreadRef | None, agent: dict[str, t.Any],
                   refusal: Refusal) -> None:
        ticket_id = (thread.external_id if thread is not None else None) or agent.get("ticket_id")
        if not ticket_id:
            return
        settings = t.cast(GorgiasSettings, ctx.settings)
        note = render.refusal_note(refusal.code, refusal.text, refusal.event.action == "message")
        self._client(ctx).post(f"/tickets/{ticket_id}/messages", "add a note",
                               _note(settings, note, f"refusal:{refusal.event.event_id}"))

    # -- inbound, in the worker ----------------------------------------------------------

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> TaskResult | None:
        if thread is None:
            raise RetryLater("the ticket is not linked yet")
        if task.get("kind") != "webhook":
            raise GiveUp(f"unknown Gorgias task {task.get('kind')!r}")
        client = self._client(ctx)
        ticket_id = thread.external_id
        ticket = client.get(f"/tickets/{ticket_id}", "read the ticket")
        # the newest page is enough: older agent messages were relayed by earlier calls (by id, once)
        newest = client.get(f"/tickets/{ticket_id}/messages", "read the messages", order_by="created_datetime:desc",
                            limit=PAGE_SIZE).get("data") or []
        messages = list(reversed(newest))
        events = [_reply_event(ticket_id, m) for m in messages if relayable(m)]
        view = ctx.conversation()
        tags = {(tag.get("name") or "").lower() for tag in ticket.get("tags") or []}
        if GIVE_BACK_TAG in tags:
            client.delete(f"/tickets/{ticket_id}/tags", "remove the give_back_to_ai tag", {"names": [GIVE_BACK_TAG]})
            if events or view is None or (view.controller == "human" and view.status == "open"):
                events.append(InboundEvent(plugin=NAME, event_id=f"give_back:{ticket_id}:{ticket.get('updated_datetime')}",
                                           thread_id=ticket_id, action="give_back", reason="tag give_back_to_ai in Gorgias",
                                           actor_name=_assignee(ticket)))
        if ticket.get("status") == "closed" and (events or view is None or view.status != "resolved"):
            events.append(InboundEvent(plugin=NAME, event_id=f"closed:{ticket_id}:{ticket.get('closed_datetime')}",
                                       thread_id=ticket_id, action="resolve", reason="ticket closed in Gorgias",
                                       actor_name=_assignee(ticket)))
        return TaskResult(events=tuple(events))


def relayable(message: dict[str, t.Any]) -> bool:
    """A public message by an agent: not an internal note, not a rule's, not one we created."""
    return (message.get("from_agent") is True and message.get("public") is True
            and message.get("channel") != "internal-note" and message.get("via") != "rule"
            and not message.get("rule_id") and not (message.get("external_id") or "").startswith(OUR_PREFIX)
            and message.get("deleted_datetime") is None)


def _reply_event(ticket_id: str, message: dict[str, t.Any]) -> InboundEvent:
    sender = message.get("sender") or {}
    name = sender.get("name") or " ".join(x for x in (sender.get("firstname"), sender.get("lastname")) if x) \
        or sender.get("email") or "Agent"
    body = message.get("stripped_text") or message.get("body_text") or text.html_to_text(message.get("body_html") or "")
    attachments = tuple({"url": a["url"], "name": a.get("name") or "attachment",
                         "content_type": a.get("content_type") or "application/octet-stream"}
                        for a in message.get("attachments") or [] if str(a.get("url") or "").startswith("https://"))
    return InboundEvent(plugin=NAME, event_id=f"message:{message['id']}", thread_id=ticket_id, action="message",
                        actor_name=name, text=body.strip(), attachments=attachments,
                        external_message_id=str(message["id"]), take_over=True, reason="replied in Gorgias",
                        agent={"ticket_id": ticket_id, "user_id": sender.get("id"), "name": name})


def _assignee(ticket: dict[str, t.Any]) -> str | None:
    assignee = ticket.get("assignee_user") or {}
    return assignee.get("name") or assignee.get("email")


def _message(settings: GorgiasSettings, customer_id: int, message: dict[str, t.Any],
             shopper: dict[str, t.Any]) -> dict[str, t.Any]:
    """A transcript or later message, imported (``sent_datetime``), under its author."""
    at = message.get("created_at")
    common = {"channel": "api", "via": "api", "external_id": f"{OUR_PREFIX}{message['id']}", "sent_datetime": at,
              "created_datetime": at}
    if message["author"] == "shopper":
        return {**common, "from_agent": False, "sender": {"id": customer_id}, **render.customer_body(message)}
    return {**common, "from_agent": True, "sender": {"email": str(settings.email)},
            **render.labelled_body(message, shopper)}


def _note(settings: GorgiasSettings, body: dict[str, str], key: str, at: str | None = None) -> dict[str, t.Any]:
    """An internal note by the API user (never sent)."""
    note = {"channel": "internal-note", "via": "api", "from_agent": True, "public": False,
            "sender": {"email": str(settings.email)}, "external_id": f"{OUR_PREFIX}{key}"[:255], **body}
    if at:
        note["created_datetime"] = at
    return note
