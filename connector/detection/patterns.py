"""Hand-written patterns: the high-precision layer in front of the trained heads.

For "asks for a human" they find an explicit request (a verb of asking or talking next to
a word for a person: "talk to a real person", "get me an agent", "human please") and the
hard negatives (questions about the assistant, "are you a bot?", and about contact
details, "what are your support hours?", "how do I reach sales?"). A hard negative vetoes
the head unless a request is left once its words are taken out ("are you a bot? get me a
human" still asks). Every pattern is linear in its input (see :mod:`families`).
"""

from __future__ import annotations

import dataclasses
import re

from rapidfuzz import fuzz
from rapidfuzz import process

WORD = re.compile(r"[a-z0-9']+")

PEOPLE = ["human", "person", "agent", "representative", "operator", "somebody", "someone", "staff",
          "employee", "advisor", "adviser", "people", "manager", "supervisor", "teammate", "colleague", "humans",
          "agents", "persons", "specialist", "humanbeing"]
#: near-misses of PEOPLE that are ordinary words
NOT_PEOPLE = {"assistance", "assistant", "parson", "prison", "poison", "present", "persona", "urgent", "agenda",
              "agency", "anyone", "anything", "something", "sometime", "sometimes", "operation", "operations", "represent",
              "humane", "staffing", "employer", "managed", "manage", "manages", "managing", "purpose", "reason",
              "personal", "personally", "season", "lesson", "peoples", "humid", "agents'", "somewhere", "someday",
              "special", "specially", "specific", "persist", "perform", "pension", "version", "hmmmm", "human's"}
#: words that stand for a person only in "talk to ..." ("someone" also means "for my mum")
VAGUE_PEOPLE = {"someone", "somebody", "people", "sum1", "some1", "anyone", "anybody"}
TALK = {"talk", "speak", "chat", "connect", "transfer", "escalate", "pass", "hand", "reach", "contact", "call",
        "talking", "speaking", "chatting", "connected", "transferred", "speek", "tlk", "spk", "spek", "tak", "taking",
        "converse", "deal", "switch", "redirect", "forward", "route"}
WANT = {"want", "wanna", "need", "get", "give", "let", "prefer", "insist", "demand", "bring", "send", "request",
        "requesting", "like", "rather", "needs", "needed", "require", "put"}
#: words allowed between the verb and the person ("talk to a real live person")
FILLER = {"to", "with", "a", "an", "the", "me", "us", "real", "actual", "live", "human", "proper", "your", "ur", "one",
          "of", "some", "through", "over", "on", "directly", "please", "pls", "plz", "just", "in", "touch", "customer",
          "support", "service", "care", "sales", "an", "actually", "right", "now", "someone", "from", "team", "this",
          "u", "you", "immediately", "asap", "be", "help", "by", "back", "living", "breathing"}
TEAMS = re.compile(r"\b(customer (service|support|care)|support team|service team|support staff|help ?desk|"
                   r"live (chat|support|agent|person)|call cent(er|re)|human (support|service|help|assistance|being))\b")
SHORT_PLEASE = {"please", "pls", "plz", "now", "asap", "needed", "!", "a", "an", "real", "live", "human", "ok", "just",
                "hi", "hello", "hey", "one", "thanks", "actual", "the", "an", "me", "get"}

#: questions about the assistant itself
BOT_CHALLENGE = re.compile(
    r"\b(are|r) (you|u|ya) (even |really |actually |just )?(a |an )?(real |actual |live |human |virtual )?"
    r"(bot|robot|human|person|ai|machine|computer|program|agent|chat ?bot|real|alive|automated|people)\b"
    r"|\b(is|am) (this|it|i|that) (talking|chatting|speaking|texting)? ?(to |with )?(a |an )?(real |actual |live )?"
    r"(bot|robot|human|person|ai|machine|computer|program|chat ?bot|automated|real|people)\b"
    r"|\b(am i|i'?m|i am) (talking|chatting|speaking|texting|taking) (to|with) (a |an )?(real |actual |live )?"
    r"(bot|robot|human|person|ai|machine|computer|program|chat ?bot|real|people|someone real|human being|human person)\b"
    r"|\b(you'?re|you are|ur|u r) (not )?(really |just |obviously |a )?(a |an )?(real |actual )?"
    r"(bot|robot|human|person|ai|machine|computer|program|real)\b"
    r"|\bwho (am i|is this|are you)\b|\bwhat are you\b|\bis (there )?a (human|person) (reading|typing|behind|writing)\b"
    r"|\bis this (chat )?(run|answered|written) by\b")
#: questions about contact details, hours and places, not requests to be put through
CONTACT = re.compile(
    r"\b(support|service|opening|business|office|working|store|shop|call cent(er|re)|chat) hours\b|\bhours of\b"
    r"|\bwhat time\b|\bwhen (are|is|do|does) (you|your|the|customer|support|live|it)\b|\buntil what time\b"
    r"|\b(e-?mail|phone|telephone|contact|helpline|service|fax|whatsapp) (number|address|details|line|form|info)\b"
    r"|\b(number|email|address) (for|of|to)\b|\bhelpline\b|\bwhere (is|are) your\b|\bwhere can i find your\b"
    r"|\bhow (do|can|should) i (reach|contact|call|email|e-mail|write to) (your |the )?(sales|press|billing|office|store|shop)"
    r"|\bwho do i (write|contact|call)\b|\bis (your |the )?(customer service|support|live chat|chat) (open|available)\b")
#: a message of only a few words
SHORT = 4


@dataclasses.dataclass(frozen=True)
class HumanSignals:
    #: an explicit request for a person
    request: bool
    #: a word for a person (typos included) or a support team
    people: bool
    #: the hard negative's words, if one matched
    hard_negative: str | None
    short: bool
    #: the words of the request
    evidence: str | None


def _is_person(word: str) -> bool:
    """A word for a person, or a typo of one ("humna", "represenative")."""
    if word in PEOPLE or word in ("rep", "reps", "sum1", "some1") or word in VAGUE_PEOPLE:
        return True
    if len(word) < 5 or len(word) > 20 or word in NOT_PEOPLE:
        return False
    return process.extractOne(word, PEOPLE, scorer=fuzz.ratio, score_cutoff=80) is not None


def _request(text: str, short_ok: bool = True) -> str | None:
    """The words of an explicit request for a person in ``text``, or None.

    :param short_ok: a message of a few words ("human please") is a request; not so what
        is left of a hard negative ("am I talking to a human person?" less its question)
    """
    team = TEAMS.search(text)
    words = WORD.findall(TEAMS.sub(" agent ", text))
    people = [i for i, w in enumerate(words) if _is_person(w)]
    if not people:
        return None
    if short_ok and len(words) <= SHORT and all(w in SHORT_PLEASE or _is_person(w) for w in words):
        return " ".join(words)  # "human please", "agent!", "real person please"
    for j in people:
        vague = words[j] in VAGUE_PEOPLE
        i = j - 1
        while i >= 0 and j - i <= 6 and words[i] in FILLER:
            i -= 1
        if i < 0 or j - i > 6:
            continue
        verb = words[i]
        if verb in TALK or (verb in WANT and not vague):
            return team.group(0) if team and words[j] == "agent" else " ".join(words[i:j + 1])
    return None


#: "I want a refund and a human." (a person asked for as the second thing of a clause)
AND_A_PERSON = re.compile(r"\b(and|or|plus|also) (a |an |the |some )?(real |live |actual )?"
                          r"(human|person|agent|representative|operator|manager|supervisor|human agent)\b ?(?=[,.!?;]|$)")


def _and_a_person(text: str) -> str | None:
    match = AND_A_PERSON.search(text)
    if match is None:
        return None
    before = WORD.findall(text[:match.start()])[-8:]
    verb = next((w for w in reversed(before) if w in TALK or w in WANT), None)
    return f"{verb} ... {match.group(0).strip()}" if verb else None


def human_signals(text: str) -> HumanSignals:
    """The pattern layer's view of one lowercased message."""
    words = WORD.findall(text)
    people = any(_is_person(w) for w in words) or bool(TEAMS.search(text))
    hard = BOT_CHALLENGE.search(text) or CONTACT.search(text)
    rest = text
    if hard is not None:
        rest = CONTACT.sub(" ", BOT_CHALLENGE.sub(" ", text))
    request = (_request(rest, short_ok=hard is None) or _and_a_person(rest)) if people else None
    return HumanSignals(request is not None, people, hard.group(0) if hard else None, len(words) <= SHORT, request)


# -- frustration -------------------------------------------------------------------------

PROFANITY = re.compile(r"\b(damn|dammit|hell|crap|shit\w*|fuck\w*|wtf|bloody|bullshit|ffs|screw)\b")
FRUSTRATION_WORDS = re.compile(
    r"\b(ridiculous|unacceptable|worst|useless|terrible|awful|horrible|pathetic|joke|scam|fed up|sick of|tired of|"
    r"disgusted|furious|angry|annoyed|frustrat\w*|outraged|livid|disappointed|still (not|no|waiting|haven't)|"
    r"(second|third|fourth|fifth|\d++(st|nd|rd|th)) time|again\?|no one (helps|answers|replies)|nobody (helps|answers)|"
    r"waste of (time|money)|dissatisfied|unhappy|not happy|poor service|bad service)\b")
COMPLAINT = re.compile(r"\b(complain\w*|complaint\w*|grievance|reclamation|(file|lodge|make|submit|raise|open) (a |an )?"
                       r"(\w++ )?(claim|complaint|grievance))\b")
