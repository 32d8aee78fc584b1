"""The handover scenario detector: which of a workspace's scenarios a shopper message fires.

Offline, on the CPU, nothing downloaded. Each scenario is routed by its name and
instruction to one family (:mod:`connector.detection.families`):

* **asks for a human**: hand-written patterns for explicit requests and for the hard
  negatives ("are you a bot?", "what are your support hours?", "how do I reach sales?"),
  in front of a logistic-regression head on the MiniLM sentence embedding (layer 3 of 6,
  mean pooled) and the patterns' signals;
* **money threshold** ("Refund requests over $200"): refund intent plus an amount parsed
  from the message, compared with the threshold parsed from the instruction;
* **frustration** ("Frustrated customers"): a head on the embedding and sentiment signals,
  lifted by the conversation (earlier frustrated messages, the same question again, the
  AI failing to answer);
* **anything else**: sentence similarity with the instruction and examples.

The message is embedded once for all scenarios, and cut to
:data:`~connector.detection.families.MAX_CHARS` characters before any pattern runs. Each
scenario may carry a ``sensitivity`` (``low``: fires only when sure; ``medium``;
``high``: catches more, with more false fires); the heads' thresholds for each come from
the training script (:mod:`connector.detection.train`).

:func:`default_detector` is what the connector uses; any object with the
:class:`Detector` shape can replace it.
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t

from connector.detection.families import Context
from connector.detection.families import family_for
from connector.detection.head import DEFAULT_SENSITIVITY
from connector.detection.head import SENSITIVITIES

__all__ = ["DEFAULT_SENSITIVITY", "SENSITIVITIES", "Detector", "Fired", "HybridDetector", "Scenario", "default_detector"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    instruction: str
    examples: tuple[str, ...] = ()
    #: ``low``, ``medium`` or ``high``; None: :data:`DEFAULT_SENSITIVITY`
    sensitivity: str | None = None


@dataclasses.dataclass(frozen=True)
class Fired:
    scenario: str
    #: in [0, 1]
    score: float
    #: which family scored it (``asks_for_human``, ``money_threshold``, ``frustration``, ``free_text``)
    family: str = ""
    #: what made it fire: the words of the request, the amount, the closest example
    evidence: str = ""


class Detector(t.Protocol):
    def evaluate(self, message: str, scenarios: t.Sequence[Scenario], history: t.Sequence[str] = ()) -> list[Fired]:
        """The scenarios ``message`` fires, highest score first; ``history`` is the shopper's earlier messages."""


class HybridDetector:
    """The default detector: one family per scenario, see the module docstring."""

    def evaluate(self, message: str, scenarios: t.Sequence[Scenario], history: t.Sequence[str] = (),
                 ai_replies: t.Sequence[str] = ()) -> list[Fired]:
        """:param ai_replies: the AI's earlier replies, oldest first (for "the AI failed to answer")."""
        if not scenarios:
            return []
        ctx = Context(message, history, ai_replies)
        fired = []
        for scenario in scenarios:
            score = family_for(scenario.name, scenario.instruction).score(
                ctx, scenario, scenario.sensitivity or DEFAULT_SENSITIVITY)
            if score.value >= score.threshold:
                fired.append(Fired(scenario.name, round(min(1.0, max(0.0, score.value)), 4), score.family, score.evidence))
        return sorted(fired, key=lambda f: -f.score)


#: the name the detector had before the trained heads
RuleDetector = HybridDetector


@functools.cache
def default_detector() -> Detector:
    return HybridDetector()
