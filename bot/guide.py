"""The guided questions for vague messages, read from corpus/guide.toml beside the articles.

"Where does it hurt most?" then "When does it hurt?": each option names the sections that
talk about pain there or then. The names are checked against the articles' headings when
the index is built and when the bot starts, so a renamed heading fails loudly with the
option's name instead of silently guiding people nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.choices import ClosedQuestion, Option, parse_questions
from bot.corpus import GUIDE_FILE, Passage
from bot.errors import HipbotError
from bot.tables import parse_table

STEPS = ("place", "when")  # the questions a guide must have, asked in this order
MAX_SECTIONS = 4  # a guided answer lists at most this many sections


class GuideError(HipbotError):
    """guide.toml is malformed or names a heading the articles do not have."""


@dataclass(frozen=True)
class Guide:
    """The guided questions, in the order they are asked."""

    questions: dict[str, ClosedQuestion]

    def question(self, step: str) -> ClosedQuestion:
        """Return the question asked at a step ("place", "when")."""
        return self.questions[step]

    def check(self, passages: list[Passage]) -> None:
        """Fail with a clear line when an option names a section no article has."""
        for step, question in self.questions.items():
            for option in question.options:
                for name in option.sections:
                    if not any(_heads(passage, name) for passage in passages):
                        raise GuideError(
                            f"{GUIDE_FILE}: question {step!r}, option {option.key!r} names "
                            f"the section {name!r}, which no article has; use a heading of "
                            "the articles (hipbot index show lists them) or remove it"
                        )

    def sections(self, chosen: dict[str, Option], passages: list[Passage]) -> list[Passage]:
        """Return the passages that talk about the chosen place and time, best first.

        Sections named for the place come first, those also named for the time ahead of
        the rest; then sections named for the time alone.
        """
        place = chosen.get("place")
        when = chosen.get("when")
        place_names = place.sections if place else ()
        when_names = when.sections if when else ()

        def rank(passage: Passage) -> tuple[int, int] | None:
            at_place = any(_heads(passage, name) for name in place_names)
            at_time = any(_heads(passage, name) for name in when_names)
            if not (at_place or at_time):
                return None
            return (0 if at_place else 1, 0 if at_time else 1)

        ranked = [(rank(p), n, p) for n, p in enumerate(passages) if rank(p) is not None]
        ranked.sort(key=lambda item: (item[0], item[1]))
        picked: list[Passage] = []
        for _, _, passage in ranked:
            if all(p.path != passage.path for p in picked):  # one passage per section
                picked.append(passage)
        return picked[:MAX_SECTIONS]


def _heads(passage: Passage, name: str) -> bool:
    """Whether a passage's heading path ends with a name ("Bursitis", "Why... > Bursitis")."""
    parts = tuple(part.strip().lower() for part in name.split(">"))
    path = tuple(part.lower() for part in passage.path)
    return path[-len(parts) :] == parts


def parse_guide(text: str) -> Guide:
    """Parse and check guide.toml's own shape (the headings are checked by Guide.check)."""
    data = parse_table(text, GUIDE_FILE, GuideError)
    questions = parse_questions(data.get("question", []), GUIDE_FILE, GuideError)
    if tuple(questions) != STEPS:
        raise GuideError(f"{GUIDE_FILE}: needs the questions {list(STEPS)}, in that order")
    return Guide(questions)


def load_guide(corpus_dir: Path) -> Guide | None:
    """Read the corpus's guide.toml; None when there is none (no guided questions)."""
    path = corpus_dir / GUIDE_FILE
    if not path.is_file():
        return None
    return parse_guide(path.read_text(encoding="utf-8"))
