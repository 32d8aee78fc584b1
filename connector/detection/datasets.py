"""The labelled development sets, read the same way by the training script and the bench.

Each set is one folder of ``../shared/data/`` (see its ``README.md``) or the repo's own
development set (:data:`OWN`, paraphrases written for this project). Rows become
:class:`Row` (text, family label, hard-negative flag). Texts that recur across folders are
kept only in the first folder (sorted by name, own set last), so a text never sits on both
sides of a leave-one-dataset-out split.

Not used at run time: the detector reads only the committed weights.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the shared data folder next to the project checkout
SHARED = ROOT.parent / "shared" / "data"
#: this project's own development set (paraphrases written for it; never reported as unseen)
OWN = Path(__file__).resolve().parent / "devset"
OWN_NAME = "own_devset"
BITEXT_CSV = "Bitext_Sample_Customer_Support_Training_Dataset.csv"

HUMAN = "asks_for_human"
FRUSTRATION = "frustration"
FAMILIES = (HUMAN, FRUSTRATION)


@dataclasses.dataclass(frozen=True)
class Row:
    text: str
    #: True for a positive of the family
    positive: bool
    #: a hard negative ("are you a bot?", "what are your hours?"), counted on its own
    hard: bool
    #: the upstream intent or label, for reports
    orig: str


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _bitext(folder: Path) -> dict[str, list[Row]]:
    with (folder / BITEXT_CSV).open(newline="", encoding="utf-8") as handle:
        rows = [(row["instruction"], row["intent"]) for row in csv.DictReader(handle)]
    # contact_customer_service ("I have to talk to customer support", "what hours can I call")
    # mixes requests for a person with contact questions: left out of asks_for_human
    human = [Row(text, intent == "contact_human_agent", False, intent)
             for text, intent in rows if intent != "contact_customer_service"]
    frustration = [Row(text, intent == "complaint", False, intent) for text, intent in rows]
    return {HUMAN: human, FRUSTRATION: frustration}


def _own(path: Path) -> list[dict]:
    """``LABEL<TAB>text`` lines (``#`` comments), as the shared sets' rows."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append({"text": text, "label": label, "orig": label})
    return rows


def _folder(folder: Path) -> dict[str, list[Row]]:
    if (folder / BITEXT_CSV).exists():
        return _bitext(folder)
    sets: dict[str, list[Row]] = {}
    for family, name, positive, hard in ((HUMAN, "handoff", "asks_for_human", ("bot_challenge", "contact_other")),
                                         (FRUSTRATION, "frustration", "frustrated", ())):
        if (folder / f"{name}.jsonl").exists():
            raw = _jsonl(folder / f"{name}.jsonl")
        elif (folder / f"{name}.txt").exists():
            raw = _own(folder / f"{name}.txt")
        else:
            continue
        sets[family] = [Row(r["text"], r["label"] == positive, r["label"] in hard, str(r.get("orig") or r["label"]))
                        for r in raw]
    return sets


def load(shared: Path = SHARED, own: bool = True) -> dict[str, dict[str, list[Row]]]:
    """``{family: {dataset: rows}}``, deduplicated across datasets (first folder wins)."""
    folders = sorted(p for p in shared.iterdir() if p.is_dir()) if shared.exists() else []
    named = [(p.name, p) for p in folders] + ([(OWN_NAME, OWN)] if own and OWN.exists() else [])
    out: dict[str, dict[str, list[Row]]] = {family: {} for family in FAMILIES}
    seen: dict[str, set[str]] = {family: set() for family in FAMILIES}
    for name, folder in named:
        for family, rows in _folder(folder).items():
            kept = []
            for row in rows:
                key = _key(row.text)
                if key and key not in seen[family]:
                    seen[family].add(key)
                    kept.append(row)
            if kept:
                out[family][name] = kept
    return out
