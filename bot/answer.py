"""Turning retrieved passages into a short answer in the articles' own words, with sources."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.aspects import Aspect
from bot.corpus import Passage
from bot.lexical import terms
from bot.retrieval import Hit
from bot.text import split_sentences

# Replies stay readable on a phone: a passage this short is answered whole, a longer one
# is cut to about this length, and "tell me more" gives the rest...
SHORT_ANSWER_CHARS = 800
# ...except instructions and warning-sign lists, which are never cut below this length.
INSTRUCTION_CHARS = 1500
WHOLE_FOR = {"how_to", "doctor"}
# "The articles don't give that; here is what they say": the passage's opening.
BRIEF_UNITS = 2
# A sentence opening like this goes on from the one before it ("This substance lubricates
# your hip joint" after "...hyaluronic acid injections."): they are chosen together.
GOES_ON_DISCOUNT = 1.0  # ...after the sentences that name what was asked themselves
_GOES_ON = re.compile(r"(?:this|these|that|those|it|its|they|their|such|however|but)\b", re.I)


@dataclass(frozen=True)
class Source:
    """Where an answer came from, as the `hipbot ask` JSON names it."""

    article: str
    section: str
    path: tuple[str, ...]
    passage_id: str
    score: float

    def as_dict(self) -> dict:
        """Return the JSON form of the contract."""
        return {
            "article": self.article,
            "section": self.section,
            "path": list(self.path),
            "passage_id": self.passage_id,
            "score": round(self.score, 4),
        }


def source_of(hit: Hit) -> Source:
    """Describe a hit as a source."""
    passage = hit.passage
    return Source(
        passage.article_title, passage.section, passage.path, passage.passage_id, hit.score
    )


def _units(passage: Passage, children: dict[tuple[str, ...], list[str]]) -> list[str]:
    """Split a passage into answer units: sentences, and whole lists with their lead-in.

    A list is never cut: "see a doctor if any of the following:" needs every item. A
    sentence that announces sub-sections ("Here are some exercises:") is completed with
    their names; one that announces a list the passage does not hold is dropped.
    """
    units: list[str] = []
    for block in passage.text.split("\n\n"):
        if block.startswith("- "):
            if units and units[-1].endswith(":"):
                units[-1] = f"{units[-1]}\n{block}"
            else:
                units.append(block)
        else:
            units.extend(split_sentences(block))
    completed = []
    for unit in units:
        if unit.endswith(":"):
            named = children.get(passage.path)
            if not named:
                continue
            unit = f"{unit} {', '.join(named)}."
        completed.append(unit)
    return completed


def compose_answer(
    query: str,
    passage: Passage,
    children: dict[tuple[str, ...], list[str]] | None = None,
    aspect: Aspect | None = None,
    *,
    brief: bool = False,
    focused: bool = False,
) -> str:
    """Answer from a passage with the part that fits what was asked.

    Instructions and warning-sign lists are given whole (cutting them would drop steps,
    reps or list items); a follow-up that needs a number ("how many reps?") gets the
    sentences that give it; "what is X?" gets the passage's opening; otherwise a short
    passage is given whole and a long one gives the sentences that best match the question
    and its aspect, in article order.

    Args:
        query: what the person asked (after follow-up resolution).
        passage: the passage answered from.
        children: sub-section names by heading path.
        aspect: what the question asks about its topic, if known.
        brief: give only the passage's opening (for "they don't say that, but...").
        focused: a follow-up on the topic just answered ("how many reps?"): give only the
            sentences that hold what its aspect needs.

    Returns:
        The answer text.
    """
    units = _units(passage, children or {})
    name = aspect.name if aspect else None
    if brief:
        chosen = units[:BRIEF_UNITS]
    elif focused and aspect and aspect.needs and any(aspect.given_in(u) for u in units):
        giving = {n for n, unit in enumerate(units) if aspect.given_in(unit)}
        kept = set().union(*(_whole_thought(units, n) for n in giving))
        chosen = [unit for n, unit in enumerate(units) if n in kept]
        if passage.section.lower() not in " ".join(chosen).lower():
            chosen[0] = f"{passage.section}: {chosen[0]}"
    elif name == "definition":  # the opening says what it is, and what the question names
        chosen = _best_units(query, passage, units, aspect, SHORT_ANSWER_CHARS // 2, lead=2.0)
    elif name in WHOLE_FOR or len(passage.text) <= SHORT_ANSWER_CHARS:
        chosen = _best_units(query, passage, units, aspect, INSTRUCTION_CHARS)
    else:
        chosen = _best_units(query, passage, units, aspect, SHORT_ANSWER_CHARS)
    return _join(chosen)


def _best_units(
    query: str,
    passage: Passage,
    units: list[str],
    aspect: Aspect | None,
    budget: int,
    *,
    lead: float = 0.5,
) -> list[str]:
    """Pick the units of a long passage that best answer the question, in article order."""
    query_terms = set(terms(query))
    heading_terms = set(terms(" ".join(passage.path)))
    scored = []
    for position, unit in enumerate(units):
        unit_terms = set(terms(unit))
        score = len(query_terms & unit_terms) + 0.3 * len(heading_terms & unit_terms)
        score += lead if position == 0 else 0.0  # a passage's first sentence states its topic
        if aspect and aspect.said_in(unit):
            score += 1.0
        if position and _GOES_ON.match(unit):  # about what the sentence before is about
            score = max(score, scored[-1][0] - GOES_ON_DISCOUNT)
        scored.append((score, position))
    chosen, length = set(), 0
    for _, position in sorted(scored, key=lambda item: (-item[0], item[1])):
        needed = _with_antecedents(units, position) - chosen
        if chosen and length + sum(len(units[n]) for n in needed) > budget:
            break
        chosen |= needed
        length += sum(len(units[n]) for n in needed)
    return [unit for position, unit in enumerate(units) if position in chosen]


def _whole_thought(units: list[str], position: int) -> set[int]:
    """A unit with the ones it goes on from and the ones that go on from it."""
    kept = _with_antecedents(units, position)
    while position + 1 < len(units) and _GOES_ON.match(units[position + 1]):
        position += 1
        kept.add(position)
    return kept


def _with_antecedents(units: list[str], position: int) -> set[int]:
    """A unit and the units before it that it goes on from: "However, it..." needs its "it"."""
    needed = {position}
    while position and _GOES_ON.match(units[position]):
        position -= 1
        needed.add(position)
    return needed


def _join(units: list[str]) -> str:
    """Join sentences into a paragraph; a unit holding a list starts and ends a line."""
    lines: list[str] = []
    for unit in units:
        if lines and "\n" not in unit and "\n" not in lines[-1]:
            lines[-1] = f"{lines[-1]} {unit}"
        else:
            lines.append(unit)
    return "\n".join(lines)
