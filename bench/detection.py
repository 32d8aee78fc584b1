"""The handover-scenario detector on labelled customer-support utterances.

    .venv/bin/python bench/detection.py [--data PATH]

Default data: ``../shared/data/bitext/Bitext_Sample_Customer_Support_Training_Dataset.csv``
(Bitext sample, CDLA-Sharing 1.0; development data, synthetic and templated, so the
figures are optimistic for real traffic). Scenarios and labels:

* "Asks for a human": positives are the ``contact_human_agent`` intent;
* "Refund requests over $200": positives are utterances with refund intent
  (``get_refund``, ``track_refund``, ``check_refund_policy``) whose text states an amount
  above 200 (labelled by this script's own simple pattern, independent of the detector);
* "Frustrated customers": positives are the ``complaint`` intent.

``contact_customer_service`` (asking how to reach support) is ambiguous for "asks for a
human" and is left out of that scenario's negatives and of the false-handover rate.
The false-handover rate counts utterances of unrelated intents that fire any scenario.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.detection import Scenario  # noqa: E402
from connector.detection import default_detector  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "bitext" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
SCENARIOS = [
    Scenario("Asks for a human", "The shopper asks to talk to a person"),
    Scenario("Refund requests over $200", "Refund requests over $200"),
    Scenario("Frustrated customers", "The shopper is frustrated, angry or complaining"),
]
REFUND_INTENTS = {"get_refund", "track_refund", "check_refund_policy"}
RELATED = {"contact_human_agent", "contact_customer_service", "complaint", "payment_issue"} | REFUND_INTENTS
LABEL_AMOUNT = re.compile(r"(?:[$€£]\s?(\d[\d,]*)|(\d[\d,]*)\s?(?:dollars|usd|euros?|eur|pounds|gbp|bucks))", re.I)


def over_200(text: str) -> bool:
    return any(float((a or b).replace(",", "")) > 200 for a, b in LABEL_AMOUNT.findall(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    args = parser.parse_args()
    with args.data.open(newline="", encoding="utf-8") as handle:
        rows = [(row["instruction"], row["intent"]) for row in csv.DictReader(handle)]
    detector = default_detector()
    labels = {
        "Asks for a human": lambda text, intent: intent == "contact_human_agent",
        "Refund requests over $200": lambda text, intent: intent in REFUND_INTENTS and over_200(text),
        "Frustrated customers": lambda text, intent: intent == "complaint",
    }
    counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in labels}
    unrelated = false_handovers = 0
    timings = []
    for text, intent in rows:
        started = time.perf_counter()
        fired = {f.scenario for f in detector.evaluate(text, SCENARIOS)}
        timings.append(time.perf_counter() - started)
        for name, is_positive in labels.items():
            if name == "Asks for a human" and intent == "contact_customer_service":
                continue
            positive, hit = is_positive(text, intent), name in fired
            counts[name]["tp" if positive and hit else "fp" if hit else "fn" if positive else "tn"] = (
                counts[name].get("tp" if positive and hit else "fp" if hit else "fn" if positive else "tn", 0) + 1)
        if intent not in RELATED:
            unrelated += 1
            false_handovers += bool(fired)
    print(f"{len(rows)} utterances; development data (synthetic), see the docstring")
    print(f"{'scenario':<28}{'precision':>10}{'recall':>8}{'F1':>7}{'positives':>11}")
    for name, c in counts.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(f"{name:<28}{precision:>10.3f}{recall:>8.3f}{f1:>7.3f}{c['tp'] + c['fn']:>11}")
    print(f"false handovers on unrelated intents: {false_handovers / unrelated:.2%} ({false_handovers} of {unrelated})")
    timings.sort()
    print(f"detection time per message: p50 {statistics.median(timings) * 1000:.2f} ms, "
          f"p99 {timings[int(0.99 * len(timings))] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
