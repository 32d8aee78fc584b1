"""The Zendesk integration: a native ticket per handover, agents act from the ticket.

Set-up (``connector integration set WORKSPACE zendesk ...``) creates, through the API and
idempotently, a signed webhook to ``/hooks/zendesk/webhook`` and three triggers: an
agent's public comment, the solved status and the ``give_back_to_ai`` tag on tickets
tagged ``ai_handover``. The triggers skip updates made through the API (via id 5), so our
own comments never come back.

Outbound (delivery worker): the shopper as an end user, the ticket with the transcript
as a private note, later shopper messages as public comments by the requester (batched),
changes made elsewhere as internal notes, resolve as solved, a follow-up for a closed
ticket. Inbound (:mod:`handover_zendesk.hooks`): the webhook is verified and persisted
as a task; the worker then reads the ticket's comments through the API instead of
trusting text in the webhook, and translates each new agent comment into an event the
core applies once.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import requests
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr
from pydantic import model_validator
from zenpy.lib.api_objects import Comment
from zenpy.lib.api_objects import Ticket
from zenpy.lib.api_objects import Trigger
from zenpy.lib.api_objects import User
from zenpy.lib.api_objects import Webhook

from connector.plugins import Defer
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Health
from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import IntegrationBroken
from connector.plugins import Refusal
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins import text

from handover_zendesk import app_bundle
from handover_zendesk import once
from handover_zendesk import render
from handover_zendesk.client import calling_zendesk
from handover_zendesk.client import zendesk_client
from handover_zendesk.render import GIVE_BACK_TAG

NAME = "zendesk"
HANDOVER_TAG = "ai_handover"
API_VIA_ID = "5"  # web_service: what we write through the API
WINDOW = dt.timedelta(minutes=10)


class ZendeskSettings(BaseModel):
    """``connector integration set WORKSPACE zendesk ...``"""

    model_config = ConfigDict(extra="forbid")

    #: acme for acme.zendesk.com
    subdomain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    #: an agent's or admin's e-mail, with an API token (Admin Center > Apps and integrations > APIs)
    email: str | None = None
    api_token: SecretStr | None = None
    #: or an OAuth access token
    oauth_token: SecretStr | None = None
    #: the API's scheme and host, for regional hosts, proxies and tests
    api_base_url: str | None = None
    #: overrides the webhook signing secret read from Zendesk at set-up
    webhook_secret: SecretStr | None = None
    #: the sidebar app's shared secret (its "Shared secret" setting): signs its requests
    app_secret: SecretStr | None = Field(default=None, min_length=32)
    #: filled in by set-up
    webhook_id: str | None = None
    webhook_signing_secret: SecretStr | None = None
    trigger_ids: list[str] = Field(default_factory=list)
    bot_user_id: int | None = None
    #: our updates per ticket in any 10 minutes (Zendesk allows 30 per user and ticket);
    #: past it, messages wait and then go as one comment. 0: no limit
    updates_per_ten_minutes: int = Field(default=25, ge=0)

    @model_validator(mode="after")
    def _credentials(self) -> "ZendeskSettings":
        if self.oauth_token is None and not (self.email and self.api_token is not None):
            raise ValueError("set email and api_token, or oauth_token")
        return self

    def signing_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.webhook_secret, self.webhook_signing_secret) if s is not None]


def webhook_body(kind: str) -> str:
    """What the triggers send: ids only, never comment text (which breaks hand-written JSON)."""
    return ('{"kind":"%s","ticket_id":"{{ticket.id}}","external_id":"{{ticket.external_id}}",'
            '"status":"{{ticket.status}}","actor_id":"{{current_user.id}}","actor_role":"{{current_user.role}}"}' % kind)


def trigger_definitions(webhook_id: str) -> list[dict[str, t.Any]]:
    """The three triggers set-up creates; each fires only on tickets we opened, never on our own updates."""
    ours = [{"field": "current_tags", "operator": "includes", "value": HANDOVER_TAG},
            {"field": "current_via_id", "operator": "is_not", "value": API_VIA_ID}]
    return [
        {"title": "Handover connector: agent reply", "kind": "agent_reply", "conditions": {"all": [
            {"field": "update_type", "operator": "is", "value": "Change"},
            {"field": "comment_is_public", "operator": "is", "value": "requester_can_see_comment"},
            {"field": "role", "operator": "is_not", "value": "end_user"}, *ours]}},
        {"title": "Handover connector: solved", "kind": "solved", "conditions": {"all": [
            {"field": "status", "operator": "value", "value": "solved"}, *ours]}},
        {"title": "Handover connector: give back to AI", "kind": "give_back", "conditions": {"all": [
            {"field": "current_tags", "operator": "includes", "value": GIVE_BACK_TAG}, *ours]}},
    ]


class ZendeskIntegration(Integration):
    name = NAME
    title = "Zendesk"
    settings_model = ZendeskSettings
    #: shopper bursts become one comment: Zendesk allows few updates per ticket and minute
    message_batch = 20

    def __init__(self) -> None:
        #: agents' names by (Zendesk account, user id), for an hour: each delivery has a new
        #: zenpy client, so the cache lives here
        self._names = text.NameCache()

    def blueprint(self, host: Host) -> t.Any:
        from handover_zendesk.hooks import ZendeskHooks

        return ZendeskHooks(self, host).blueprint()

    def manifests(self, base_url: str) -> dict[str, bytes]:
        return {"zendesk/handover-zendesk-app.zip": app_bundle.build_zip(base_url)}

    # -- set-up ------------------------------------------------------------------------------

    def check(self, settings: BaseModel, http: requests.Session, timeout: float) -> Health:
        settings = t.cast(ZendeskSettings, settings)
        zd, session = zendesk_client(settings, timeout)
        try:
            with calling_zendesk("users/me", session):
                me = zd.users.me()
            if settings.webhook_id:
                with calling_zendesk("webhook", session):
                    zd.webhooks(id=settings.webhook_id)
        except (IntegrationBroken, GiveUp, RetryLater) as exc:
            return Health(False, exc.reason)
        if getattr(me, "role", None) == "end-user" or not getattr(me, "id", None):
            return Health(False, "the API user is not an agent (authentication failed?)")
        detail = f"authenticated as {me.name} ({me.role})"
        if not settings.webhook_id:
            detail += "; webhook and triggers not set up yet"
        return Health(bool(settings.webhook_id), detail)

    def configure(self, workspace_id: str, settings: BaseModel, http: requests.Session, timeout: float,
                  base_url: str) -> dict[str, t.Any]:
        settings = t.cast(ZendeskSettings, settings)
        zd, session = zendesk_client(settings, timeout)
        endpoint = f"{base_url.rstrip('/')}/hooks/zendesk/webhook"
        with calling_zendesk("users/me", session):
            me = zd.users.me()
        webhook = Webhook(name=f"Handover connector ({_host(base_url)})", endpoint=endpoint, http_method="POST",
                          request_format="json", status="active", subscriptions=["conditional_ticket_events"])
        webhook_id = settings.webhook_id
        if webhook_id:
            try:
                with calling_zendesk("webhook", session):
                    zd.webhooks.update(webhook_id, webhook)
            except GiveUp:
                webhook_id = None  # deleted in Zendesk: make a new one
        if not webhook_id:
            with calling_zendesk("create webhook", session):
                created = zd.webhooks.create(webhook)
            webhook_id = str(created.id)
        with calling_zendesk("webhook signing secret", session):
            secret = _secret_of(zd.webhooks.show_secret(webhook_id))
        trigger_ids = []
        existing = list(settings.trigger_ids)
        for definition in trigger_definitions(webhook_id):
            trigger = Trigger(title=definition["title"], conditions=definition["conditions"], actions=[
                {"field": "notification_webhook", "value": [webhook_id, webhook_body(definition["kind"])]}])
            trigger_id = existing.pop(0) if existing else None
            if trigger_id:
                trigger.id = int(trigger_id)
                try:
                    with calling_zendesk("update trigger", session):
                        zd.triggers.update(trigger)
                except GiveUp:
                    trigger_id = None
                    trigger.id = None
            if not trigger_id:
                with calling_zendesk("create trigger", session):
                    trigger_id = str(zd.triggers.create(trigger).id)
            trigger_ids.append(str(trigger_id))
        for stale in existing:
            self._delete_trigger(zd, session, stale)
        return {"webhook_id": webhook_id, "webhook_signing_secret": secret, "trigger_ids": trigger_ids,
                "bot_user_id": me.id}

    def unconfigure(self, settings: BaseModel, http: requests.Session, timeout: float) -> None:
        settings = t.cast(ZendeskSettings, settings)
        zd, session = zendesk_client(settings, timeout)
        for trigger_id in settings.trigger_ids:
            self._delete_trigger(zd, session, trigger_id)
        if settings.webhook_id:
            try:
                with calling_zendesk("delete webhook", session):
                    zd.webhooks.delete(Webhook(id=settings.webhook_id))
            except GiveUp as exc:
                if "not found" not in exc.reason:
                    raise

    @staticmethod
    def _delete_trigger(zd: t.Any, session: t.Any, trigger_id: str) -> None:
        try:
            with calling_zendesk("delete trigger", session):
                zd.triggers.delete(Trigger(id=int(trigger_id)))
        except GiveUp as exc:
            if "not found" not in exc.reason:
                raise

    # -- outbound ----------------------------------------------------------------------------

    def open_thread(self, ctx, conversation, transcript, events) -> ThreadRef:
        settings = t.cast(ZendeskSettings, ctx.settings)
        zd, session = zendesk_client(settings, ctx.timeout)
        with calling_zendesk("find ticket", session):
            for found in zd.tickets(external_id=conversation["id"]):
                if found.status != "closed":
                    return ThreadRef(str(found.id), {"requester_id": found.requester_id})
        requester, withheld = self._requester(zd, session, conversation)
        note = render.transcript_html(conversation, transcript, events, ctx.base_url)
        if withheld:
            note = render.withheld_email_html(withheld) + note
        ticket = Ticket(
            subject=text.subject(conversation, events), requester_id=requester, external_id=conversation["id"],
            tags=text.handover_tags(events, HANDOVER_TAG), comment=Comment(**render.note(note)),
        )
        session.idempotency_key = ctx.idempotency_key  # a retried delivery cannot make two tickets
        try:
            with calling_zendesk("create ticket", session):
                audit = zd.tickets.create(ticket)
        finally:
            session.idempotency_key = None
        return ThreadRef(str(audit.ticket.id), {"requester_id": requester})

    def _requester(self, zd: t.Any, session: t.Any, conversation: dict[str, t.Any]) -> tuple[int, str | None]:
        """The shopper as an end user: ours by external id, or a new one; and the e-mail left off, if any.

        The shopper's e-mail address is unverified, so it never selects an existing Zendesk
        user (``create_or_update`` alone would match by e-mail and rename, demote and speak
        for whoever has it, an agent included). Our own external id is the only match; when
        the address already belongs to someone, the new requester is created without it.
        """
        shopper = conversation.get("shopper") or {}
        email = (shopper.get("email") or "").strip().lower() or None
        external = f"handover-shopper:{email or conversation['id']}"
        with calling_zendesk("find requester", session):
            ours = [u for u in zd.users.search(external_id=external) if getattr(u, "external_id", None) == external]
        for user in ours:
            if user.role == "end-user":
                return user.id, None  # never renamed or re-roled: it is ours and stays as it is
        withheld = None
        if email:
            with calling_zendesk("find user by e-mail", session):
                holders = [u for u in zd.users.search(query=f"email:{email}")
                           if (getattr(u, "email", None) or "").lower() == email]
            if holders:
                withheld, email = shopper.get("email"), None
        if ours:  # our external id on an agent (set by hand): leave that user alone
            external = f"{external}:{conversation['id']}"
        user = User(name=shopper.get("name") or shopper.get("email") or "Shopper", external_id=external, role="end-user")
        if email:
            user.email = email
        with calling_zendesk("create requester", session):
            return zd.users.create_or_update(user).id, withheld

    def mirror_message(self, ctx, thread, conversation, message) -> TaskResult | None:
        return self.mirror_messages(ctx, thread, conversation, [message])

    def mirror_messages(self, ctx, thread, conversation, messages) -> TaskResult | None:
        """Runs of shopper messages become one public comment by the requester; the rest internal notes.

        Each comment is recorded as Zendesk accepts it, so a retry sends only the rest; one
        whose answer was lost is looked for on the ticket before it is sent again
        (:mod:`handover_zendesk.once`).
        """
        settings = t.cast(ZendeskSettings, ctx.settings)
        self._pace(ctx, settings)
        zd, session = zendesk_client(settings, ctx.timeout)
        opened = thread
        thread, accepted = once.resume(ctx, zd, session, settings, thread)
        for group in render.runs([m for m in messages if m["id"] not in accepted]):
            if group[0]["author"] == "shopper":
                comment = {"body": "\n\n".join(render.plain_with_links(m) for m in group), "public": True,
                           "author_id": thread.data.get("requester_id")}
            else:
                comment = render.note("".join(render.note_html(m) for m in group))
            thread = self._update_once(ctx, zd, session, thread, conversation, [m["id"] for m in group], comment)
        return TaskResult(moved_to=thread) if thread.external_id != opened.external_id else None

    def mirror_state(self, ctx, thread, conversation, events) -> TaskResult | None:
        settings = t.cast(ZendeskSettings, ctx.settings)
        self._pace(ctx, settings)
        zd, session = zendesk_client(settings, ctx.timeout)
        comment = render.state_note(events)
        if comment is None:
            return None
        opened = thread
        thread, accepted = once.resume(ctx, zd, session, settings, thread)
        if "state" in accepted:
            return TaskResult(moved_to=thread) if thread.external_id != opened.external_id else None
        changes: dict[str, t.Any] = {}
        kinds = {e["type"] for e in events}
        if "resolved" in kinds:
            changes["status"] = "solved"
            with calling_zendesk("show ticket", session):
                current = zd.tickets(id=int(thread.external_id))
            if current.status == "closed":
                return None  # nothing to solve any more
            if not current.assignee_id and settings.bot_user_id:
                changes["assignee_id"] = settings.bot_user_id  # Zendesk solves only assigned tickets
        elif "reopened" in kinds or "handed_over" in kinds:
            changes["status"] = "open"
        if "handover_unclaimed" in kinds:
            changes["priority"] = "high"  # nobody has taken it: move it up the agents' views
        moved = self._update_once(ctx, zd, session, thread, conversation, ["state"], comment, **changes)
        return TaskResult(moved_to=moved) if moved.external_id != opened.external_id else None

    def _update_once(self, ctx: DeliveryContext, zd: t.Any, session: t.Any, thread: ThreadRef,
                     conversation: dict[str, t.Any], ids: list[str], comment: dict[str, t.Any],
                     **fields: t.Any) -> ThreadRef:
        """:meth:`_update`, recorded before (what is being sent) and after (accepted) in the delivery's progress."""
        once.sending(ctx, thread, ids, comment, self._author(ctx, thread, comment))
        updated, comment_id = self._update(ctx, zd, session, thread, conversation, comment=comment, **fields)
        once.accepted(ctx, updated, ids, comment_id)
        return updated

    @staticmethod
    def _author(ctx: DeliveryContext, thread: ThreadRef, comment: dict[str, t.Any]) -> int | None:
        return comment.get("author_id") or t.cast(ZendeskSettings, ctx.settings).bot_user_id

    @staticmethod
    def _pace(ctx: DeliveryContext, settings: ZendeskSettings) -> None:
        """Stay inside Zendesk's per-ticket update limit: wait when our last 10 minutes are full."""
        limit = settings.updates_per_ten_minutes
        if not limit:
            return
        recent = ctx.delivered_since(WINDOW.total_seconds())
        if len(recent) >= limit:
            free_at = recent[-limit] + WINDOW
            wait = (free_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
            raise Defer(f"{limit} ticket updates in 10 minutes: waiting to batch", max(1.0, wait))

    def _update(self, ctx: DeliveryContext, zd: t.Any, session: t.Any, thread: ThreadRef,
                conversation: dict[str, t.Any], comment: dict[str, t.Any],
                **fields: t.Any) -> tuple[ThreadRef, int | None]:
        """Add a comment (and changes); on a closed ticket, open a follow-up and move the conversation's link to it.

        Returns where the comment went and its id (when Zendesk's answer names it).
        """
        try:
            with calling_zendesk("update ticket", session):
                audit = zd.tickets.update(Ticket(id=int(thread.external_id), comment=Comment(**comment), **fields))
            return thread, once.comment_id(audit)
        except GiveUp:
            if not self._is_closed(zd, session, thread):
                raise
        fields.pop("status", None)
        if comment.get("author_id") and not comment.get("public", True):
            comment = {k: v for k, v in comment.items() if k != "author_id"}
        ticket = Ticket(
            subject=f"Follow-up: {text.subject(conversation, [])}", requester_id=thread.data.get("requester_id"),
            external_id=conversation["id"], tags=[HANDOVER_TAG], via_followup_source_id=int(thread.external_id),
            comment=Comment(**comment), **fields,
        )
        session.idempotency_key = f"{ctx.idempotency_key}:follow-up:{thread.external_id}"
        try:
            with calling_zendesk("create follow-up ticket", session):
                audit = zd.tickets.create(ticket)
        finally:
            session.idempotency_key = None
        return ThreadRef(str(audit.ticket.id), {**thread.data}), once.comment_id(audit)

    @staticmethod
    def _is_closed(zd: t.Any, session: t.Any, thread: ThreadRef) -> bool:
        with calling_zendesk("show ticket", session):
            return zd.tickets(id=int(thread.external_id)).status == "closed"

    # -- inbound, in the worker ----------------------------------------------------------

    def run_task(self, ctx, thread, task) -> TaskResult | None:
        if thread is None:
            raise RetryLater("the ticket is not linked yet")
        if task.get("kind") != "webhook":
            raise GiveUp(f"unknown Zendesk task {task.get('kind')!r}")
        settings = t.cast(ZendeskSettings, ctx.settings)
        zd, session = zendesk_client(settings, ctx.timeout)
        event = task["event"]
        kind = event.get("kind")
        if kind == "agent_reply":
            return TaskResult(events=tuple(self._agent_comments(zd, session, settings, thread)))
        actor = self._agent_name(zd, session, event.get("actor_id"))
        if kind == "give_back":
            with calling_zendesk("remove give-back tag", session):
                zd.tickets.delete_tags(int(thread.external_id), [GIVE_BACK_TAG])
        if kind in ("solved", "give_back"):
            action = "resolve" if kind == "solved" else "give_back"
            return TaskResult(events=(InboundEvent(plugin=NAME, event_id=f"{kind}:{task['key']}",
                                                   thread_id=thread.external_id, action=action,
                                                   actor_name=actor, reason="in Zendesk"),))
        return None

    def _agent_comments(self, zd: t.Any, session: t.Any, settings: ZendeskSettings,
                        thread: ThreadRef) -> t.Iterator[InboundEvent]:
        """Each public agent comment, read from the API, as one human message (once, by comment id)."""
        with calling_zendesk("ticket comments", session):
            comments = list(zd.tickets.comments(int(thread.external_id)))
        requester = thread.data.get("requester_id")
        for comment in comments:
            via = getattr(getattr(comment, "via", None), "channel", None)
            if not comment.public or comment.author_id in (requester, settings.bot_user_id) or via == "api":
                continue
            yield InboundEvent(
                plugin=NAME, event_id=f"comment:{comment.id}", thread_id=thread.external_id, action="message",
                actor_name=self._agent_name(zd, session, comment.author_id),
                text=(comment.plain_body or comment.body or "").strip(),
                external_message_id=f"comment:{comment.id}", take_over=True, reason="replied in Zendesk",
                agent={"comment_id": comment.id},
            )

    def tell_agent(self, ctx: DeliveryContext, thread: ThreadRef | None, agent: dict[str, t.Any],
                   refusal: Refusal) -> None:
        """A reply that could not be relayed gets an internal note saying why: it never vanishes silently."""
        if thread is None:
            return
        zd, session = zendesk_client(t.cast(ZendeskSettings, ctx.settings), ctx.timeout)
        comment = render.note(f"<p>This reply was not sent to the shopper: {text.escape_html(refusal.text)}</p>")
        with calling_zendesk("note refused reply", session):
            zd.tickets.update(Ticket(id=int(thread.external_id), comment=Comment(**comment)))

    def _agent_name(self, zd: t.Any, session: t.Any, user_id: t.Any) -> str | None:
        if not user_id:
            return None

        def look_up() -> str | None:
            try:
                with calling_zendesk("show user", session):
                    return zd.users(id=int(user_id)).name
            except GiveUp:
                return None

        return self._names.get((f"{zd.users.subdomain}@{session.base.netloc if session.base else ''}", int(user_id)),
                               look_up)


def _host(url: str) -> str:
    return re.sub(r"^https?://", "", url).split("/")[0]


def _secret_of(answer: t.Any) -> str:
    if isinstance(answer, dict):
        answer = answer.get("signing_secret", answer)
        return answer["secret"] if isinstance(answer, dict) else str(answer)
    return getattr(answer, "secret")
