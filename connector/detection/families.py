"""The detector's families: asks for a human, money thresholds, frustration, free text.

Every family reads a :class:`Context`: the message cut to :data:`MAX_CHARS` before any
pattern runs, its sentence embedding (computed once, shared by every scenario) and the
conversation so far. Every pattern here is linear in its input: no nested or adjacent
quantifiers that can split one run of characters several ways (numbers start only where
no digit precedes them, runs of spaces are matched possessively), and no ``.*`` between
two repeatable words.
"""

from __future__ import annotations

import functools
import math
import re
import typing as t
from collections import Counter

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz import process

from connector.detection import embeddings
from connector.detection import head as heads
from connector.detection.patterns import COMPLAINT
from connector.detection.patterns import FRUSTRATION_WORDS
from connector.detection.patterns import PROFANITY
from connector.detection.patterns import WORD
from connector.detection.patterns import HumanSignals
from connector.detection.patterns import human_signals

if t.TYPE_CHECKING:
    from connector.detection import Scenario

#: messages are cut to this many characters before any pattern or the model sees them
#: (the model reads at most 128 tokens anyway, about 500 characters)
MAX_CHARS = 2000


def bounded(text: str) -> str:
    return text[:MAX_CHARS]


class Context:
    """One message and its conversation, with what every family needs computed once."""

    def __init__(self, message: str, history: t.Sequence[str] = (), ai_replies: t.Sequence[str] = (),
                 vector: t.Any = "compute") -> None:
        self.text = bounded(message)
        self.lower = self.text.lower()
        self.history = [bounded(h) for h in history]
        self.ai_replies = [bounded(a) for a in ai_replies]
        self._vector = vector
        self._memo: dict[str, t.Any] = {}

    @property
    def vector(self) -> np.ndarray | None:
        """What the heads read of the message (:func:`embeddings.embed_for_heads`), or None without the model."""
        if isinstance(self._vector, str):
            self._vector = embeddings.embed_for_heads(self.text)
        return self._vector

    @property
    def full_vector(self) -> np.ndarray | None:
        """The message's sentence embedding (every layer; the same forward pass, carried on)."""
        return embeddings.embed(self.text)

    def memo(self, key: str, compute: t.Callable[[], t.Any]) -> t.Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


class Score(t.NamedTuple):
    #: in [0, 1]
    value: float
    #: fires at value >= threshold
    threshold: float
    family: str
    #: the words, pattern or example that made the score
    evidence: str


class Family(t.Protocol):
    name: str

    def score(self, ctx: Context, scenario: "Scenario", sensitivity: str) -> Score: ...


def _threshold(head: heads.Head, sensitivity: str) -> float:
    return head.thresholds.get(sensitivity, head.thresholds[heads.DEFAULT_SENSITIVITY])


# -- asks for a human --------------------------------------------------------------------

HUMAN_EXTRA = ("request", "people", "hard_negative", "short")


def human_features(ctx: Context) -> np.ndarray | None:
    """The head's input for "asks for a human", or None without the model."""
    if ctx.vector is None:
        return None
    s = ctx.memo("human", lambda: human_signals(ctx.lower))
    extra = [float(s.request), float(s.people), float(s.hard_negative is not None), float(s.short)]
    return np.concatenate([ctx.vector, np.asarray(extra, dtype=np.float32)])


class AsksForHuman:
    """An explicit request for a person fires; "are you a bot?" and "what are your hours?"
    do not (the patterns' hard negatives veto the head unless a request remains once the
    question is taken out); everything else is the trained head's call."""

    name = "asks_for_human"

    def score(self, ctx: Context, scenario: "Scenario", sensitivity: str) -> Score:
        s = ctx.memo("human", lambda: human_signals(ctx.lower))
        head = heads.committed().get(self.name)
        features = human_features(ctx)
        if head is None or features is None:  # patterns only (no model installed)
            value = 0.9 if s.request else 0.0
            return Score(value, 0.5, self.name, s.evidence or "")
        value = combine_human(head.probability(features), s)
        if s.request:
            evidence = f"asks for {s.evidence!r}"
        elif s.hard_negative is not None:
            evidence = f"not a request: {s.hard_negative!r}"
        else:
            evidence = "model"
        return Score(value, _threshold(head, sensitivity), self.name, evidence)


#: an explicit request scores at least this; a hard negative at most VETO
FLOOR = 0.9
VETO = 0.05


def combine_human(probability: float, s: HumanSignals) -> float:
    """The pattern layer over the head: requests fire, hard negatives do not."""
    if s.request:
        return max(FLOOR, probability)
    if s.hard_negative is not None:
        return min(VETO, probability)
    return probability


# -- money thresholds --------------------------------------------------------------------

REFUND = re.compile(r"\b(refund\w*|reimburs\w*|rebat\w*|restitution|money back|chargeback|charge back|compensat\w*|repay\w*|"
                    r"return (of )?(my|the) (money|payment|funds)|get (my|the) money|credit (back|my))\b")
CURRENCIES = {"$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "€": "EUR", "eur": "EUR",
              "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP"}
CURRENCY = r"(\$|€|£|usd|eur|gbp|dollars?|euros?|pounds?|bucks)"
#: a number starts only where no digit or separator precedes it, so a run of digits is
#: tried from one place, not from each of its characters; groups are possessive, so a
#: failed match gives nothing back to try again
NUMBER = r"(?<![\d.,])(\d{1,3}(?:[,.]\d{3})++(?![\d])|\d++(?:\.\d++)?+)\s*+(k(?![a-z]))?+"
AMOUNT_BEFORE = re.compile(CURRENCY + r"\s*+" + NUMBER, re.I)
AMOUNT_AFTER = re.compile(NUMBER + r"\s*+" + CURRENCY, re.I)
BARE_AMOUNT = re.compile(r"\b(?:refund|reimbursement|amount|sum|total)\s++(?:(?:of|for|is)\s*+)?+" + NUMBER + r"\b", re.I)
THRESHOLD = re.compile(r"(over|above|more than|greater than|exceeding|exceeds|larger than|bigger than|>)\s*+", re.I)
GROUPED = re.compile(r"\d{1,3}(?:[,.]\d{3})+")
DIGITS = re.compile(r"(?<![\d,])(\d[\d,]*+)")


def _number(raw: str, thousands: str | None) -> float:
    if GROUPED.fullmatch(raw):
        raw = re.sub(r"[,.]", "", raw)
    value = float(raw[:40])  # more digits than any price: the magnitude is all that matters
    if len(raw.split(".")[0]) > 40:
        value = math.inf
    return value * 1000 if thousands else value


def amounts(text: str) -> list[tuple[float, str | None]]:
    """(value, currency) pairs in ``text``; currency None when only the context says money."""
    text = bounded(text)
    found: list[tuple[float, str | None]] = []
    for match in AMOUNT_BEFORE.finditer(text):
        found.append((_number(match.group(2), match.group(3)), CURRENCIES[match.group(1).lower()]))
    for match in AMOUNT_AFTER.finditer(text):
        found.append((_number(match.group(1), match.group(2)), CURRENCIES[match.group(3).lower()]))
    if not found:
        for match in BARE_AMOUNT.finditer(text):
            if len(match.group(1).replace(",", "")) < 6:  # long digit runs are order numbers
                found.append((_number(match.group(1), match.group(2)), None))
    return found


@functools.lru_cache(maxsize=256)
def parse_threshold(instruction: str) -> tuple[float, str | None] | None:
    match = THRESHOLD.search(bounded(instruction))
    if match is None:
        return None
    after = bounded(instruction)[match.end():]
    parsed = amounts(after) or [(float(m.group(1).replace(",", "")[:40]), None) for m in DIGITS.finditer(after)][:1]
    return parsed[0] if parsed else None


REFUND_WORDS = ["refund", "reimburse", "reimbursement", "rebate", "rebating", "restitution", "compensation",
                "chargeback", "refunded"]


def refund_intent(text: str) -> bool:
    """Refund words, typos included ("reimbvurse", "rebatingg")."""
    if REFUND.search(text):
        return True
    return any(
        5 <= len(word) <= 20 and process.extractOne(word, REFUND_WORDS, scorer=fuzz.ratio, score_cutoff=78) is not None
        for word in set(WORD.findall(text))
    )


class MoneyThreshold:
    name = "money_threshold"

    def score(self, ctx: Context, scenario: "Scenario", sensitivity: str) -> Score:
        if not refund_intent(ctx.lower):
            return Score(0.0, 0.5, self.name, "")
        threshold = parse_threshold(scenario.instruction) or parse_threshold(scenario.name)
        if threshold is None:
            return Score(0.7, 0.5, self.name, "a refund request")  # no amount in the scenario: any refund
        limit, currency = threshold
        for value, found_currency in amounts(ctx.text):
            if currency and found_currency and currency != found_currency:
                continue  # no exchange rates here: other currencies do not compare
            if value > limit:
                return Score(0.95, 0.5, self.name, f"a refund of {value:g} {found_currency or ''}".strip())
        return Score(0.0, 0.5, self.name, "")


# -- frustration -------------------------------------------------------------------------

FRUSTRATION_EXTRA = ("vader_negative", "vader_positive", "shouting", "exclaims", "profanity", "complaint",
                     "frustration_words", "question")
COMPLAINT_WORDS = ["complaint", "complain", "reclamation", "grievance"]
NOT_COMPLAINT = {"company", "companies", "complete", "completed", "compliant", "compliance", "campaign", "complex"}
CLAIM = re.compile(r"\bclaims?\b")
AGAINST = re.compile(r"\b(against|about)\b")
#: the AI did not answer ("Sorry, I didn't get that")
AI_FAILED = re.compile(r"\b(sorry,? i (didn't|did not|don't|do not|can't|cannot|couldn't) (understand|get|follow|help|find|answer)"
                       r"|i'm not sure (i understand|what you mean)|could you (rephrase|say that again)|i (can't|cannot) help with that)\b")


def _fuzzy_complaint(text: str) -> bool:
    claim = CLAIM.search(text)
    return any(
        6 <= len(word) <= 20 and word not in NOT_COMPLAINT
        and process.extractOne(word, COMPLAINT_WORDS, scorer=fuzz.ratio, score_cutoff=82) is not None
        for word in set(WORD.findall(text))
    ) or bool(claim and AGAINST.search(text, claim.end()))


@functools.cache
def _vader() -> t.Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def frustration_signals(message: str) -> dict[str, float]:
    text = message.lower()
    compound = _vader().polarity_scores(message)["compound"]
    letters = [c for c in message if c.isalpha()]
    return {
        "vader_negative": max(0.0, -compound), "vader_positive": max(0.0, compound),
        "shouting": float(len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7),
        "exclaims": float("!!" in message or "?!" in message), "profanity": float(bool(PROFANITY.search(text))),
        "complaint": float(bool(COMPLAINT.search(text) or _fuzzy_complaint(text))),
        "frustration_words": float(bool(FRUSTRATION_WORDS.search(text))), "question": float("?" in message),
    }


def frustration_score(message: str) -> float:
    """The patterns' own score (used without the model package)."""
    s = frustration_signals(bounded(message))
    return (s["vader_negative"] * 0.5 + 0.3 * s["shouting"] + 0.15 * s["profanity"] + 0.6 * s["complaint"]
            + 0.15 * s["exclaims"] + 0.45 * s["frustration_words"])


def frustration_features(text: str, vector: np.ndarray) -> np.ndarray:
    s = frustration_signals(text)
    return np.concatenate([vector, np.asarray([s[name] for name in FRUSTRATION_EXTRA], dtype=np.float32)])


#: how much each conversation signal adds to the head's log-odds (set by hand: the data
#: sets hold single messages, not conversations, so there is nothing to fit them on)
EARLIER = 1.5
REPEATED = 2.0
AI_FAILING = 1.5
#: a message at least this similar to an earlier one asks it again
SAME_QUESTION = 0.85
#: a message this positive (VADER compound) is not lifted: "thanks, that's perfect"
CALM = 0.4


def combine_frustration(probability: float, lower: str) -> float:
    """The pattern layer over the head: a complaint ("I want to file a complaint") fires."""
    return max(FLOOR, probability) if COMPLAINT.search(lower) else probability


class Frustration:
    """The trained head on the message, lifted by the conversation: earlier frustrated
    messages, the same question asked again, the AI failing to answer."""

    name = "frustration"

    def score(self, ctx: Context, scenario: "Scenario", sensitivity: str) -> Score:
        head = heads.committed().get(self.name)
        if head is None or ctx.vector is None:
            return self._patterns_only(ctx)
        threshold = _threshold(head, sensitivity)
        logit = ctx.memo("frustration", lambda: head.logit(frustration_features(ctx.text, ctx.vector)))
        reasons = []
        if COMPLAINT.search(ctx.lower):
            return Score(combine_frustration(heads.sigmoid(logit), ctx.lower), threshold, self.name, "a complaint")
        if ctx.memo("compound", lambda: _vader().polarity_scores(ctx.text)["compound"]) < CALM:
            lift = 0.0
            recent = ctx.history[-3:]
            earlier = [old for old in recent if self._frustrated(head, old, threshold)]
            if earlier:
                lift += EARLIER * min(len(earlier), 2)
                reasons.append(f"{len(earlier)} earlier frustrated message(s)")
            if any(float(ctx.vector @ v) >= SAME_QUESTION for v in map(embeddings.embed_for_heads, recent) if v is not None):
                lift += REPEATED
                reasons.append("the same question again")
            if ctx.ai_replies and AI_FAILED.search(ctx.ai_replies[-1].lower()):
                lift += AI_FAILING
                reasons.append("the AI did not answer")
            logit += lift
        return Score(heads.sigmoid(logit), threshold, self.name, ", ".join(["model", *reasons]))

    @staticmethod
    def _frustrated(head: heads.Head, text: str, threshold: float) -> bool:
        vector = embeddings.embed_for_heads(text)
        return vector is not None and head.probability(frustration_features(text, vector)) >= threshold

    def _patterns_only(self, ctx: Context) -> Score:
        score = frustration_score(ctx.text)
        if score > 0.2:
            score += 0.15 * min(sum(1 for old in ctx.history[-5:] if frustration_score(old) >= 0.4), 2)
        return Score(min(1.0, score), 0.5, self.name, "patterns")


# -- anything else: sentence similarity with the instruction and examples -----------------


def _grams(text: str, n: int = 3) -> Counter[str]:
    text = " " + re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip() + " "
    return Counter(text[i:i + n] for i in range(max(1, len(text) - n + 1)))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[gram] for gram, count in a.items() if gram in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


#: the free-text score at which each sensitivity fires
FREE_TEXT_THRESHOLDS = {"low": 0.55, "medium": 0.5, "high": 0.45}


class FreeText:
    """Similarity with the instruction and examples: MiniLM sentence embeddings when the
    model package is installed (see :mod:`connector.detection.embeddings`), else
    character trigrams."""

    name = "free_text"

    def score(self, ctx: Context, scenario: "Scenario", sensitivity: str) -> Score:
        references = [bounded(scenario.instruction), *map(bounded, scenario.examples)]
        threshold = FREE_TEXT_THRESHOLDS.get(sensitivity, 0.5)
        vector = ctx.full_vector
        if vector is not None:
            best, closest = max((float(vector @ embeddings.embed(r)), r) for r in references)
            return Score(min(1.0, max(0.0, best / embeddings.FIRES_AT / 2)), threshold, self.name, f"like {closest!r}")
        grams = _grams(ctx.text)
        best, closest = max((_cosine(grams, _grams(r)), r) for r in references)
        return Score(min(1.0, best * 1.25), threshold, self.name, f"like {closest!r}")


# -- routing -----------------------------------------------------------------------------

HUMAN_WORDS = re.compile(r"\b(human|person|agent|representative|people|someone|somebody|operator|staff|talk to|speak to)\b")
MONEY_WORDS = re.compile(r"\b(refund\w*|money|reimburs\w*|chargeback)\b|[$€£]|\b\d++\s*+(dollars?|euros?|pounds?|usd|eur|gbp)\b")
ANGER_WORDS = re.compile(r"\b(frustrat\w*|angry|anger|upset|annoyed|complain\w*|furious|irritat\w*|unhappy|rude|mad)\b")

ASKS_FOR_HUMAN = AsksForHuman()
MONEY = MoneyThreshold()
FRUSTRATED = Frustration()
FREE_TEXT = FreeText()


@functools.lru_cache(maxsize=512)
def family_for(name: str, instruction: str) -> Family:
    text = bounded(f"{name} {instruction}").lower()
    if MONEY_WORDS.search(text):
        return MONEY
    if ANGER_WORDS.search(text):
        return FRUSTRATED
    if HUMAN_WORDS.search(text):
        return ASKS_FOR_HUMAN
    return FREE_TEXT
