"""Random command sequences against a tiny reference model written from the help article."""

from __future__ import annotations

import datetime as dt

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import rule

from connector import domain
from connector.domain import Command
from connector.domain import Trigger

AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class Model:
    """The rules, plainly: returns a refusal code, or applies the command and says if anything was logged."""

    def __init__(self) -> None:
        self.status, self.controller = "open", "ai"
        self.ever_handed_over = self.ever_resolved = self.joined = False

    def run(self, command: Command, ability: bool, enabled: bool, automatic: bool, scenario: str | None):
        open_, human = self.status == "open", self.controller == "human"
        if command is Command.HAND_OVER:
            if not ability:
                return "upgrade_required"
            if automatic and not enabled:
                return "handover_disabled"
            if automatic and not scenario:
                return "scenario_required"
            if open_ and human:
                return False
            self.status, self.controller, self.ever_handed_over, self.joined = "open", "human", True, False
            return True
        if command is Command.SUGGEST_HANDOVER:
            if not ability:
                return "upgrade_required"
            if not enabled:
                return "handover_disabled"
            if not scenario:
                return "scenario_required"
            if not open_:
                return "conversation_resolved"
            return not human
        if command is Command.HUMAN_REPLY:
            if not open_:
                return "conversation_resolved"
            if not human:
                return "ai_in_control"
            logged, self.joined = not self.joined, True
            return logged
        if command is Command.AI_REPLY:
            if not open_:
                return "conversation_resolved"
            return "human_in_control" if human else False
        if command is Command.GIVE_BACK:
            if not human:
                return "not_in_human_mode"
            self.controller, self.joined = "ai", False
            return True
        if command is Command.RESOLVE:
            if not open_:
                return "already_resolved"
            self.status, self.ever_resolved = "resolved", True
            return True
        if command is Command.SHOPPER_MESSAGE:
            self.status = "open"
            return not open_
        if command is Command.MARK_UNCLAIMED:
            if not open_:
                return "conversation_resolved"
            if not human:
                return "not_in_human_mode"
            return "already_claimed" if self.joined else True
        raise AssertionError(command)


class HandoverMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = domain.ConversationState()
        self.model = Model()
        self.handed_over_before = False

    @rule(
        command=st.sampled_from(list(Command)),
        ability=st.booleans(),
        enabled=st.booleans(),
        automatic=st.booleans(),
        scenario=st.sampled_from([None, "Frustrated customers"]),
    )
    def command(self, command, ability, enabled, automatic, scenario):
        policy = domain.Policy(abilities=frozenset({"handover_to_human"}) if ability else frozenset(),
                               handover_enabled=enabled)
        request = domain.Request(command=command, actor=domain.Actor("human", "Bo"), at=AT,
                                 trigger=Trigger.AUTOMATIC if automatic else Trigger.MANUAL, scenario=scenario)
        expected = self.model.run(command, ability, enabled, automatic, scenario)
        before = self.state
        try:
            outcome = domain.apply(self.state, request, policy)
        except domain.Refused as refused:
            assert refused.code == expected, (command, before, refused.code, expected)
            return
        assert isinstance(expected, bool), (command, before, expected)
        assert bool(outcome.events) == expected, (command, before, outcome.events)
        self.handed_over_before = self.state.ever_handed_over
        self.state = outcome.state

    @invariant()
    def agrees_with_the_model(self):
        s, m = self.state, self.model
        assert (s.status.value, s.controller.value) == (m.status, m.controller)
        assert (s.ever_handed_over, s.ever_resolved, s.human_joined) == (m.ever_handed_over, m.ever_resolved, m.joined)

    @invariant()
    def derived_rules(self):
        s = self.state
        assert s.needs_you == (s.status is domain.Status.OPEN and s.controller is domain.Controller.HUMAN)
        assert s.ai_may_reply == (s.status is domain.Status.OPEN and s.controller is domain.Controller.AI)
        assert not (s.is_ai_resolution and s.ever_handed_over)
        assert s.ever_handed_over or not self.handed_over_before  # once handed over, always


HandoverMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestHandover = HandoverMachine.TestCase
