"""Reading the data tables that are checked on load (phrases, aspects, reply texts).

One home for the two steps every table shares, so that a mistake in any of them reads the
same: which file, which entry, what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files

from bot.errors import HipbotError


def read_table(package: str, name: str, error: type[HipbotError]) -> dict:
    """Parse a TOML table shipped in a package; a syntax error raises `error` naming it."""
    text = files(package).joinpath(name).read_text(encoding="utf-8")
    return parse_table(text, name, error)


def parse_table(text: str, name: str, error: type[HipbotError]) -> dict:
    """Parse TOML text; a syntax error raises `error` naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{name}: {problem}") from None


def compile_checked(source: object, where: str, error: type[HipbotError]) -> re.Pattern[str]:
    """Compile a table's regular expression; a bad one raises `error` naming the entry."""
    if not isinstance(source, str):
        raise error(f"{where}: a pattern must be a string, not {source!r}")
    try:
        return re.compile(source)
    except re.error as problem:
        raise error(f"{where}: bad pattern {source!r} ({problem})") from None
