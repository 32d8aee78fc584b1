"""What the session view says: markers, author labels, order, the header's lines (pure functions)."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.console import timeline
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message

T0 = dt.datetime(2026, 12, 1, 14, 2, tzinfo=dt.timezone.utc)
TITLES = {"slack": "Slack", "zendesk": "Zendesk"}


def event(pk, type_, *, kind="human", name=None, source="console", trigger="manual", reason=None, scenario=None,
          at=T0):
    return Event(pk=pk, id=f"evt_{pk}", type=type_, actor_kind=kind, actor_name=name, source=source,
                 trigger=trigger, reason=reason, scenario=scenario, at=at)


def message(pk, author, text="hi", name=None, at=T0):
    return Message(pk=pk, id=f"msg_{pk}", author=author, author_name=name, text=text, source="api",
                   attachments=[], created_at=at)


@pytest.mark.parametrize("row, text", [
    (event(1, "handed_over", name="Bo", source="slack"), "Handed over by Bo from Slack"),
    (event(1, "handed_over", name="Admin"), "Handed over by Admin from the console"),
    (event(1, "handed_over", kind="platform", source="api", reason="asked for a human"),
     "Handed over by the chat platform: asked for a human"),
    (event(1, "handed_over", kind="system", name="Handover to human", source="detector", trigger="automatic",
           scenario="Refunds"), "Handed over automatically: scenario “Refunds” fired"),
    (event(1, "handover_suggested", kind="system", source="detector", trigger="automatic", scenario="Angry"),
     "Suggested: scenario “Angry” fired"),
    (event(1, "human_joined", name="Bo", source="slack", trigger="message"), "Bo joined from Slack"),
    (event(1, "given_back", name="Sam", source="zendesk"), "Given back to AI by Sam from Zendesk"),
    (event(1, "given_back", kind="system", source="connector", reason="unclaimed"),
     "Given back to AI: nobody took the hand over in time"),
    (event(1, "resolved", name="Admin"), "Resolved by Admin from the console"),
    (event(1, "reopened", kind="shopper", source="api", trigger="message"), "Reopened by the shopper's message"),
    (event(1, "reopened", name="Bo", source="slack"), "Reopened by Bo from Slack"),
    (event(1, "handover_unclaimed", kind="system", source="connector", trigger="automatic"),
     "Nobody took the hand over in time"),
    (event(1, "something_new", kind="system", source="api"), "Something new by the connector"),
])
def test_every_event_reads_as_a_sentence(row, text):
    assert timeline.marker_text(row, TITLES) == text


@pytest.mark.parametrize("author, name, label", [
    ("ai", "Shop assistant (AI)", ("Shop assistant (AI)", None)),  # not "AI · Shop assistant (AI)"
    ("shopper", "Demo shopper", ("Demo shopper", None)),
    ("human", "Bo", ("Human", "Bo")),
    ("shopper", "Ada", ("Shopper", "Ada")),
    ("ai", None, ("AI", None)),
    ("ai", "AI", ("AI", None)),
    ("ai", "Maia", ("AI", "Maia")),  # "ai" inside a word is not the kind
])
def test_author_lines_say_each_thing_once(author, name, label):
    assert timeline.author_label(message(1, author, name=name)) == label


def test_the_transcript_reads_top_to_bottom():
    later = T0 + dt.timedelta(minutes=1)
    rows = timeline.transcript(
        [message(1, "shopper", at=T0), message(2, "human", name="Bo", at=later),
         message(3, "shopper", at=later + dt.timedelta(minutes=2))],
        [event(1, "handed_over", name="Bo", at=T0),
         event(2, "human_joined", name="Bo", trigger="message", at=later),
         event(3, "resolved", name="Bo", at=later + dt.timedelta(minutes=1)),
         event(4, "reopened", kind="shopper", source="api", trigger="message", at=later + dt.timedelta(minutes=2))],
        TITLES,
    )
    assert [r.id for r in rows] == ["msg_1", "evt_1", "evt_2", "msg_2", "evt_3", "evt_4", "msg_3"]


def conversation(status, controller):
    return Conversation(id="conv_1", status=status, controller=controller)


def test_the_header_tells_the_current_story():
    handed = event(1, "handed_over", name="Admin")
    back = event(2, "given_back", name="Admin")
    resolved = event(3, "resolved", name="Admin")
    reopened = event(4, "reopened", kind="shopper", source="api", trigger="message")
    human, ai = conversation("open", "human"), conversation("open", "ai")
    assert timeline.why(human, [handed], TITLES).text == "Handed over by Admin from the console"
    assert timeline.why(ai, [handed, back], TITLES) is None
    assert timeline.why(conversation("resolved", "ai"), [handed, back, resolved], TITLES).text.startswith("Resolved")
    assert timeline.why(ai, [handed, back, resolved, reopened], TITLES) is None
    suggested = event(5, "handover_suggested", kind="system", source="detector", trigger="automatic", scenario="X")
    assert timeline.why(ai, [handed, back, suggested], TITLES).text == "Suggested: scenario “X” fired"
    again = event(6, "handed_over", name="Bo", source="slack")
    assert timeline.why(human, [handed, back, again], TITLES).text == "Handed over by Bo from Slack"


def test_the_state_line_says_it_once():
    assert timeline.state_line(conversation("resolved", "ai")) == "Resolved"
    assert timeline.state_line(conversation("resolved", "human")) == "Resolved"
    assert timeline.state_line(conversation("open", "ai")) == "The AI is in charge"
    assert timeline.state_line(conversation("open", "human")) == "A human is in charge"
