"""The handover scenario detector: which of a workspace's scenarios a shopper message fires.

Offline, on the CPU, nothing downloaded. Each scenario is routed by its name and
instruction to one family:

* **asks for a human**: an explicit request for a person, robust to phrasing and typos,
  not fired by "are you a bot?" or "what are your support hours?";
* **money threshold** ("Refund requests over $200"): refund intent plus an amount parsed
  from the message, compared with the threshold parsed from the instruction;
* **frustration** ("Frustrated customers"): VADER sentiment plus conversation signals
  (shouting, profanity, "!!!", complaints, earlier negative messages);
* **anything else**: character n-gram similarity with the instruction and examples.

:func:`default_detector` is what the connector uses; any object with the
:class:`Detector` shape can replace it.
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t

from connector.detection.families import family_for


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    instruction: str
    examples: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Fired:
    scenario: str
    #: in [0, 1]
    score: float


class Detector(t.Protocol):
    def evaluate(self, message: str, scenarios: t.Sequence[Scenario], history: t.Sequence[str] = ()) -> list[Fired]:
        """The scenarios ``message`` fires, highest score first; ``history`` is the shopper's earlier messages."""


#: a scenario fires at this score or above
THRESHOLD = 0.5


class RuleDetector:
    """The default detector: one family per scenario, see the module docstring."""

    def evaluate(self, message: str, scenarios: t.Sequence[Scenario], history: t.Sequence[str] = ()) -> list[Fired]:
        fired = []
        for scenario in scenarios:
            score = family_for(scenario.name, scenario.instruction).score(message, scenario, history)
            if score >= THRESHOLD:
                fired.append(Fired(scenario.name, round(min(1.0, max(0.0, score)), 4)))
        return sorted(fired, key=lambda f: -f.score)


@functools.cache
def default_detector() -> Detector:
    return RuleDetector()
