"""Without the model package the detector falls back to its patterns, and says so in no error."""

from __future__ import annotations

import pytest

from connector.detection import Scenario
from connector.detection import default_detector
from connector.detection import embeddings

HUMAN = Scenario("Asks for a human", "The shopper asks to talk to a person")
ANGRY = Scenario("Frustrated customers", "The shopper is angry or frustrated")
SIZES = Scenario("Sizing questions", "Questions about which size to pick", ("which size should I take",))


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr(embeddings, "encoding", lambda text: None)


@pytest.mark.parametrize("message, fired", [
    ("can I speak to a real person?", ["Asks for a human"]),
    ("are you a bot?", []),
    ("what are your support hours?", []),
    ("THIS IS RIDICULOUS, I HAVE BEEN WAITING FOR WEEKS", ["Frustrated customers"]),
    ("which size should I take for these boots?", ["Sizing questions"]),
    ("where is my parcel?", []),
])
def test_patterns_only(no_model, message, fired):
    assert [f.scenario for f in default_detector().evaluate(message, [HUMAN, ANGRY, SIZES])] == fired
