"""The detector's families: asks for a human, money thresholds, frustration, free text."""

from __future__ import annotations

import functools
import math
import re
import typing as t
from collections import Counter

from rapidfuzz import fuzz
from rapidfuzz import process

from connector.detection import embeddings

if t.TYPE_CHECKING:
    from connector.detection import Scenario


class Family(t.Protocol):
    def score(self, message: str, scenario: "Scenario", history: t.Sequence[str]) -> float: ...


# -- asks for a human --------------------------------------------------------------------

PEOPLE = ["human", "person", "agent", "representative", "operator", "somebody", "someone", "staff",
          "employee", "advisor", "people", "manager", "supervisor", "teammate"]
#: near-misses of PEOPLE that are ordinary words
NOT_PEOPLE = {"assistance", "assistant", "parson", "prison", "poison", "present", "persona", "urgent", "agenda",
              "agency", "anyone", "anything", "something", "sometime", "operation", "operations", "represent",
              "humane", "staffing", "employer", "managed", "manage", "manages", "managing", "purpose", "reason"}
TEAMS = re.compile(r"\b(customer (service|support|care)|support team|service team|support staff|help ?desk|live (chat|support))\b")
ASK = re.compile(
    r"\b(talk|speak|chat|connect|transfer|talking|speaking|chatting|contacting|connecting|"
    r"put me through|get me|give me|want|wanna|need|would like|like to|let me|"
    r"reach|contact|escalate|call|can i|could i|may i|i'd like|please)\b")
REAL = re.compile(r"\b(real|actual|live|human|flesh)\b")
#: questions about the assistant or the service, not requests for a person
NOT_A_REQUEST = re.compile(
    r"\b(are|r) (you|u) (a |an )?(bot|robot|human|real|person|ai|machine)\b|\bis (this|it) (a |an )?(bot|human|robot|ai|person|real)\b"
    r"|\b(support|service|opening|business|office|working) hours\b|\bwhat time\b|\bwhen (are|is) (you|your|the|customer|support)\b"
    r"|\b(e-?mail|phone number|address) (of|for)\b")
WORD = re.compile(r"[a-z']+")
#: "assistant" means a person only as the one to speak to
TO_AN_ASSISTANT = re.compile(r"\b(speak|talk|chat)\w* (with|to) (an? |the |your )?assistant\b")


def _fuzzy_people(words: list[str]) -> bool:
    """A word that is, or is a typo of, a word for a person ("humna", "represenative")."""
    for word in words:
        if word in PEOPLE or word == "rep":
            return True
        if len(word) < 5 or word in NOT_PEOPLE:
            continue
        if process.extractOne(word, PEOPLE, scorer=fuzz.ratio, score_cutoff=80) is not None:
            return True
    return False


class AsksForHuman:
    def score(self, message: str, scenario: "Scenario", history: t.Sequence[str]) -> float:
        text = message.lower()
        if NOT_A_REQUEST.search(text) and not re.search(r"\b(talk|speak|connect|transfer) (to|with)\b", text):
            return 0.0
        words = WORD.findall(text)
        people = _fuzzy_people(words) or bool(TEAMS.search(text) or TO_AN_ASSISTANT.search(text))
        if not people:
            return 0.0
        if ASK.search(text) or REAL.search(text):
            return 0.9
        if len(words) <= 3:  # "human please", "agent!"
            return 0.8
        return 0.3


# -- money thresholds --------------------------------------------------------------------

REFUND = re.compile(r"\b(refund\w*|reimburs\w*|rebat\w*|restitution|money back|chargeback|charge back|compensat\w*|repay\w*|"
                    r"return (of )?(my|the) (money|payment|funds)|get (my|the) money|credit (back|my))\b")
CURRENCIES = {"$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "€": "EUR", "eur": "EUR",
              "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP"}
CURRENCY = r"(\$|€|£|usd|eur|gbp|dollars?|euros?|pounds?|bucks)"
NUMBER = r"(\d{1,3}(?:[,.]\d{3})+|\d+(?:\.\d+)?)\s*(k)?"
AMOUNT_BEFORE = re.compile(CURRENCY + r"\s*" + NUMBER, re.I)
AMOUNT_AFTER = re.compile(NUMBER + r"\s*" + CURRENCY, re.I)
BARE_AMOUNT = re.compile(r"\b(?:refund|reimbursement|amount|sum|total)\s+(?:of|for|is)?\s*" + NUMBER + r"\b", re.I)
THRESHOLD = re.compile(r"(over|above|more than|greater than|exceeding|exceeds|larger than|bigger than|>)\s*", re.I)


def _number(raw: str, thousands: str | None) -> float:
    if re.fullmatch(r"\d{1,3}(?:[,.]\d{3})+", raw):
        raw = re.sub(r"[,.]", "", raw)
    value = float(raw)
    return value * 1000 if thousands else value


def amounts(text: str) -> list[tuple[float, str | None]]:
    """(value, currency) pairs in ``text``; currency None when only the context says money."""
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
    match = THRESHOLD.search(instruction)
    if match is None:
        return None
    after = instruction[match.end():]
    parsed = amounts(after) or [(float(m.group(1).replace(",", "")), None) for m in re.finditer(r"(\d[\d,]*)", after)][:1]
    return parsed[0] if parsed else None


REFUND_WORDS = ["refund", "reimburse", "reimbursement", "rebate", "rebating", "restitution", "compensation",
                "chargeback", "refunded"]


def refund_intent(text: str) -> bool:
    """Refund words, typos included ("reimbvurse", "rebatingg")."""
    if REFUND.search(text):
        return True
    return any(
        len(word) >= 5 and process.extractOne(word, REFUND_WORDS, scorer=fuzz.ratio, score_cutoff=78) is not None
        for word in WORD.findall(text)
    )


class MoneyThreshold:
    def score(self, message: str, scenario: "Scenario", history: t.Sequence[str]) -> float:
        text = message.lower()
        if not refund_intent(text):
            return 0.0
        threshold = parse_threshold(scenario.instruction) or parse_threshold(scenario.name)
        if threshold is None:
            return 0.7  # a refund scenario without an amount: any refund request
        limit, currency = threshold
        for value, found_currency in amounts(message):
            if currency and found_currency and currency != found_currency:
                continue  # no exchange rates here: other currencies do not compare
            if value > limit:
                return 0.95
        return 0.0


# -- frustration -------------------------------------------------------------------------

PROFANITY = re.compile(r"\b(damn|dammit|hell|crap|shit\w*|fuck\w*|wtf|bloody|bullshit|ffs|screw)\b")
FRUSTRATION = re.compile(
    r"\b(ridiculous|unacceptable|worst|useless|terrible|awful|horrible|pathetic|joke|scam|fed up|sick of|tired of|"
    r"disgusted|furious|angry|annoyed|frustrat\w*|outraged|livid|disappointed|still (not|no|waiting|haven't)|"
    r"(second|third|fourth|fifth|\d+(st|nd|rd|th)) time|again\?|no one (helps|answers|replies)|nobody (helps|answers)|"
    r"waste of (time|money)|dissatisfied|unhappy|not happy|poor service|bad service)\b")


COMPLAINT = re.compile(r"\b(complain\w*|complaint\w*|grievance|reclamation|(file|lodge|make|submit|raise|open) (a |an )?"
                       r"(\w+ )?(claim|complaint|grievance))\b")
COMPLAINT_WORDS = ["complaint", "complain", "reclamation", "grievance"]


NOT_COMPLAINT = {"company", "companies", "complete", "completed", "compliant", "compliance", "campaign", "complex"}


def _fuzzy_complaint(text: str) -> bool:
    return any(
        len(word) >= 6 and word not in NOT_COMPLAINT
        and process.extractOne(word, COMPLAINT_WORDS, scorer=fuzz.ratio, score_cutoff=82) is not None
        for word in WORD.findall(text)
    ) or bool(re.search(r"\b(claim|claims)\b.*\b(against|about)\b", text))


@functools.cache
def _vader() -> t.Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def frustration_score(message: str) -> float:
    text = message.lower()
    score = max(0.0, -_vader().polarity_scores(message)["compound"]) * 0.5
    letters = [c for c in message if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        score += 0.3
    if PROFANITY.search(text):
        score += 0.15
    if COMPLAINT.search(text) or _fuzzy_complaint(text):
        score += 0.6
    if "!!" in message or "?!" in message:
        score += 0.15
    if FRUSTRATION.search(text):
        score += 0.45
    return score


class Frustration:
    def score(self, message: str, scenario: "Scenario", history: t.Sequence[str]) -> float:
        score = frustration_score(message)
        if score > 0.2:
            earlier = sum(1 for old in history[-5:] if frustration_score(old) >= 0.4)
            score += 0.15 * min(earlier, 2)
        return min(1.0, score)


# -- anything else: character n-gram similarity -------------------------------------------


def _grams(text: str, n: int = 3) -> Counter[str]:
    text = " " + re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip() + " "
    return Counter(text[i:i + n] for i in range(max(1, len(text) - n + 1)))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[gram] for gram, count in a.items() if gram in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


class FreeText:
    """Similarity with the instruction and examples: MiniLM sentence embeddings when the
    model package is installed (see :mod:`connector.detection.embeddings`), else
    character trigrams."""

    def score(self, message: str, scenario: "Scenario", history: t.Sequence[str]) -> float:
        references = [scenario.instruction, *scenario.examples]
        vector = embeddings.embed(message)
        if vector is not None:
            best = max(float(vector @ embeddings.embed(reference)) for reference in references)
            return min(1.0, max(0.0, best / embeddings.FIRES_AT / 2))
        grams = _grams(message)
        best = max(_cosine(grams, _grams(reference)) for reference in references)
        return min(1.0, best * 1.25)


# -- routing -----------------------------------------------------------------------------

HUMAN_WORDS = re.compile(r"\b(human|person|agent|representative|people|someone|somebody|operator|staff|talk to|speak to)\b")
MONEY_WORDS = re.compile(r"\b(refund\w*|money|reimburs\w*|chargeback)\b|[$€£]|\b\d+\s*(dollars?|euros?|pounds?|usd|eur|gbp)\b")
ANGER_WORDS = re.compile(r"\b(frustrat\w*|angry|anger|upset|annoyed|complain\w*|furious|irritat\w*|unhappy|rude|mad)\b")

ASKS_FOR_HUMAN = AsksForHuman()
MONEY = MoneyThreshold()
FRUSTRATED = Frustration()
FREE_TEXT = FreeText()


@functools.lru_cache(maxsize=512)
def family_for(name: str, instruction: str) -> Family:
    text = f"{name} {instruction}".lower()
    if MONEY_WORDS.search(text):
        return MONEY
    if ANGER_WORDS.search(text):
        return FRUSTRATED
    if HUMAN_WORDS.search(text):
        return ASKS_FOR_HUMAN
    return FREE_TEXT
