"""What a message asks of the bot (greeting, command, question...) and check-answer reading.

The phrase tables live in intents.toml, checked on load: a typo in a pattern fails at start
with the entry's name, not at the first user who types that phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Literal

from bot.errors import HipbotError
from bot.tables import compile_checked, parse_table


class Intent(StrEnum):
    """What a message asks of the bot, before any medical content is considered."""

    EMPTY = "empty"
    GREETING = "greeting"
    HELP = "help"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    RESET = "reset"
    SOURCES = "sources"
    MORE = "more"
    RED_FLAGS = "red_flags"
    INJECTION = "injection"
    NOT_ENGLISH = "not_english"
    UNKNOWN_COMMAND = "unknown_command"
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    CHECKIN = "checkin"
    QUESTION = "question"


Answer = Literal["yes", "no", "not_sure", "skip"]
ANSWERS: tuple[Answer, ...] = ("yes", "no", "not_sure", "skip")


class PhraseTableError(HipbotError):
    """intents.toml is malformed: the message names the entry."""


@dataclass(frozen=True)
class Command:
    """A slash command: its intent in the dialogue, or the one front end that handles it."""

    name: str
    about: str
    intent: Intent | None = None
    only: str | None = None


@dataclass(frozen=True)
class PhraseTables:
    """The checked contents of intents.toml."""

    intents: tuple[tuple[Intent, re.Pattern[str]], ...]
    answers: tuple[tuple[Answer, re.Pattern[str]], ...]
    plain: tuple[tuple[re.Pattern[str], str], ...]
    commands: tuple[Command, ...]
    correction: re.Pattern[str]
    not_me: re.Pattern[str]
    none_of_it: re.Pattern[str]


def _pattern(where: str, source: object) -> re.Pattern[str]:
    return compile_checked(source, f"intents.toml, {where}", PhraseTableError)


def parse_phrase_tables(text: str) -> PhraseTables:
    """Parse and check intents.toml; mistakes raise PhraseTableError naming the entry."""
    data = parse_table(text, "intents.toml", PhraseTableError)
    intents = []
    for entry in data.get("intent", []):
        name = entry.get("name", "")
        if name not in Intent.__members__.values():
            raise PhraseTableError(f"intents.toml: unknown intent {name!r}")
        whole, contains = entry.get("whole", []), entry.get("contains", [])
        if not whole and not contains:
            raise PhraseTableError(f"intents.toml, intent {name!r}: no phrases")
        if whole:
            source = r"^/?(?:" + "|".join(whole) + r")[.!?]*$"
            intents.append((Intent(name), _pattern(f"intent {name!r}", source)))
        if contains:
            intents.append((Intent(name), _pattern(f"intent {name!r}", "|".join(contains))))
    answers = []
    for entry in data.get("answer", []):
        name = entry.get("name", "")
        if name not in ANSWERS or not entry.get("starts"):
            raise PhraseTableError(f"intents.toml: answer {name!r} is unknown or has no phrases")
        source = r"^(?:" + "|".join(entry["starts"]) + r")\b"
        answers.append((name, _pattern(f"answer {name!r}", source)))
    plain = tuple(
        (_pattern("plain", entry.get("pattern")), str(entry.get("replace", "")))
        for entry in data.get("plain", [])
    )
    commands = []
    for entry in data.get("command", []):
        name, intent, only = entry.get("name", ""), entry.get("intent"), entry.get("only")
        if not re.fullmatch(r"[a-z]{1,32}", name) or not entry.get("about"):
            raise PhraseTableError(f"intents.toml: command {name!r} needs a name and an about")
        if (intent is None) == (only is None) or only not in (None, "telegram", "terminal"):
            raise PhraseTableError(
                f"intents.toml, command {name!r}: an intent, or only = telegram|terminal"
            )
        if intent is not None and intent not in Intent.__members__.values():
            raise PhraseTableError(f"intents.toml, command {name!r}: unknown intent {intent!r}")
        commands.append(Command(name, entry["about"], Intent(intent) if intent else None, only))
    corrections = [p for entry in data.get("correction", []) for p in entry.get("contains", [])]
    if not corrections:
        raise PhraseTableError("intents.toml: no [[correction]] phrases")
    correction = _pattern("correction", "|".join(corrections))
    disowning = [p for entry in data.get("correction", []) for p in entry.get("not_me", [])]
    if not disowning:
        raise PhraseTableError("intents.toml: no [[correction]] not_me phrases")
    not_me = _pattern("correction, not_me", "|".join(disowning))
    denials = [p for entry in data.get("correction", []) for p in entry.get("none_of_it", [])]
    if not denials:
        raise PhraseTableError("intents.toml: no [[correction]] none_of_it phrases")
    none_of_it = _pattern("correction, none_of_it", "|".join(denials))
    return PhraseTables(
        tuple(intents), tuple(answers), plain, tuple(commands), correction, not_me, none_of_it
    )


@cache
def phrase_tables() -> PhraseTables:
    """Return the checked phrase tables shipped with hipbot."""
    text = files("bot.dialogue").joinpath("intents.toml").read_text(encoding="utf-8")
    return parse_phrase_tables(text)


def classify(text: str) -> Intent:
    """Return the conversational intent of a cleaned message."""
    if not text or not re.search(r"\w", text):
        return Intent.EMPTY
    lowered = text.lower()
    if re.match(r"/[a-z_]+(?:@\w+)?$", lowered.split()[0]):
        name = lowered.split()[0][1:].split("@")[0]
        command = next((c for c in phrase_tables().commands if c.name == name), None)
        return command.intent if command and command.intent else Intent.UNKNOWN_COMMAND
    for intent, pattern in phrase_tables().intents:
        if pattern.search(lowered):
            return intent
    letters = [char for char in text if char.isalpha()]
    if letters and sum(char.isascii() for char in letters) / len(letters) < 0.5:
        return Intent.NOT_ENGLISH
    return Intent.QUESTION


def parse_check_answer(text: str) -> Answer | None:
    """Read a yes / no / not sure / skip answer to a check question, if it is one."""
    lowered = text.lower().strip()
    return next(
        (answer for answer, pattern in phrase_tables().answers if pattern.search(lowered)), None
    )


def is_bare_answer(text: str) -> bool:
    """Whether a message is only a yes / no / not sure / skip ("No", "not sure")."""
    return parse_check_answer(text) is not None and len(text.split()) <= 2


def commands_for(channel: str | None = None) -> list[Command]:
    """The slash commands a front end has ("telegram", "terminal"), or all of them."""
    return [c for c in phrase_tables().commands if c.only is None or channel in (None, c.only)]


def command_list(channel: str | None = None) -> str:
    """List the slash commands (all, or those a front end has) for /help."""
    return ", ".join(f"/{c.name} ({c.about.lower()})" for c in commands_for(channel))


def corrects_earlier(text: str) -> bool:
    """Whether a message corrects something said before ("sorry, I meant my friend")."""
    return bool(phrase_tables().correction.search(text.lower()))


def says_not_me(text: str) -> bool:
    """Whether a message says the writer is out of the story ("not me", "not with me")."""
    return bool(phrase_tables().not_me.search(text.lower()))


def says_none_of_it(text: str) -> bool:
    """Whether a message denies what was asked about before ("no, I don't have that")."""
    return bool(phrase_tables().none_of_it.search(text.lower()))


def plain_words(text: str) -> str:
    """Rewrite figures of speech ("my hip is killing me") into plain words for searching."""
    for pattern, plain in phrase_tables().plain:
        text = pattern.sub(plain, text)
    return re.sub(r"\s+", " ", text).strip()
