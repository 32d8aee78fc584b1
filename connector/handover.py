"""The handover service: the one way every caller changes a conversation.

The platform API, the console and every plugin call :class:`HandoverService`. Each call
locks the conversation, runs the command through :func:`connector.domain.apply`, stores
the new state, the message and the events, and lets listeners (the outbox, realtime
fan-out) add their rows in the same transaction. Nothing is written when the domain
refuses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import typing as t

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from connector import domain
from connector import representations
from connector.delivery.outbox import QUEUED
from connector.storage import repository
from connector.storage import transaction_cache
from connector.storage.database import Database
from connector.storage.database import after_commit
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message
from connector.storage.models import Receipt
from connector.storage.models import Workspace
from connector.storage.models import new_id
from connector.storage.models import utcnow

#: conversations locked by the current transaction (connector.storage.transaction_cache)
LOCKED = "locked_conversations"


class NotFound(Exception):
    """No such conversation in this workspace (another workspace's ids included)."""

    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__(f"No {what} with that id.")
        self.field = field


@dataclasses.dataclass
class Change:
    """What one accepted command did; handed to listeners."""

    workspace: Workspace
    conversation: Conversation
    before: domain.ConversationState
    after: domain.ConversationState
    message: Message | None
    events: list[Event]
    #: where the change came from (api, console, slack...): mirrors skip it
    source: str
    #: whether a listener queued outbox deliveries in the change's transaction
    deliveries_queued: bool = False

    @property
    def state_changed(self) -> bool:
        """Whether the status or the controller changed (what ``conversation.updated`` announces)."""
        return (self.before.status, self.before.controller) != (self.after.status, self.after.controller)

    @functools.cached_property
    def public_events(self) -> list[dict[str, t.Any]]:
        """``message.created`` / ``conversation.updated``, built once for webhook and stream."""
        return representations.change_events(self)


class Listener(t.Protocol):
    """Something that reacts to accepted changes."""

    def in_transaction(self, session: Session, change: Change) -> None:
        """Add rows (outbox deliveries) that must commit together with the change."""

    def after_commit(self, change: Change) -> None:
        """React once the change is durable (publish to live streams)."""


Clock = t.Callable[[], dt.datetime]


class HandoverService:
    """Create conversations, post messages and run handover commands."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.listeners: list[Listener] = []
        #: called after each shopper message commits (automatic handover); may return
        #: the conversation as it is after an escalation
        self.after_shopper_message: t.Callable[[Workspace, Conversation, Message], Conversation] | None = None

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    # -- conversations -------------------------------------------------------------------

    def create_conversation(
        self,
        workspace: Workspace,
        *,
        external_id: str | None = None,
        shopper_name: str | None = None,
        shopper_email: str | None = None,
    ) -> tuple[Conversation, bool]:
        """A new conversation, or the existing one with that ``external_id``.

        :returns: the conversation and whether it was created by this call.
        """
        try:
            with self.db.write() as session:
                if external_id is not None:
                    existing = repository.conversation_by_external_id(session, workspace.pk, external_id)
                    if existing is not None:
                        return existing, False
                now = self.clock()
                conversation = Conversation(
                    id=new_id("conv"),
                    workspace_pk=workspace.pk,
                    external_id=external_id,
                    shopper_name=shopper_name,
                    shopper_email=shopper_email,
                    status=domain.Status.OPEN.value,
                    controller=domain.Controller.AI.value,
                    ever_handed_over=False,
                    ever_resolved=False,
                    human_joined=False,
                    created_at=now,
                    updated_at=now,
                )
                session.add(conversation)
                session.flush()
                return conversation, True
        except IntegrityError:
            # A concurrent create with the same external_id won the race.
            if external_id is None:
                raise
            with self.db.read() as session:
                existing = repository.conversation_by_external_id(session, workspace.pk, external_id)
            if existing is None:
                raise
            return existing, False

    def get_conversation(self, workspace: Workspace, conversation_id: str) -> Conversation:
        with self.db.read() as session:
            conversation = repository.get_conversation(session, workspace.pk, conversation_id)
        if conversation is None:
            raise NotFound("conversation", "conversation_id")
        return conversation

    # -- commands ------------------------------------------------------------------------

    def post_message(
        self,
        workspace: Workspace,
        conversation_id: str,
        *,
        author: str,
        text: str,
        author_name: str | None = None,
        attachments: list[dict[str, str]] | None = None,
        source: str = "api",
        receipt: tuple[str, str] | None = None,
        session: Session | None = None,
    ) -> tuple[Message, Conversation]:
        """Add a shopper, AI or human message, applying what the message means.

        :param receipt: (source, vendor event id) recorded in the same transaction, so a
            redelivered vendor event fails with IntegrityError instead of acting twice.
        :param session: run inside this write transaction (listeners react when it commits).
        :raises domain.Refused: an AI reply while a human is in charge, and the like.
        """
        command = domain.MESSAGE_COMMANDS[author]
        # The row is built before the transaction; only the shopper's name (the default
        # author name of a shopper message) and the time are filled in inside it.
        draft = MessageDraft(
            id=new_id("msg"), author=author, author_name=author_name, text=text,
            attachments=attachments or [], source=source, shopper_named=author_name is None and author == "shopper",
        )
        actor = domain.Actor(kind=author, name=author_name)
        change = self._run(workspace, conversation_id, command, actor, source, message=draft, receipt=receipt,
                           session=session)
        assert change.message is not None
        conversation = change.conversation
        if author == "shopper" and self.after_shopper_message is not None and session is None:
            conversation = self.after_shopper_message(workspace, conversation, change.message)
        return change.message, conversation

    def run_command(
        self,
        workspace: Workspace,
        conversation_id: str,
        command: domain.Command,
        *,
        actor: domain.Actor,
        source: str = "api",
        reason: str | None = None,
        trigger: domain.Trigger = domain.Trigger.MANUAL,
        scenario: str | None = None,
        receipt: tuple[str, str] | None = None,
        session: Session | None = None,
    ) -> Conversation:
        """Hand over, suggest a handover, give back or resolve (in ``session``'s transaction, if given)."""
        change = self._run(
            workspace, conversation_id, command, actor, source,
            reason=reason, trigger=trigger, scenario=scenario, receipt=receipt, session=session,
        )
        return change.conversation

    def _run(
        self,
        workspace: Workspace,
        conversation_id: str,
        command: domain.Command,
        actor: domain.Actor,
        source: str,
        *,
        reason: str | None = None,
        trigger: domain.Trigger = domain.Trigger.MANUAL,
        scenario: str | None = None,
        message: "MessageDraft | None" = None,
        receipt: tuple[str, str] | None = None,
        session: Session | None = None,
    ) -> Change:
        if session is None:
            # Our own transaction: SQLAlchemy Core, a few statements, nothing loaded into a session.
            policy = repository.policy_for(workspace)
            with self.db.write() as session:
                return self._apply_core(session, workspace, conversation_id, command, actor, source, policy,
                                        reason=reason, trigger=trigger, scenario=scenario, message=message,
                                        receipt=receipt)
        return self._apply(session, workspace, conversation_id, command, actor, source, reason=reason,
                           trigger=trigger, scenario=scenario, message=message, receipt=receipt)

    def lock(self, session: Session, workspace_pk: int, conversation_pk: int) -> Conversation:
        """A conversation by its key, locked for the rest of the transaction like :meth:`_locked`."""
        conversation = session.get(Conversation, conversation_pk, with_for_update=self.db.lock_for_update() or None)
        assert conversation is not None  # a link's conversation (links go with their conversation)
        transaction_cache.remember(session, LOCKED, (workspace_pk, conversation.id), conversation)
        return conversation

    def _locked(self, session: Session, workspace_pk: int, conversation_id: str) -> Conversation | None:
        """The conversation, locked for the rest of the transaction (``FOR UPDATE``; on SQLite
        the writer holds the whole file). Read once per transaction: a run of replies to one
        conversation locks it once, and the object stays current, since nothing but this
        transaction can change it until the transaction ends."""
        key = (workspace_pk, conversation_id)
        found = transaction_cache.recall(session, LOCKED, key)
        if found is None:
            found = repository.get_conversation(session, workspace_pk, conversation_id,
                                                for_update=self.db.lock_for_update())
            if found is not None:
                transaction_cache.remember(session, LOCKED, key, found)
        return found

    def _apply(
        self,
        session: Session,
        workspace: Workspace,
        conversation_id: str,
        command: domain.Command,
        actor: domain.Actor,
        source: str,
        *,
        reason: str | None,
        trigger: domain.Trigger,
        scenario: str | None,
        message: "MessageDraft | None",
        receipt: tuple[str, str] | None,
    ) -> Change:
        """Run one command in the caller's ``session`` (ORM: the caller may hold the conversation loaded)."""
        if receipt is not None:
            session.add(Receipt(source=receipt[0], key=receipt[1], received_at=self.clock()))
            session.flush()  # a duplicate fails here, before anything else is done
        conversation = self._locked(session, workspace.pk, conversation_id)
        if conversation is None:
            raise NotFound("conversation", "conversation_id")
        now = self.clock()
        request = domain.Request(
            command=command, actor=actor, at=now, source=source,
            reason=reason, trigger=trigger, scenario=scenario,
        )
        before = repository.state_of(conversation)
        outcome = domain.apply(before, request, repository.policy_for(workspace))
        if message is not None:
            message = Message(**message.row(conversation.pk, conversation.shopper_name, now))
            session.add(message)
        if message is None and not outcome.events and not outcome.changed(before):
            # Nothing happened (a second hand over): no write, no updated_at.
            return Change(workspace, conversation, before, before, None, [], source)
        repository.store_state(conversation, outcome.state)
        conversation.updated_at = now
        events = repository.append_events(session, conversation, outcome.events)
        session.flush()
        change = Change(workspace, conversation, before, outcome.state, message, events, source)
        return self._notify(session, change)

    def _apply_core(
        self,
        session: Session,
        workspace: Workspace,
        conversation_id: str,
        command: domain.Command,
        actor: domain.Actor,
        source: str,
        policy: domain.Policy,
        *,
        reason: str | None,
        trigger: domain.Trigger,
        scenario: str | None,
        message: "MessageDraft | None",
        receipt: tuple[str, str] | None,
    ) -> Change:
        """:meth:`_apply` in SQLAlchemy Core, for a transaction of our own: two statements a message.

        * a message on SQLite: this transaction holds the one writer already (``BEGIN
          IMMEDIATE``) and a message always writes, so the read of the conversation is
          its version bump (``UPDATE ... RETURNING``), then the insert;
        * a message on PostgreSQL: the conversation's row is locked (``SELECT ... FOR
          UPDATE``) before the time is taken, so times follow the order of the writes;
          then one statement inserts the message and updates the conversation;
        * a command: the read (locked on PostgreSQL), then one versioned update.

        A refusal raises, and the transaction rolls back. Events (state changes) are
        inserted one by one after that. Listeners get the rows as detached objects.
        """
        connection = session.connection()
        if receipt is not None:
            # a duplicate fails here, before anything else is done
            connection.execute(_INSERT_RECEIPT, {"source": receipt[0], "key": receipt[1], "result": None,
                                                 "received_at": self.clock()})
        key = {"key_workspace_pk": workspace.pk, "key_conversation_id": conversation_id}
        locks_rows = self.db.lock_for_update()
        touched = message is not None and not locks_rows
        if touched:
            now = self.clock()
            found = connection.execute(_TOUCH_CONVERSATION, {**key, "c_updated_at": now}).first()
        else:
            found = connection.execute(_SELECT_CONVERSATION_FOR_UPDATE if locks_rows else _SELECT_CONVERSATION,
                                       key).first()
            now = self.clock()
        if found is None:
            raise NotFound("conversation", "conversation_id")
        before = repository.state_of(found)
        outcome = domain.apply(before, domain.Request(
            command=command, actor=actor, at=now, source=source, reason=reason, trigger=trigger, scenario=scenario,
        ), policy)
        if message is None and not outcome.events and not outcome.changed(before):
            # Nothing happened (a second hand over): no write, no updated_at.
            return Change(workspace, Conversation(**found._asdict()), before, before, None, [], source)
        state = outcome.state
        values = {"status": state.status.value, "controller": state.controller.value,
                  "ever_handed_over": state.ever_handed_over, "ever_resolved": state.ever_resolved,
                  "human_joined": state.human_joined, "updated_at": now}
        row = message.row(found.pk, found.shopper_name, now) if message is not None else None
        if touched:
            assert row is not None
            values["version"] = found.version  # bumped by the touch
            row["pk"] = connection.execute(_INSERT_MESSAGE, row).inserted_primary_key[0]
            if outcome.changed(before):
                connection.execute(_STORE_STATE, {**_prefixed("c_", values), "pk_": found.pk})
        else:
            values["version"] = found.version + 1
            versioned = {**_prefixed("c_", values), "pk_": found.pk, "version_": found.version}
            if row is not None:
                stored_pk = connection.execute(_INSERT_MESSAGE_AND_UPDATE,
                                               {**_prefixed("m_", row), **versioned}).scalar()
                if stored_pk is None:
                    raise StaleDataError(f"conversation {found.id} changed under version {found.version}")
                row["pk"] = stored_pk
            elif connection.execute(_UPDATE_CONVERSATION, {**values, "pk_": found.pk,
                                                           "version_": found.version}).rowcount != 1:
                raise StaleDataError(f"conversation {found.id} changed under version {found.version}")
        conversation = Conversation(**{**found._asdict(), **values})
        events = []
        for event in outcome.events:
            event_row = repository.event_row(conversation.pk, event)
            event_row["pk"] = connection.execute(_INSERT_EVENT, event_row).inserted_primary_key[0]
            events.append(Event(**event_row))
        stored = Message(**row) if row is not None else None
        change = Change(workspace, conversation, before, state, stored, events, source)
        return self._notify(session, change)

    def _notify(self, session: Session, change: Change) -> Change:
        """Listeners add their rows to the transaction now, and react once it commits."""
        for listener in self.listeners:
            listener.in_transaction(session, change)
        change.deliveries_queued = bool(session.info.pop(QUEUED, False))
        listeners = list(self.listeners)
        after_commit(session, lambda: [listener.after_commit(change) for listener in listeners])
        return change


@dataclasses.dataclass(frozen=True)
class MessageDraft:
    """A message's row, built before its transaction."""

    id: str
    author: str
    author_name: str | None
    text: str
    attachments: list[dict[str, str]]
    source: str
    #: the author name is the conversation's shopper name (known inside the transaction)
    shopper_named: bool

    def row(self, conversation_pk: int, shopper_name: str | None, now: dt.datetime) -> dict[str, t.Any]:
        return {"id": self.id, "conversation_pk": conversation_pk, "author": self.author,
                "author_name": shopper_name if self.shopper_named else self.author_name, "text": self.text,
                "attachments": self.attachments, "source": self.source, "created_at": now}


_CONVERSATIONS = Conversation.__table__
_MESSAGES = Message.__table__
_STATE_COLUMNS = ("status", "controller", "ever_handed_over", "ever_resolved", "human_joined", "updated_at")
_IS_CONVERSATION = (_CONVERSATIONS.c.workspace_pk == bindparam("key_workspace_pk"),
                    _CONVERSATIONS.c.id == bindparam("key_conversation_id"))
_SELECT_CONVERSATION = select(*_CONVERSATIONS.c).where(*_IS_CONVERSATION)
_SELECT_CONVERSATION_FOR_UPDATE = _SELECT_CONVERSATION.with_for_update()
#: read and bump in one (SQLite, inside its write lock); the values returned are the new ones
_TOUCH_CONVERSATION = (update(_CONVERSATIONS).where(*_IS_CONVERSATION)
                       .values(updated_at=bindparam("c_updated_at"), version=_CONVERSATIONS.c.version + 1)
                       .returning(*_CONVERSATIONS.c))
_STORE_STATE = (update(_CONVERSATIONS).where(_CONVERSATIONS.c.pk == bindparam("pk_"))
                .values({name: bindparam(f"c_{name}") for name in _STATE_COLUMNS}))
_UPDATE_CONVERSATION = update(_CONVERSATIONS).where(
    _CONVERSATIONS.c.pk == bindparam("pk_"), _CONVERSATIONS.c.version == bindparam("version_"))
_INSERT_MESSAGE = insert(_MESSAGES)
_MESSAGE_COLUMNS = ("id", "conversation_pk", "author", "author_name", "text", "attachments", "source", "created_at")
_INSERTED_MESSAGE = (insert(_MESSAGES).values({name: bindparam(f"m_{name}") for name in _MESSAGE_COLUMNS})
                     .returning(_MESSAGES.c.pk).cte("inserted_message"))
#: PostgreSQL: the message and the versioned update in one statement; no row when the version moved
_INSERT_MESSAGE_AND_UPDATE = (
    update(_CONVERSATIONS).add_cte(_INSERTED_MESSAGE)
    .where(_CONVERSATIONS.c.pk == bindparam("pk_"), _CONVERSATIONS.c.version == bindparam("version_"))
    .values({name: bindparam(f"c_{name}") for name in (*_STATE_COLUMNS, "version")})
    .returning(select(_INSERTED_MESSAGE.c.pk).scalar_subquery())
)
_INSERT_EVENT = insert(Event.__table__)
_INSERT_RECEIPT = insert(Receipt.__table__)


def _prefixed(prefix: str, values: dict[str, t.Any]) -> dict[str, t.Any]:
    """Parameters for bind names that may not be column names (``c_status``, ``m_text``)."""
    return {prefix + name: value for name, value in values.items()}
