"""Every row of the transition table, allowed and refused, from an expectation table of its own."""

from __future__ import annotations

import datetime as dt

import pytest

from connector import domain
from connector.domain import Command
from connector.domain import ConversationState
from connector.domain import Controller
from connector.domain import Status
from connector.domain import Trigger

AT = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
PRO = domain.Policy(abilities=frozenset({"handover_to_human"}), handover_enabled=True)
PRO_OFF = domain.Policy(abilities=frozenset({"handover_to_human"}), handover_enabled=False)
BASIC = domain.Policy(abilities=frozenset(), handover_enabled=False)

OPEN_AI = ConversationState(Status.OPEN, Controller.AI)
OPEN_HUMAN = ConversationState(Status.OPEN, Controller.HUMAN, ever_handed_over=True)
RESOLVED_AI = ConversationState(Status.RESOLVED, Controller.AI, ever_resolved=True)
RESOLVED_HUMAN = ConversationState(Status.RESOLVED, Controller.HUMAN, ever_handed_over=True, ever_resolved=True)
STATES = {"open/ai": OPEN_AI, "open/human": OPEN_HUMAN, "resolved/ai": RESOLVED_AI, "resolved/human": RESOLVED_HUMAN}


def request(command, trigger=Trigger.MANUAL, scenario=None, actor=domain.Actor("human", "Bo")):
    return domain.Request(command=command, actor=actor, at=AT, source="console", reason="why",
                          trigger=trigger, scenario=scenario)


# (command, state) -> (status, controller, events) when allowed, or the refusal code
EXPECTED = {
    (Command.HAND_OVER, "open/ai"): ("open", "human", ["handed_over"]),
    (Command.HAND_OVER, "open/human"): ("open", "human", []),
    (Command.HAND_OVER, "resolved/ai"): ("open", "human", ["reopened", "handed_over"]),
    (Command.HAND_OVER, "resolved/human"): ("open", "human", ["reopened", "handed_over"]),
    (Command.SUGGEST_HANDOVER, "open/ai"): ("open", "ai", ["handover_suggested"]),
    (Command.SUGGEST_HANDOVER, "open/human"): ("open", "human", []),
    (Command.SUGGEST_HANDOVER, "resolved/ai"): "conversation_resolved",
    (Command.SUGGEST_HANDOVER, "resolved/human"): "conversation_resolved",
    (Command.HUMAN_REPLY, "open/ai"): "ai_in_control",
    (Command.HUMAN_REPLY, "open/human"): ("open", "human", ["human_joined"]),
    (Command.HUMAN_REPLY, "resolved/ai"): "conversation_resolved",
    (Command.HUMAN_REPLY, "resolved/human"): "conversation_resolved",
    (Command.AI_REPLY, "open/ai"): ("open", "ai", []),
    (Command.AI_REPLY, "open/human"): "human_in_control",
    (Command.AI_REPLY, "resolved/ai"): "conversation_resolved",
    (Command.AI_REPLY, "resolved/human"): "conversation_resolved",
    (Command.GIVE_BACK, "open/ai"): "not_in_human_mode",
    (Command.GIVE_BACK, "open/human"): ("open", "ai", ["given_back"]),
    (Command.GIVE_BACK, "resolved/ai"): "not_in_human_mode",
    (Command.GIVE_BACK, "resolved/human"): ("resolved", "ai", ["given_back"]),
    (Command.RESOLVE, "open/ai"): ("resolved", "ai", ["resolved"]),
    (Command.RESOLVE, "open/human"): ("resolved", "human", ["resolved"]),
    (Command.RESOLVE, "resolved/ai"): "already_resolved",
    (Command.RESOLVE, "resolved/human"): "already_resolved",
    (Command.SHOPPER_MESSAGE, "open/ai"): ("open", "ai", []),
    (Command.SHOPPER_MESSAGE, "open/human"): ("open", "human", []),
    (Command.SHOPPER_MESSAGE, "resolved/ai"): ("open", "ai", ["reopened"]),
    (Command.SHOPPER_MESSAGE, "resolved/human"): ("open", "human", ["reopened"]),
    (Command.MARK_UNCLAIMED, "open/ai"): "not_in_human_mode",
    (Command.MARK_UNCLAIMED, "open/human"): ("open", "human", ["handover_unclaimed"]),
    (Command.MARK_UNCLAIMED, "resolved/ai"): "conversation_resolved",
    (Command.MARK_UNCLAIMED, "resolved/human"): "conversation_resolved",
}


def test_the_expectations_cover_every_command_in_every_state():
    assert {command for command, _ in EXPECTED} == set(Command)
    assert len(EXPECTED) == len(Command) * len(STATES)


@pytest.mark.parametrize("command, state_name", sorted(EXPECTED, key=str))
def test_transition(command, state_name):
    state = STATES[state_name]
    expected = EXPECTED[(command, state_name)]
    scenario = "Refunds" if command is Command.SUGGEST_HANDOVER else None
    if isinstance(expected, str):
        with pytest.raises(domain.Refused) as refused:
            domain.apply(state, request(command, scenario=scenario), PRO)
        assert refused.value.code == expected
        return
    outcome = domain.apply(state, request(command, scenario=scenario), PRO)
    status, controller, events = expected
    assert (outcome.state.status.value, outcome.state.controller.value) == (status, controller)
    assert [e.type.value for e in outcome.events] == events
    for event in outcome.events:
        assert (event.actor, event.at, event.source, event.reason) == (domain.Actor("human", "Bo"), AT, "console", "why")


def test_hand_over_sets_ever_handed_over_and_resets_human_joined():
    state = ConversationState(Status.OPEN, Controller.AI, human_joined=True)
    outcome = domain.apply(state, request(Command.HAND_OVER), PRO)
    assert outcome.state.ever_handed_over and not outcome.state.human_joined
    assert outcome.events[0].trigger is Trigger.MANUAL


@pytest.mark.parametrize("command", [Command.HAND_OVER, Command.SUGGEST_HANDOVER])
def test_without_the_ability_handover_is_upgrade_required(command):
    with pytest.raises(domain.Refused) as refused:
        domain.apply(OPEN_AI, request(command, scenario="x"), BASIC)
    assert refused.value.code == "upgrade_required"


def test_manual_hand_over_needs_the_plan_not_the_switch():
    assert domain.apply(OPEN_AI, request(Command.HAND_OVER), PRO_OFF).state.controller is Controller.HUMAN


def test_automatic_hand_over_needs_the_switch_and_a_scenario():
    with pytest.raises(domain.Refused) as off:
        domain.apply(OPEN_AI, request(Command.HAND_OVER, Trigger.AUTOMATIC, "Angry"), PRO_OFF)
    assert off.value.code == "handover_disabled"
    with pytest.raises(domain.Refused) as unnamed:
        domain.apply(OPEN_AI, request(Command.HAND_OVER, Trigger.AUTOMATIC), PRO)
    assert unnamed.value.code == "scenario_required"
    outcome = domain.apply(OPEN_AI, request(Command.HAND_OVER, Trigger.AUTOMATIC, "Angry"), PRO)
    [event] = outcome.events
    assert (event.trigger, event.scenario) == (Trigger.AUTOMATIC, "Angry")


def test_suggestion_needs_the_switch_and_keeps_the_ai_in_charge():
    with pytest.raises(domain.Refused) as off:
        domain.apply(OPEN_AI, request(Command.SUGGEST_HANDOVER, Trigger.AUTOMATIC, "Angry"), PRO_OFF)
    assert off.value.code == "handover_disabled"
    outcome = domain.apply(OPEN_AI, request(Command.SUGGEST_HANDOVER, Trigger.AUTOMATIC, "Angry"), PRO)
    assert outcome.state == OPEN_AI


def test_human_joined_only_on_the_first_reply_after_each_hand_over():
    state = domain.apply(OPEN_AI, request(Command.HAND_OVER), PRO).state
    first = domain.apply(state, request(Command.HUMAN_REPLY), PRO)
    assert [e.type.value for e in first.events] == ["human_joined"]
    assert first.events[0].trigger is Trigger.MESSAGE
    second = domain.apply(first.state, request(Command.HUMAN_REPLY), PRO)
    assert second.events == ()
    back = domain.apply(second.state, request(Command.GIVE_BACK), PRO).state
    again = domain.apply(domain.apply(back, request(Command.HAND_OVER), PRO).state, request(Command.HUMAN_REPLY), PRO)
    assert [e.type.value for e in again.events] == ["human_joined"]


def test_unclaimed_only_until_a_human_replies():
    joined = domain.apply(OPEN_HUMAN, request(Command.HUMAN_REPLY), PRO).state
    with pytest.raises(domain.Refused) as refused:
        domain.apply(joined, request(Command.MARK_UNCLAIMED), PRO)
    assert refused.value.code == "already_claimed"
    outcome = domain.apply(OPEN_HUMAN, request(Command.MARK_UNCLAIMED), PRO)
    assert outcome.state == OPEN_HUMAN and [e.type.value for e in outcome.events] == ["handover_unclaimed"]


def test_the_quota_rule():
    ai_resolved = domain.apply(OPEN_AI, request(Command.RESOLVE), PRO).state
    assert ai_resolved.is_ai_resolution
    state = OPEN_AI
    for _ in range(20):
        state = domain.apply(state, request(Command.AI_REPLY), PRO).state
    for command in (Command.HAND_OVER, Command.GIVE_BACK):
        state = domain.apply(state, request(command), PRO).state
    for _ in range(20):
        state = domain.apply(state, request(Command.AI_REPLY), PRO).state
    state = domain.apply(state, request(Command.RESOLVE), PRO).state
    assert state.ever_handed_over and not state.is_ai_resolution


@pytest.mark.parametrize("state, needs_you, ai_may_reply", [
    (OPEN_AI, False, True), (OPEN_HUMAN, True, False), (RESOLVED_AI, False, False), (RESOLVED_HUMAN, False, False),
])
def test_derived_flags(state, needs_you, ai_may_reply):
    assert (state.needs_you, state.ai_may_reply) == (needs_you, ai_may_reply)


def test_plans():
    assert "handover_to_human" in domain.abilities_for_plan("pro")
    assert "handover_to_human" not in domain.abilities_for_plan("basic")
    assert domain.abilities_for_plan("unknown") == frozenset()
