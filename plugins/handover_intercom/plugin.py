"""The Intercom integration: one Intercom conversation per handed-over conversation.

Outbound (the delivery worker):

* :meth:`IntercomIntegration.open_thread` finds the shopper's contact by ``external_id`` (our
  conversation id: ``GET /contacts/find_by_external_id``, a direct read that does not lag
  like search) or creates it (name only; the e-mail address goes into ``shopper_email``),
  creates the conversation from it, and returns at once: nothing after the one call that is
  not idempotent at Intercom, so a retry never meets a conversation it made. The contact's
  id is kept in the thread's data (our mapping); the rest is follow-up tasks, each
  idempotent or one call: the custom attribute ``handover_conversation_id`` and the tags,
  then the transcript as notes.
* later shopper messages are replies from the contact; anything else (the AI, an agent
  elsewhere, state changes) is an admin note; resolved closes; reopened or handed over
  again opens. Every call returns the id of the part it made, so echoes are recognised.

Inbound (:mod:`handover_intercom.hooks`): notifications are checked, persisted with
``host.defer`` and translated here in :meth:`run_task` (:mod:`handover_intercom.events`).
"""

from __future__ import annotations

import threading
import typing as t

import cachetools
from intercom.core.api_error import ApiError

from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Health
from connector.plugins import Host
from connector.plugins import Integration
from connector.plugins import Refusal
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins import text
from handover_intercom import events as notifications
from handover_intercom import render
from handover_intercom import sdk
from handover_intercom import setup
from handover_intercom.client import calling
from handover_intercom.client import intercom_client
from handover_intercom.client import outcome
from handover_intercom.settings import IntercomSettings

NAME = notifications.NAME


def _last_part(conversation: t.Any, part_type: str | None = None) -> str | None:
    """The id of the newest part (of ``part_type``) in an answer's conversation."""
    parts = getattr(getattr(conversation, "conversation_parts", None), "conversation_parts", None) or []
    for part in reversed(parts):
        if part_type is None or part.part_type == part_type:
            return str(part.id)
    return None


class IntercomIntegration(Integration):
    name = NAME
    title = "Intercom"
    settings_model = IntercomSettings

    def __init__(self) -> None:
        self.host: Host | None = None
        self._names = text.NameCache()
        self._tags: cachetools.TTLCache[tuple[str, str], str] = cachetools.TTLCache(maxsize=1024, ttl=3600)
        self._tags_lock = threading.Lock()

    def bind(self, host: Host) -> None:
        self.host = host

    def blueprint(self, host: Host) -> t.Any:
        from handover_intercom.hooks import blueprint

        return blueprint(host)

    def check(self, settings, http, timeout) -> Health:
        return setup.check(t.cast(IntercomSettings, settings), timeout)

    def configure(self, workspace_id, settings, http, timeout, base_url) -> dict[str, t.Any]:
        return setup.configure(t.cast(IntercomSettings, settings), timeout)

    def manifests(self, base_url: str) -> dict[str, bytes]:
        from handover_intercom.manifest import manifests

        return manifests(base_url)

    # -- outbound ----------------------------------------------------------------------------

    def open_thread(self, ctx, conversation, transcript, events) -> ThreadRef:
        settings = t.cast(IntercomSettings, ctx.settings)
        ic = intercom_client(settings, ctx.timeout)
        contact_id, existed = self._contact(ic, conversation)
        tasks = [{"kind": "setup", "conversation_id": conversation["id"], "tags": text.handover_tags(events)}]
        tasks += [{"kind": "note", "html": note}
                  for note in render.transcript_notes(conversation, transcript, events, ctx.base_url)]
        if existed:  # an earlier attempt got this far: it may have made the conversation before it failed
            made = self._conversation_of(ic, contact_id)
            if made:
                return ThreadRef(made, {"contact_id": contact_id}, tasks=tuple(tasks))
        with calling("create conversation"):
            message = ic.conversations.create(
                from_=sdk.CreateConversationRequestFrom(type="user", id=contact_id),
                body=render.opening_text(conversation, transcript, events))
        if not message.conversation_id:
            raise GiveUp("create conversation: Intercom answered without a conversation id")
        return ThreadRef(str(message.conversation_id), {"contact_id": contact_id}, tasks=tuple(tasks))

    def _contact(self, ic: t.Any, conversation: dict[str, t.Any]) -> tuple[str, bool]:
        """The shopper's contact (a user whose external_id is our conversation id), found or created;
        and whether it was there already."""
        external_id = conversation["id"]
        found = self._find_contact(ic, external_id)
        if found:
            return found, True
        shopper = conversation.get("shopper") or {}
        attributes = {setup.CONTACT_EMAIL_ATTRIBUTE: shopper["email"]} if shopper.get("email") else None
        request = sdk.CreateContactRequestWithExternalId(
            external_id=external_id, name=shopper.get("name") or "Shopper", custom_attributes=attributes)
        try:
            return str(ic.contacts.create(request=request).id), False
        except ApiError as exc:
            if exc.status_code != 409:
                raise outcome(exc, "create contact") from None
        # made meanwhile (a retry whose first answer was lost): it is there now
        found = self._find_contact(ic, external_id)
        if not found:
            raise RetryLater("create contact: Intercom reports a conflict but finds no contact yet")
        return found, True

    @staticmethod
    def _conversation_of(ic: t.Any, contact_id: str) -> str | None:
        """A conversation of this contact among the newest 150 (a list, not the lagging search).

        The contact exists for this one handed-over conversation, so any conversation it
        started is the one an earlier attempt made (and whose answer was lost).
        """
        with calling("list conversations"):
            page = ic.conversations.list(per_page=150)
        for item in page.items or []:
            contacts = getattr(getattr(item, "contacts", None), "contacts", None) or []
            if any(str(c.id) == contact_id for c in contacts):
                return str(item.id)
        return None

    @staticmethod
    def _find_contact(ic: t.Any, external_id: str) -> str | None:
        try:
            with calling("find contact"):
                return str(ic.contacts.show_contact_by_external_id(external_id).id)
        except GiveUp:
            return None  # 404: no such user yet

    def mirror_message(self, ctx, thread, conversation, message) -> str | None:
        settings = t.cast(IntercomSettings, ctx.settings)
        ic = intercom_client(settings, ctx.timeout)
        if message["author"] == "shopper" and thread.data.get("contact_id"):
            request: t.Any = sdk.ContactReplyIntercomUserIdRequest(
                intercom_user_id=thread.data["contact_id"], body=render.shopper_reply(message))
            with calling("reply as the contact"):
                answer = ic.conversations.reply(thread.external_id, request=request)
            return _last_part(answer, "comment")
        return self._note(ic, settings, thread, render.message_note(message, conversation))

    def mirror_state(self, ctx, thread, conversation, events) -> TaskResult | None:
        settings = t.cast(IntercomSettings, ctx.settings)
        ic = intercom_client(settings, ctx.timeout)
        kinds = {e["type"] for e in events}
        ref = None
        if conversation["status"] == "open" and kinds & {"reopened", "handed_over"}:
            try:
                with calling("open conversation"):
                    ic.conversations.manage(thread.external_id,
                                            request=sdk.ConversationsManageRequestBody_Open(admin_id=settings.admin_id))
            except GiveUp:
                pass  # open already (a contact's reply reopens a closed conversation by itself)
            if "handed_over" in kinds:
                self._tag(ic, settings, thread, text.handover_tags(events))
        note = render.state_note(events)
        if note:
            ref = self._note(ic, settings, thread, note)
        if conversation["status"] == "resolved" and "resolved" in kinds:
            with calling("close conversation"):
                answer = ic.conversations.manage(thread.external_id,
                                                 request=sdk.ConversationsManageRequestBody_Close(admin_id=settings.admin_id))
            ref = _last_part(answer, "close") or ref
        return TaskResult(external_ref=ref) if ref else None

    def _note(self, ic: t.Any, settings: IntercomSettings, thread: ThreadRef, html_body: str) -> str | None:
        request = sdk.AdminReplyConversationRequest(message_type="note", type="admin", admin_id=settings.admin_id,
                                                body=html_body)
        with calling("add note"):
            answer = ic.conversations.reply(thread.external_id, request=request)
        return _last_part(answer, "note")

    def _tag_id(self, ic: t.Any, settings: IntercomSettings, name: str) -> str:
        key = (settings.base_url + settings.access_token.get_secret_value(), name)
        with self._tags_lock:
            known = self._tags.get(key)
        if known:
            return known
        with calling(f"create tag {name}"):
            tag = ic.tags.create(request=sdk.CreateOrUpdateTagRequest(name=name))  # create or find by name
        with self._tags_lock:
            self._tags[key] = str(tag.id)
        return str(tag.id)

    def _tag(self, ic: t.Any, settings: IntercomSettings, thread: ThreadRef, names: list[str]) -> None:
        for name in names:
            tag_id = self._tag_id(ic, settings, name)
            with calling(f"tag conversation {name}"):
                ic.tags.tag_conversation(thread.external_id, tag_id=tag_id, admin_id=settings.admin_id)

    # -- follow-up tasks and inbound notifications ------------------------------------------

    def run_task(self, ctx, thread, task) -> TaskResult | None:
        if thread is None:
            raise RetryLater("the Intercom conversation is not linked yet")
        settings = t.cast(IntercomSettings, ctx.settings)
        ic = intercom_client(settings, ctx.timeout)
        kind = task.get("kind")
        if kind == "setup":
            with calling("set handover_conversation_id"):
                ic.conversations.update(thread.external_id,
                                        custom_attributes={setup.CONVERSATION_ATTRIBUTE: task["conversation_id"]})
            self._tag(ic, settings, thread, task.get("tags") or [])
            return None
        if kind == "close":  # resolved from the inbox app: close the Intercom conversation too
            view = ctx.conversation()
            if view is not None and view.status != "resolved":
                return None  # reopened meanwhile
            with calling("close conversation"):
                answer = ic.conversations.manage(thread.external_id,
                                                 request=sdk.ConversationsManageRequestBody_Close(admin_id=settings.admin_id))
            return TaskResult(external_ref=_last_part(answer, "close"))
        if kind == "note":
            return TaskResult(external_ref=self._note(ic, settings, thread, task["html"]))
        if kind == "notification":
            if task.get("topic") == "conversation_part.tag.created":
                self._untag(ic, settings, thread, task["tag"]["id"])
            found = notifications.translate(task, thread.external_id, task.get("notification_id") or "",
                                            lambda admin_id: self._admin_name(ic, settings, admin_id))
            return TaskResult(events=tuple(found))
        raise GiveUp(f"unknown Intercom task {kind!r}")

    def _untag(self, ic: t.Any, settings: IntercomSettings, thread: ThreadRef, tag_id: str) -> None:
        try:
            with calling(f"remove the tag {render.GIVE_BACK_TAG}"):
                ic.tags.untag_conversation(thread.external_id, tag_id, admin_id=settings.admin_id)
        except GiveUp:
            pass  # already removed (by a teammate, or by our first try whose answer was lost)

    def _admin_name(self, ic: t.Any, settings: IntercomSettings, admin_id: str | None) -> str | None:
        if not admin_id or not str(admin_id).isdigit():
            return None

        def load() -> str | None:
            try:
                with calling("find admin"):
                    admin = ic.admins.find(int(admin_id))
            except GiveUp:
                return None
            return admin.name if admin is not None else None

        return self._names.get((settings.base_url, str(admin_id)), load)

    def tell_agent(self, ctx: DeliveryContext, thread: ThreadRef | None, agent: dict[str, t.Any],
                   refusal: Refusal) -> None:
        if thread is None:
            return
        settings = t.cast(IntercomSettings, ctx.settings)
        ic = intercom_client(settings, ctx.timeout)
        self._note(ic, settings, thread, render.refused_note(refusal.text, refusal.event.action == "message"))


__all__ = ["IntercomIntegration", "NAME"]
