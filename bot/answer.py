"""Turning retrieved passages into a short answer in the articles' own words, with sources."""

from __future__ import annotations

from dataclasses import dataclass

from bot.corpus import Passage, split_sentences
from bot.lexical import terms
from bot.retrieval import Hit

MAX_SENTENCES = 3
# A second passage joins the answer only when it scores close to the best one.
SECOND_PASSAGE_RATIO = 0.85


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


def _units(passage: Passage) -> list[str]:
    """Split a passage into answer units: sentences, and whole lists with their lead-in.

    A list is never cut: "see a doctor if any of the following:" needs every item.
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
    return units


def compose_answer(
    query: str, hits: list[Hit], children: dict[tuple[str, ...], list[str]] | None = None
) -> tuple[str, list[Hit]]:
    """Pick the most relevant sentences of the best passages, kept in article order.

    Args:
        query: what the person asked (after follow-up resolution).
        hits: ranked hits; the first is the best passage.
        children: sub-section names by heading path; a sentence that announces a list
            ("Here are some exercises:") is completed with them.

    Returns:
        The answer text and the hits it drew from.
    """
    children = children or {}
    used = [hits[0]]
    if (
        len(hits) > 1
        and hits[1].score >= SECOND_PASSAGE_RATIO * hits[0].score
        and hits[1].passage.section != hits[0].passage.section
    ):
        used.append(hits[1])
    query_terms = set(terms(query))
    scored = []
    for rank, hit in enumerate(used):
        heading_terms = set(terms(" ".join(hit.passage.path)))
        for position, unit in enumerate(_units(hit.passage)):
            if unit.endswith(":"):
                named = children.get(hit.passage.path)
                if not named:
                    continue  # it announces a list the passage does not hold
                unit = f"{unit} {', '.join(named)}."
            overlap = len(query_terms & set(terms(unit)))
            lead = 0.5 if position == 0 else 0.0  # a passage's first sentence states its topic
            heading = 0.3 * len(heading_terms & set(terms(unit)))
            scored.append((overlap + lead + heading - rank, rank, position, unit))
    chosen = sorted(scored, key=lambda item: (-item[0], item[1], item[2]))[:MAX_SENTENCES]
    parts = []
    for rank, hit in enumerate(used):
        units = [unit for _, r, _, unit in sorted(chosen, key=lambda c: (c[1], c[2])) if r == rank]
        if not units:
            continue
        text = _join(units)
        parts.append(text if rank == 0 else f"Also ({hit.passage.section}): {text}")
    return "\n\n".join(parts), used


def _join(units: list[str]) -> str:
    """Join sentences into a paragraph; a unit holding a list starts and ends a line."""
    lines: list[str] = []
    for unit in units:
        if lines and "\n" not in unit and "\n" not in lines[-1]:
            lines[-1] = f"{lines[-1]} {unit}"
        else:
            lines.append(unit)
    return "\n".join(lines)
