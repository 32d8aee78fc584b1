"""The handover state machine: one transition table, no I/O.

A conversation has a ``status`` (open or resolved) and a ``controller`` (the AI or a
human). Every command that can change either goes through :func:`apply`, which looks the
command up in :data:`TRANSITIONS`, checks its guards in order and returns the new state
together with the events the transition causes. A refused command raises
:class:`Refused` and changes nothing. Nothing in this module knows about HTTP, Flask or
SQL: callers load the state, call :func:`apply` and persist what it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import typing as t


class Status(str, enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"


class Controller(str, enum.Enum):
    AI = "ai"
    HUMAN = "human"


#: The plan ability that allows handing a conversation to a human.
HANDOVER_TO_HUMAN = "handover_to_human"

#: Abilities each plan grants.
PLAN_ABILITIES: dict[str, frozenset[str]] = {
    "pro": frozenset({HANDOVER_TO_HUMAN}),
    "basic": frozenset(),
}


class HandoverMode(str, enum.Enum):
    #: "Pause the chat, hand over to an admin, and notify the user via email when admin joins."
    AUTOMATE = "automate"
    #: "Keep the AI chatting and email the admin to decide whether to hand over."
    SEMI_AUTOMATE = "semi_automate"


class Command(str, enum.Enum):
    HAND_OVER = "hand_over"
    SUGGEST_HANDOVER = "suggest_handover"
    HUMAN_REPLY = "human_reply"
    AI_REPLY = "ai_reply"
    GIVE_BACK = "give_back"
    RESOLVE = "resolve"
    SHOPPER_MESSAGE = "shopper_message"
    #: a claim timeout ran out: nobody replied since the hand over
    MARK_UNCLAIMED = "mark_unclaimed"


class Trigger(str, enum.Enum):
    """Why a transition happened."""

    MANUAL = "manual"  #: a person pressed a button or called the API
    AUTOMATIC = "automatic"  #: a handover scenario fired
    MESSAGE = "message"  #: a message arrived (reopen, first human reply)


class EventType(str, enum.Enum):
    HANDED_OVER = "handed_over"
    HANDOVER_SUGGESTED = "handover_suggested"
    HUMAN_JOINED = "human_joined"
    GIVEN_BACK = "given_back"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    HANDOVER_UNCLAIMED = "handover_unclaimed"


@dataclasses.dataclass(frozen=True)
class ConversationState:
    """The part of a conversation the state machine owns."""

    status: Status = Status.OPEN
    controller: Controller = Controller.AI
    #: Ever handed to a human: such a conversation is never an AI resolution.
    ever_handed_over: bool = False
    #: Resolved at least once.
    ever_resolved: bool = False
    #: A human has replied since the last hand over.
    human_joined: bool = False

    @property
    def needs_you(self) -> bool:
        return self.status is Status.OPEN and self.controller is Controller.HUMAN

    @property
    def ai_may_reply(self) -> bool:
        return self.status is Status.OPEN and self.controller is Controller.AI

    @property
    def is_ai_resolution(self) -> bool:
        """The quota rule: resolved, and never handed over however many AI replies it had."""
        return self.ever_resolved and not self.ever_handed_over


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acted: ``kind`` is shopper, ai, human, system or platform."""

    kind: str
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the workspace allows: the plan's abilities and the Handover to human setting."""

    abilities: frozenset[str] = PLAN_ABILITIES["pro"]
    handover_enabled: bool = False


@dataclasses.dataclass(frozen=True)
class Request:
    """One command with its circumstances."""

    command: Command
    actor: Actor
    at: dt.datetime
    #: Which tool it came from: api, console, slack, zendesk, gorgias, intercom, email...
    source: str = "api"
    reason: str | None = None
    trigger: Trigger = Trigger.MANUAL
    #: The scenario that fired, for automatic hand over and suggestions.
    scenario: str | None = None


@dataclasses.dataclass(frozen=True)
class Event:
    """One entry of the append-only log: what, who, when and why."""

    type: EventType
    actor: Actor
    at: dt.datetime
    source: str
    trigger: Trigger
    reason: str | None = None
    scenario: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: ConversationState
    events: tuple[Event, ...]

    def changed(self, before: ConversationState) -> bool:
        return self.state != before


class Refused(Exception):
    """A command not allowed in the current state; nothing changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class Guard:
    """A condition a command needs, and the refusal when it does not hold."""

    holds: t.Callable[[ConversationState, Policy, Request], bool]
    code: str
    message: str


Effect = t.Callable[[ConversationState, Request], tuple[ConversationState, tuple[EventType, ...]]]


@dataclasses.dataclass(frozen=True)
class Transition:
    guards: tuple[Guard, ...]
    effect: Effect


# -- guards -----------------------------------------------------------------------------

HAS_ABILITY = Guard(
    lambda s, p, r: HANDOVER_TO_HUMAN in p.abilities,
    "upgrade_required",
    "Your plan does not include the Handover to human ability. Upgrade to hand conversations over.",
)
ENABLED_WHEN_AUTOMATIC = Guard(
    lambda s, p, r: r.trigger is not Trigger.AUTOMATIC or p.handover_enabled,
    "handover_disabled",
    "Automatic handover needs the Handover to human ability switched on.",
)
SCENARIO_WHEN_AUTOMATIC = Guard(
    lambda s, p, r: r.trigger is not Trigger.AUTOMATIC or bool(r.scenario),
    "scenario_required",
    "An automatic handover names the scenario that fired.",
)
IS_ENABLED = Guard(
    lambda s, p, r: p.handover_enabled,
    "handover_disabled",
    "Handover suggestions need the Handover to human ability switched on.",
)
HAS_SCENARIO = Guard(
    lambda s, p, r: bool(r.scenario),
    "scenario_required",
    "A handover suggestion names the scenario that fired.",
)
IS_OPEN = Guard(
    lambda s, p, r: s.status is Status.OPEN,
    "conversation_resolved",
    "The conversation is resolved; only a shopper message or a hand over reopens it.",
)
HUMAN_IN_CHARGE_FOR_HUMAN = Guard(
    lambda s, p, r: s.controller is Controller.HUMAN,
    "ai_in_control",
    "The AI is in charge of this conversation; hand it over before replying as a human.",
)
AI_IN_CHARGE = Guard(
    lambda s, p, r: s.controller is Controller.AI,
    "human_in_control",
    "A human is in charge of this conversation; the AI may not reply.",
)
HUMAN_IN_CHARGE_FOR_GIVE_BACK = Guard(
    lambda s, p, r: s.controller is Controller.HUMAN,
    "not_in_human_mode",
    "The AI is already in charge of this conversation.",
)
NOT_CLAIMED = Guard(
    lambda s, p, r: not s.human_joined,
    "already_claimed",
    "A human has already replied since the hand over.",
)
NOT_RESOLVED = Guard(
    lambda s, p, r: s.status is Status.OPEN,
    "already_resolved",
    "The conversation is already resolved.",
)


# -- effects ----------------------------------------------------------------------------


def _hand_over(s: ConversationState, r: Request):
    if s.needs_you:
        return s, ()  # already with a human: two agents clicking at once is normal
    reopened = (EventType.REOPENED,) if s.status is Status.RESOLVED else ()
    new = dataclasses.replace(
        s,
        status=Status.OPEN,
        controller=Controller.HUMAN,
        ever_handed_over=True,
        human_joined=False,
    )
    return new, reopened + (EventType.HANDED_OVER,)


def _suggest_handover(s: ConversationState, r: Request):
    if s.controller is Controller.HUMAN:
        return s, ()  # a human already has it: nothing to suggest
    return s, (EventType.HANDOVER_SUGGESTED,)


def _human_reply(s: ConversationState, r: Request):
    if s.human_joined:
        return s, ()
    return dataclasses.replace(s, human_joined=True), (EventType.HUMAN_JOINED,)


def _ai_reply(s: ConversationState, r: Request):
    return s, ()


def _give_back(s: ConversationState, r: Request):
    return dataclasses.replace(s, controller=Controller.AI, human_joined=False), (
        EventType.GIVEN_BACK,
    )


def _resolve(s: ConversationState, r: Request):
    return dataclasses.replace(s, status=Status.RESOLVED, ever_resolved=True), (
        EventType.RESOLVED,
    )


def _mark_unclaimed(s: ConversationState, r: Request):
    return s, (EventType.HANDOVER_UNCLAIMED,)


def _shopper_message(s: ConversationState, r: Request):
    if s.status is Status.RESOLVED:
        return dataclasses.replace(s, status=Status.OPEN), (EventType.REOPENED,)
    return s, ()


#: The one transition table: command -> guards checked in order, then the effect.
TRANSITIONS: dict[Command, Transition] = {
    Command.HAND_OVER: Transition(
        (HAS_ABILITY, ENABLED_WHEN_AUTOMATIC, SCENARIO_WHEN_AUTOMATIC), _hand_over
    ),
    Command.SUGGEST_HANDOVER: Transition((HAS_ABILITY, IS_ENABLED, HAS_SCENARIO, IS_OPEN), _suggest_handover),
    Command.HUMAN_REPLY: Transition((IS_OPEN, HUMAN_IN_CHARGE_FOR_HUMAN), _human_reply),
    Command.AI_REPLY: Transition((IS_OPEN, AI_IN_CHARGE), _ai_reply),
    Command.GIVE_BACK: Transition((HUMAN_IN_CHARGE_FOR_GIVE_BACK,), _give_back),
    Command.RESOLVE: Transition((NOT_RESOLVED,), _resolve),
    Command.SHOPPER_MESSAGE: Transition((), _shopper_message),
    Command.MARK_UNCLAIMED: Transition((IS_OPEN, HUMAN_IN_CHARGE_FOR_GIVE_BACK, NOT_CLAIMED), _mark_unclaimed),
}

#: Which command a message of each author kind is.
MESSAGE_COMMANDS: dict[str, Command] = {
    "shopper": Command.SHOPPER_MESSAGE,
    "ai": Command.AI_REPLY,
    "human": Command.HUMAN_REPLY,
}


def apply(state: ConversationState, request: Request, policy: Policy) -> Outcome:
    """Run one command against a conversation.

    :param state: the conversation's current state.
    :param request: the command, who gave it, when, from which tool and why.
    :param policy: the workspace's abilities and handover setting.
    :returns: the new state and the events to append to the log, oldest first.
    :raises Refused: when a guard does not hold; the state is then unchanged.
    """
    transition = TRANSITIONS[request.command]
    for guard in transition.guards:
        if not guard.holds(state, policy, request):
            raise Refused(guard.code, guard.message)
    new_state, event_types = transition.effect(state, request)
    trigger = request.trigger
    events = tuple(
        Event(
            type=event_type,
            actor=request.actor,
            at=request.at,
            source=request.source,
            trigger=Trigger.MESSAGE
            if event_type in (EventType.REOPENED, EventType.HUMAN_JOINED)
            and request.command is not Command.HAND_OVER
            else trigger,
            reason=request.reason,
            scenario=request.scenario,
        )
        for event_type in event_types
    )
    return Outcome(new_state, events)


def abilities_for_plan(plan: str) -> frozenset[str]:
    """The abilities a plan grants; unknown plans grant none."""
    return PLAN_ABILITIES.get(plan, frozenset())
