"""What a question asks about its topic (cause, treatment, reps, a dose...), from aspects.toml.

The answer composer uses it to pick the passage and the sentences that answer that aspect,
and to say honestly when the articles cover a topic but not the aspect asked (a healing
time, a dose): a nearby passage is not presented as the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files

from bot.errors import HipbotError
from bot.lexical import terms
from bot.tables import compile_checked, parse_table

FIELDS = {"name", "asks", "heading", "says", "needs", "missing", "follow_up", "lists"}


class AspectTableError(HipbotError):
    """aspects.toml is malformed: the message names the aspect and the field."""


@dataclass(frozen=True)
class Aspect:
    """One kind of thing a question can ask about a topic."""

    name: str
    asks: tuple[re.Pattern[str], ...]
    heading: re.Pattern[str] | None = None
    says: re.Pattern[str] | None = None
    needs: re.Pattern[str] | None = None
    missing: str = ""
    follow_up: str = ""
    lists: bool = False

    @cached_property
    def words(self) -> frozenset[str]:
        """The stems of the words its questions ask with ("start working", "how often")."""
        sources = " ".join(re.sub(r"\\[a-zA-Z]", " ", p.pattern) for p in self.asks)
        return frozenset(terms(" ".join(re.findall(r"[a-z]{3,}", sources))))

    def asked_in(self, question: str) -> bool:
        """Whether the lower-cased question asks for this aspect."""
        return any(pattern.search(question) for pattern in self.asks)

    def heads(self, path: tuple[str, ...]) -> bool:
        """Whether a heading path is a place for this aspect ("Why...", "How to Treat...")."""
        return self.heading is not None and bool(self.heading.search(" ".join(path)))

    def said_in(self, text: str) -> bool:
        """Whether a sentence or passage states this aspect ("caused by...")."""
        return self.says is not None and bool(self.says.search(text))

    def given_in(self, text: str) -> bool:
        """Whether a text holds what this aspect needs (always true when it needs nothing)."""
        return self.needs is None or bool(self.needs.search(text.lower()))


def _compile(name: str, field: str, pattern: object) -> re.Pattern[str]:
    return compile_checked(pattern, f"aspects.toml, aspect {name!r}, {field}", AspectTableError)


def parse_aspects(text: str) -> tuple[Aspect, ...]:
    """Parse and check an aspects table; mistakes raise AspectTableError naming the aspect."""
    entries = parse_table(text, "aspects.toml", AspectTableError).get("aspect", [])
    aspects: list[Aspect] = []
    for entry in entries:
        name = entry.get("name")
        if not name or any(aspect.name == name for aspect in aspects):
            raise AspectTableError(f"aspects.toml: missing or repeated aspect name {name!r}")
        unknown = set(entry) - FIELDS
        if unknown:
            raise AspectTableError(f"aspects.toml, aspect {name!r}: unknown {sorted(unknown)}")
        if not entry.get("asks"):
            raise AspectTableError(f"aspects.toml, aspect {name!r}: asks is empty")
        if "{topic}" not in entry.get("follow_up", "{topic}"):
            raise AspectTableError(f"aspects.toml, aspect {name!r}: follow_up lacks {{topic}}")
        if not isinstance(entry.get("lists", False), bool):
            raise AspectTableError(f"aspects.toml, aspect {name!r}: lists must be true or false")
        if "needs" in entry and not entry.get("missing"):
            raise AspectTableError(f"aspects.toml, aspect {name!r}: needs without missing")
        optional = {
            field: _compile(name, field, entry[field])
            for field in ("heading", "says", "needs")
            if field in entry
        }
        aspects.append(
            Aspect(
                name=name,
                asks=tuple(_compile(name, "asks", p) for p in entry["asks"]),
                missing=entry.get("missing", ""),
                follow_up=entry.get("follow_up", ""),
                lists=entry.get("lists", False),
                **optional,
            )
        )
    return tuple(aspects)


@cache
def aspects() -> tuple[Aspect, ...]:
    """Return the checked aspect table shipped with hipbot."""
    return parse_aspects(files("bot").joinpath("aspects.toml").read_text(encoding="utf-8"))


def aspect_of(question: str) -> Aspect | None:
    """Return what a question asks about its topic (the first match in table order)."""
    lowered = question.lower()
    return next((aspect for aspect in aspects() if aspect.asked_in(lowered)), None)
