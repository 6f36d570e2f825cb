"""Closed questions ("Where does it hurt most?") answered by a button, a number or words.

One home for the questions the bot asks with a few fixed options: the guided questions of
corpus/guide.toml and the two-week check-in of bot/dialogue/questions.toml. Each option can
say what choosing it tells the safety screen (`screen_as`), so that a tap on "All the time"
is screened as the sentence it stands for, not as three words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import HipbotError
from bot.tables import compile_checked

_NUMBER = re.compile(r"^\(?(\d{1,2})[.)]?$")


@dataclass(frozen=True)
class Option:
    """One answer to a closed question."""

    key: str
    label: str  # the button and the numbered line
    says: re.Pattern[str] | None = None  # typed words that choose it
    phrase: str = ""  # how it reads in a sentence ("on the outside of the hip")
    screen_as: str = ""  # what choosing it tells the safety screen
    sections: tuple[str, ...] = ()  # headings that talk about it (guided questions)


@dataclass(frozen=True)
class ClosedQuestion:
    """A question with a few options, in a fixed order."""

    key: str
    ask: str
    options: tuple[Option, ...]

    def labels(self) -> tuple[str, ...]:
        """The options' labels, in order (buttons, quick replies)."""
        return tuple(option.label for option in self.options)

    def prompt(self) -> str:
        """The question with its options numbered, for a terminal or a script."""
        lines = [self.ask] + [f"{n}. {o.label}" for n, o in enumerate(self.options, 1)]
        return "\n".join(lines)

    def option(self, key: str) -> Option:
        """Return the option with a key (a KeyError names a stale stored key)."""
        return next(option for option in self.options if option.key == key)

    def choose(self, text: str) -> Option | None:
        """Read an answer: the option's number, its label, or words it is known by."""
        typed = text.strip().lower().rstrip(".!? ")
        number = _NUMBER.match(typed)
        if number:
            position = int(number.group(1))
            return self.options[position - 1] if 1 <= position <= len(self.options) else None
        for option in self.options:
            if typed == option.label.lower():
                return option
        return self.named_in(typed)

    def named_in(self, text: str) -> Option | None:
        """Return the first option whose words a message uses, if any."""
        lowered = text.lower()
        return next((o for o in self.options if o.says and o.says.search(lowered)), None)


def parse_questions(
    entries: list[dict], where: str, error: type[HipbotError]
) -> dict[str, ClosedQuestion]:
    """Parse `[[question]]` tables; a mistake raises `error` naming the file and entry."""
    questions: dict[str, ClosedQuestion] = {}
    for entry in entries:
        key, ask = entry.get("key"), entry.get("ask")
        if not key or not ask or key in questions:
            raise error(f"{where}: every question needs a unique key and an ask ({key!r})")
        options = tuple(
            _option(option, f"{where}, question {key!r}", error)
            for option in entry.get("option", [])
        )
        if len(options) < 2 or len({o.key for o in options}) != len(options):
            raise error(f"{where}, question {key!r}: needs two or more options, keys unique")
        questions[key] = ClosedQuestion(key, ask, options)
    return questions


def _option(entry: dict, where: str, error: type[HipbotError]) -> Option:
    key, label = entry.get("key"), entry.get("label")
    if not key or not label:
        raise error(f"{where}: every option needs a key and a label ({entry!r})")
    unknown = set(entry) - {"key", "label", "says", "phrase", "screen_as", "sections"}
    if unknown:
        raise error(f"{where}, option {key!r}: unknown fields {sorted(unknown)}")
    says = entry.get("says", [])
    pattern = (
        compile_checked("|".join(says), f"{where}, option {key!r}, says", error) if says else None
    )
    sections = entry.get("sections", [])
    if not all(isinstance(s, str) and s.strip() for s in sections):
        raise error(f"{where}, option {key!r}: sections must be heading names")
    return Option(
        key=key,
        label=label,
        says=pattern,
        phrase=entry.get("phrase", ""),
        screen_as=entry.get("screen_as", ""),
        sections=tuple(sections),
    )
