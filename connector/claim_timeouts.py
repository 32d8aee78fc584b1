"""Handovers nobody claims: a timer per hand over, as a row the delivery workers claim.

When a workspace sets ``claim_timeout_seconds``, every hand over queues a delivery to the
built-in ``claim_timer`` channel, due when the timeout runs out. It survives restarts and
runs once across any number of processes, like every delivery. When it comes due and no
human has replied since that same hand over, the conversation logs
``handover_unclaimed`` (trigger automatic): the outbox then reminds the notification
recipients ("Still waiting: ...") and nudges every linked tool; with ``unclaimed_action``
``give_back`` the conversation also goes back to the AI (reason ``unclaimed``). A human
reply in time, a give back, a resolve or a newer hand over make the timer a no-op.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import domain
from connector import workspace_settings
from connector.delivery import outbox
from connector.metrics import HANDOVER_CLAIM_SECONDS
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Integration
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.storage import repository
from connector.storage.database import Database
from connector.storage.database import after_commit
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Workspace

if t.TYPE_CHECKING:
    from connector.handover import Change
    from connector.handover import HandoverService

CLAIM_TIMER = "claim_timer"
CLAIM_TIMEOUT = "claim_timeout"
#: who logs the event and gives back
ACTOR = domain.Actor(kind="system", name="Claim timeout")


def timeout_of(workspace: Workspace) -> tuple[int | None, str]:
    section = workspace_settings.read_section(workspace, "handover")
    return section.get("claim_timeout_seconds"), section.get("unclaimed_action") or "remind"


class ClaimTimerListener:
    """Queues the timer of each hand over, in the hand over's transaction."""

    def in_transaction(self, session: Session, change: "Change") -> None:
        seconds, _ = timeout_of(change.workspace)
        if not seconds:
            return
        for event in change.events:
            if event.type == domain.EventType.HANDED_OVER.value:
                outbox.enqueue_task(
                    session, workspace_pk=change.workspace.pk, conversation_pk=change.conversation.pk,
                    plugin=CLAIM_TIMER, action=CLAIM_TIMEOUT, now=event.at,
                    not_before=event.at + dt.timedelta(seconds=seconds),
                    task={"kind": CLAIM_TIMEOUT, "conversation_id": change.conversation.id, "handed_over": event.id,
                          "seconds": seconds})

    def after_commit(self, change: "Change") -> None:
        return None


class ClaimTimeObserver:
    """Observes ``connector_handover_claim_seconds`` when a human first replies after a hand over."""

    def in_transaction(self, session: Session, change: "Change") -> None:
        joined = [e for e in change.events if e.type == domain.EventType.HUMAN_JOINED.value]
        if not joined:
            return
        handed = session.scalar(select(Event.at).where(
            Event.conversation_pk == change.conversation.pk, Event.type == domain.EventType.HANDED_OVER.value
        ).order_by(Event.pk.desc()).limit(1))
        if handed is not None:
            waited = max(0.0, (joined[0].at - handed).total_seconds())
            after_commit(session, lambda: HANDOVER_CLAIM_SECONDS.observe(waited))

    def after_commit(self, change: "Change") -> None:
        return None


class ClaimTimer(Integration):
    """The built-in channel whose tasks are claim timeouts coming due."""

    name = CLAIM_TIMER
    title = "Claim timeouts"
    builtin = True

    def __init__(self, db: Database, handover: "HandoverService") -> None:
        self.db = db
        self.handover = handover

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> TaskResult | None:
        if task.get("kind") != CLAIM_TIMEOUT:
            raise GiveUp(f"unknown claim timer task {task.get('kind')!r}")
        with self.db.write() as session:
            workspace = repository.get_workspace(session, ctx.workspace_id)
            conversation = repository.get_conversation(session, workspace.pk, task["conversation_id"],
                                                       for_update=self.db.lock_for_update()) if workspace else None
            if conversation is None or not self._still_waiting(session, conversation, task["handed_over"]):
                return None  # claimed, given back, resolved or handed over again meanwhile
            minutes = max(1, round(task["seconds"] / 60))
            _, action = timeout_of(workspace)
            self.handover.run_command(
                workspace, conversation.id, domain.Command.MARK_UNCLAIMED, actor=ACTOR, source="connector",
                trigger=domain.Trigger.AUTOMATIC, reason=f"no human replied within {minutes} min", session=session)
            if action == "give_back":
                self.handover.run_command(
                    workspace, conversation.id, domain.Command.GIVE_BACK, actor=ACTOR, source="connector",
                    trigger=domain.Trigger.AUTOMATIC, reason="unclaimed", session=session)
        return None

    @staticmethod
    def _still_waiting(session: Session, conversation: Conversation, handed_over_id: str) -> bool:
        if conversation.status != "open" or conversation.controller != "human" or conversation.human_joined:
            return False
        latest = session.scalar(select(Event.id).where(
            Event.conversation_pk == conversation.pk,
            Event.type.in_(("handed_over", "handover_unclaimed"))).order_by(Event.pk.desc()).limit(1))
        return latest == handed_over_id
