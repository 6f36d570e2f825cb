"""How long the pain has lasted, read the ways people write it.

"3 wks", "since January", "a year and a half", "for a month now", "since xmas": the screen
replaces every duration of at least `long_days` with the words "for a long while", which
the `long_duration` concept of rules.toml matches; shorter ones are left as they were.
Points in time ("two years ago", "3 weeks later") are not durations and are left alone, so
the past cues still see them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

LONG_WHILE = "for a long while"


@dataclass(frozen=True)
class DurationReader:
    """Compiled duration tables (rules.toml [duration])."""

    long_days: int
    expression: re.Pattern[str]
    since: re.Pattern[str]
    numbers: dict[str, float]
    units: dict[str, int]
    months: dict[str, int]
    anchors: dict[str, int]

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> DurationReader:
        """Compile the [duration] table of rules.toml."""
        numbers = {k: float(v) for k, v in table["numbers"].items()}
        units = {k: int(v) for k, v in table["units"].items()}
        number = "|".join(sorted(map(re.escape, numbers), key=len, reverse=True))
        unit = "|".join(sorted(map(re.escape, units), key=len, reverse=True))
        months = {name: n for n, names in enumerate(table["months"], 1) for name in names}
        anchors = {k: int(v) for k, v in table["anchors"].items()}
        point = "|".join(table["not_after"])
        lead = r"(?:(?:for|over|in) (?:the )?(?:past |last )?|(?:the )?(?:past|last) )?"
        expression = re.compile(
            # "the first two weeks", "every 3 weeks", "after a month": windows and points
            r"(?<!first )(?<!every )(?<!after )(?<!within )(?<!next )(?<!per )"
            rf"(?<![\w']){lead}(?P<number>\d+(?:\.\d+)?|{number})(?: and a half)? ?"
            rf"(?P<unit>{unit})(?P<half> and a half)?(?![\w'])(?! (?:{point})\b)"
        )
        since_words = "|".join(sorted(map(re.escape, [*months, *anchors]), key=len, reverse=True))
        since = re.compile(
            r"\b(?:ever )?(?:since|from) (?:the )?(?:[a-z]+ ){0,3}?(?:in |back in )?"
            rf"(?:early |late |mid[- ]?)?(?P<when>{since_words})\b"
        )
        return cls(int(table["long_days"]), expression, since, numbers, units, months, anchors)

    def days(self, match: re.Match[str], today: date) -> float:
        """Return how many days one matched expression stands for."""
        if match.re is self.since:
            when = match.group("when")
            if when in self.anchors:
                return self.anchors[when]
            month = self.months[when]
            months_back = (today.month - month) % 12
            return months_back * 30 + today.day - 1 if months_back else today.day - 1
        raw = match.group("number")
        count = float(raw) if raw[0].isdigit() else self.numbers[raw]
        if match.group("half") or " and a half" in match.group(0):
            count += 0.5
        return count * self.units[match.group("unit")]

    def mark(self, text: str, today: date | None = None) -> str:
        """Replace long durations in a normalised text with the words "for a long while"."""
        today = today or date.today()

        def replace(match: re.Match[str]) -> str:
            return LONG_WHILE if self.days(match, today) >= self.long_days else match.group(0)

        return self.expression.sub(replace, self.since.sub(replace, text))
