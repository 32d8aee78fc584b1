"""The trained heads: one logistic regression per family over the message's features.

Features are the MiniLM sentence embedding (384 numbers, unit length) followed by a few
pattern signals from :mod:`connector.detection.families` (:func:`features`). The weights
and each family's thresholds come from ``weights.json`` beside this module, written by
``python -m connector.detection.train`` from the development data; nothing is downloaded.

Each head has three thresholds, one per sensitivity, chosen by the training script on
out-of-fold predictions (each training data set scored by a head that never saw it):
``low`` maximises the worst training set's F0.5 (precision first: the default in
Automate mode), ``medium`` the worst set's F1 (the default in Semi-automate mode),
``high`` the F2 of all sets pooled (recall first). A higher sensitivity never fires less.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights.json"
SENSITIVITIES = ("low", "medium", "high")
#: precision first: what a scenario gets when neither it nor the workspace says
DEFAULT_SENSITIVITY = "low"


@dataclasses.dataclass(frozen=True)
class Head:
    family: str
    weights: np.ndarray
    bias: float
    #: sensitivity -> probability at which the family fires
    thresholds: dict[str, float]
    #: names of the pattern features after the embedding, in order
    extra: tuple[str, ...]

    def logit(self, features: np.ndarray) -> float:
        return float(features @ self.weights) + self.bias

    def probability(self, features: np.ndarray) -> float:
        return sigmoid(self.logit(features))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def dump(heads: dict[str, Head], meta: dict, path: Path = WEIGHTS) -> None:
    """Write the heads as JSON (6 significant digits: small, diffable, deterministic)."""
    doc = {"meta": meta, "heads": {
        name: {"bias": float(f"{h.bias:.6g}"), "weights": [float(f"{w:.6g}") for w in h.weights],
               "thresholds": {k: float(f"{v:.6g}") for k, v in h.thresholds.items()}, "extra": list(h.extra)}
        for name, h in heads.items()}}
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def parse(doc: dict) -> dict[str, Head]:
    return {name: Head(name, np.asarray(h["weights"], dtype=np.float32), float(h["bias"]),
                       dict(h["thresholds"]), tuple(h["extra"]))
            for name, h in doc["heads"].items()}


@functools.cache
def committed() -> dict[str, Head]:
    """The heads in the committed weights file ({} when it is missing)."""
    if not WEIGHTS.exists():
        return {}
    return parse(json.loads(WEIGHTS.read_text(encoding="utf-8")))
