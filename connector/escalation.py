"""Automatic handover: a scenario fired, and the workspace's mode says what happens.

* **Automate**: the conversation is handed over at once (trigger ``automatic``, the
  scenario named on the event); the notice e-mails follow from the events.
* **Semi-automate**: the AI keeps chatting and a ``handover_suggested`` event is logged,
  which e-mails the admin signed "Take over" / "Let the AI continue" links.

The detector runs on every shopper message while the Handover to human ability is on;
the chat platform may also escalate itself through the handover API.
"""

from __future__ import annotations

import inspect
import logging
import typing as t

from sqlalchemy import select

from connector import domain
from connector import workspace_settings
from connector.handover import HandoverService
from connector.storage.models import Conversation
from connector.storage.models import Message
from connector.storage.models import Workspace

if t.TYPE_CHECKING:
    from connector.detection import Detector
    from connector.detection import Fired
    from connector.detection import Scenario

log = logging.getLogger(__name__)

#: earlier shopper messages the detector sees, for conversation signals
HISTORY = 10
#: the AI's latest replies the detector sees ("the AI failed to answer")
AI_REPLIES = 3
SYSTEM = domain.Actor(kind="system", name="Handover to human")


def workspace_scenarios(workspace: Workspace) -> list["Scenario"]:
    from connector.detection import Scenario

    section = workspace_settings.read_section(workspace, "handover")
    default = workspace_settings.default_sensitivity(section.get("mode", "automate"))
    return [Scenario(s["name"], s["instruction"], tuple(s.get("examples") or ()), s.get("sensitivity") or default)
            for s in section.get("scenarios", [])]


def _takes_ai_replies(detector: "Detector") -> bool:
    try:
        return "ai_replies" in inspect.signature(detector.evaluate).parameters
    except (TypeError, ValueError):
        return False


def fire_reason(fired: "Fired") -> str:
    """The event's reason: the score, and which family and words made it fire."""
    reason = f"score {fired.score:.2f}"
    family = getattr(fired, "family", "")
    evidence = getattr(fired, "evidence", "")
    if family:
        reason += f"; {family.replace('_', ' ')}"
        if evidence:
            reason += f": {evidence[:200]}"
    return reason


class Escalation:
    """Runs the detector and applies the workspace's mode."""

    def __init__(self, service: HandoverService, detector: t.Callable[[], "Detector"]) -> None:
        self.service = service
        self._detector = detector

    @property
    def detector(self) -> "Detector":
        return self._detector()

    def escalate(self, workspace: Workspace, conversation_id: str, scenario: str, reason: str | None = None) -> Conversation:
        """Hand over (automate) or suggest a handover (semi-automate) because ``scenario`` fired."""
        mode = workspace_settings.read_section(workspace, "handover").get("mode", "automate")
        command = domain.Command.HAND_OVER if mode == "automate" else domain.Command.SUGGEST_HANDOVER
        return self.service.run_command(
            workspace, conversation_id, command, actor=SYSTEM, source="detector",
            reason=reason, trigger=domain.Trigger.AUTOMATIC, scenario=scenario,
        )

    def evaluate(self, messages: t.Sequence[str], scenarios: t.Sequence["Scenario"]) -> list[list["Fired"]]:
        detector = self.detector
        return [detector.evaluate(message, scenarios) for message in messages]

    def after_shopper_message(self, workspace: Workspace, conversation: Conversation, message: Message) -> Conversation:
        """Check a new shopper message against the workspace's scenarios; escalate if one fires."""
        policy_section = workspace_settings.read_section(workspace, "handover")
        if not policy_section.get("enabled") or not workspace_settings.may_enable_handover(workspace):
            return conversation
        if conversation.controller != "ai" or conversation.status != "open":
            return conversation
        scenarios = workspace_scenarios(workspace)
        if not scenarios:
            return conversation
        with self.service.db.read() as session:
            history = list(reversed(session.scalars(
                select(Message.text).where(Message.conversation_pk == conversation.pk, Message.author == "shopper",
                                           Message.pk < message.pk)
                .order_by(Message.pk.desc()).limit(HISTORY)).all()))
            ai_replies = list(reversed(session.scalars(
                select(Message.text).where(Message.conversation_pk == conversation.pk, Message.author == "ai",
                                           Message.pk < message.pk)
                .order_by(Message.pk.desc()).limit(AI_REPLIES)).all()))
        detector = self.detector
        if _takes_ai_replies(detector):
            fired = detector.evaluate(message.text, scenarios, history, ai_replies=ai_replies)
        else:
            fired = detector.evaluate(message.text, scenarios, history)
        if not fired:
            return conversation
        top = fired[0]
        log.info("scenario fired", extra={"action": "scenario_fired", "scenario": top.scenario, "score": top.score})
        try:
            return self.escalate(workspace, conversation.id, top.scenario, reason=fire_reason(top))
        except domain.Refused:
            return conversation  # the state moved on meanwhile (a human took it): nothing to do
