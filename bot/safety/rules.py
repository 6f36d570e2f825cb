"""The red-flag rule book: reviewed records read from rules.toml and compiled once."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib.resources import files
from typing import Any

from bot.safety.duration import DurationReader


class Level(IntEnum):
    """Triage levels, ordered: a higher level always wins."""

    SELF_CARE = 0
    DOCTOR = 1
    URGENT = 2
    EMERGENCY = 3

    @property
    def label(self) -> str:
        """Return the name used in JSON and settings ("self_care", "urgent"...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> Level:
        """Return the level named by a label such as "urgent"."""
        return cls[label.upper()]


@dataclass(frozen=True)
class Concept:
    """A symptom or circumstance, found by any of its patterns inside one clause."""

    name: str
    pattern: re.Pattern[str]
    negative_form: bool = False
    past_ok: bool = False
    about_others: bool = False
    remembered: bool = False
    asked_for_oneself: bool = False


@dataclass(frozen=True)
class Trigger:
    """Fires when every concept is present (and none of `unless` is)."""

    concepts: tuple[str, ...]
    level: Level
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One red flag: who it is for, how it is found and what the person is told."""

    rule_id: str
    level: Level
    title: str
    source: str
    referral: str
    triggers: tuple[Trigger, ...]
    examples: tuple[str, ...]
    not_examples: tuple[str, ...]
    check: str = ""
    check_red: str = "yes"
    # Signs that may be this red flag or a benign look-alike ("hurts at night"): its check
    # question is asked when they are told and the rule did not fire.
    asks_when: tuple[Trigger, ...] = ()
    # While the rules ask, the learned layer fires this rule only this far from its level's
    # threshold towards certainty (0 at the threshold, 1 never): a bar that follows each
    # retrained model's calibration, where a fixed probability would not.
    learned_sureness: float = 1.0

    @property
    def levels(self) -> frozenset[Level]:
        """Return the levels this rule can fire at: its own and its triggers'."""
        return frozenset({self.level, *(trigger.level for trigger in self.triggers)})

    @property
    def highest_level(self) -> Level:
        """Return the highest level this rule can fire at."""
        return max(self.levels)


@dataclass(frozen=True)
class ContextCues:
    """The ConText-style cue tables, compiled."""

    negation: re.Pattern[str]
    pseudo_negation: re.Pattern[str]
    scope_breakers: frozenset[str]
    negation_window: int
    hypothetical: re.Pattern[str]
    pseudo_hypothetical: re.Pattern[str]
    hedge: re.Pattern[str]
    reassurance: re.Pattern[str]
    past: re.Pattern[str]
    pseudo_past: re.Pattern[str]
    resolved: re.Pattern[str]
    now: re.Pattern[str]
    third_person: re.Pattern[str]
    first_person: re.Pattern[str]
    apart: re.Pattern[str]
    together: re.Pattern[str]
    general_question: re.Pattern[str]
    own_question: re.Pattern[str]
    answered_no: re.Pattern[str]
    referring: re.Pattern[str]
    clause_breaks: re.Pattern[str]


@dataclass(frozen=True)
class Caveat:
    """A medication caveat and the words that call for it."""

    name: str
    mentions: re.Pattern[str] | None
    text: str


@dataclass(frozen=True)
class Check:
    """One scripted yes/no safety question."""

    check_id: str
    question: str
    red_answer: str
    rule_id: str | None = None
    after_fall: str | None = None


@dataclass(frozen=True)
class RuleBook:
    """Everything the screen needs, loaded from rules.toml."""

    rules: tuple[Rule, ...]
    concepts: dict[str, Concept]
    cues: ContextCues
    idioms: re.Pattern[str]
    slang: dict[str, str]
    spelling_targets: tuple[str, ...]
    caveats: tuple[Caveat, ...]
    benign_examples: tuple[str, ...]
    checks: tuple[Check, ...]
    durations: DurationReader

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id."""
        return next(rule for rule in self.rules if rule.rule_id == rule_id)


def _alternation(patterns: list[str], macros: dict[str, str] | None = None) -> re.Pattern[str]:
    expanded = []
    for pattern in patterns:
        for name, value in (macros or {}).items():
            pattern = pattern.replace("{" + name + "}", value)
        expanded.append(f"(?:{pattern})")
    # Whole words only; an apostrophe may follow ("sister's", "leg's").
    return re.compile(r"(?<![\w'])(?:" + "|".join(expanded) + r")(?!\w)")


class RuleBookError(ValueError):
    """rules.toml has a mistake; the message names the line."""


_ALLOWED = {
    "top": {"spelling", "idioms", "context", "semantic", "macros", "concepts", "rules"}
    | {"caveats", "checks", "duration"},
    "concept": {"patterns", "negative_form", "past_ok", "about_others", "remembered"}
    | {"asked_for_oneself"},
    "rule": {"id", "level", "title", "source", "referral", "triggers", "examples"}
    | {"not_examples", "check", "check_red", "asks_when", "learned_sureness"},
    "rule_required": {"id", "level", "title", "source", "referral", "triggers", "check"},
    "trigger": {"all", "level", "unless"},
    "check": {"id", "question", "red_answer", "rule", "after_fall"},
}


def _line_of(text: str, *needles: str) -> int:
    """Return the line number of the first needle found (in order, each after the last)."""
    position = 0
    for needle in needles:
        found = text.find(needle, position)
        if found < 0:
            break
        position = found
    return text.count("\n", 0, position) + 1


def _validate(data: dict[str, Any], text: str) -> None:
    """Refuse unknown keys, missing fields and unknown names, naming the line."""
    from bot.safety.facts import Facts

    def fail(message: str, *needles: str) -> None:
        raise RuleBookError(f"rules.toml line {_line_of(text, *needles)}: {message}")

    for key in data.keys() - _ALLOWED["top"]:
        fail(f"unknown table [{key}]", f"[{key}")
    for name, spec in data["concepts"].items():
        for key in spec.keys() - _ALLOWED["concept"]:
            fail(f"unknown key {key!r} in concept {name!r}", f"[concepts.{name}]", key)
        if spec.get("remembered") and name not in Facts.model_fields:
            fail(f"remembered concept {name!r} has no field in Facts", f"[concepts.{name}]")
    levels = {level.label for level in Level}
    rule_ids = {spec.get("id") for spec in data["rules"]}
    for spec in data["rules"]:
        rule_id = spec.get("id", "?")
        anchor = f'id = "{rule_id}"'
        for key in spec.keys() - _ALLOWED["rule"]:
            fail(f"unknown key {key!r} in rule {rule_id!r}", anchor, key)
        for key in _ALLOWED["rule_required"] - spec.keys():
            fail(f"rule {rule_id!r} lacks {key!r}", anchor)
        if spec["level"] not in levels or spec.get("check_red", "yes") not in ("yes", "no"):
            fail(f"rule {rule_id!r} has an unknown level or check_red", anchor)
        bar = spec.get("learned_sureness")
        if ("asks_when" in spec) != (bar is not None) or (bar is not None and not 0 <= bar < 1):
            fail(f"rule {rule_id!r} needs asks_when with learned_sureness in [0, 1)", anchor)
        for trigger in [*spec["triggers"], *spec.get("asks_when", [])]:
            for key in trigger.keys() - _ALLOWED["trigger"]:
                fail(f"unknown key {key!r} in a trigger of {rule_id!r}", anchor, key)
            unknown = (set(trigger["all"]) | set(trigger.get("unless", []))) - data[
                "concepts"
            ].keys()
            if unknown:
                fail(f"rule {rule_id!r} names unknown concepts {sorted(unknown)}", anchor)
    for spec in data["checks"]:
        for key in spec.keys() - _ALLOWED["check"]:
            fail(f"unknown key {key!r} in check {spec.get('id')!r}", f'id = "{spec.get("id")}"')
        for key in ("rule", "after_fall"):
            if key in spec and spec[key] not in rule_ids:
                fail(f"check {spec['id']!r} names unknown rule {spec[key]!r}", spec[key])


def _triggers(specs: list[dict[str, Any]], level: Level) -> tuple[Trigger, ...]:
    """Read a rule's triggers (or asks_when); a trigger's level defaults to the rule's."""
    return tuple(
        Trigger(
            concepts=tuple(trigger["all"]),
            level=Level.parse(trigger["level"]) if "level" in trigger else level,
            unless=tuple(trigger.get("unless", ())),
        )
        for trigger in specs
    )


def _load(data: dict[str, Any]) -> RuleBook:
    macros = data.get("macros", {})
    concepts = {
        name: Concept(
            name=name,
            pattern=_alternation(spec["patterns"], macros),
            negative_form=spec.get("negative_form", False),
            past_ok=spec.get("past_ok", False),
            about_others=spec.get("about_others", False),
            asked_for_oneself=spec.get("asked_for_oneself", False),
            remembered=spec.get("remembered", False),
        )
        for name, spec in data["concepts"].items()
    }
    rules = []
    for spec in data["rules"]:
        level = Level.parse(spec["level"])
        rules.append(
            Rule(
                rule_id=spec["id"],
                level=level,
                title=spec["title"],
                source=spec["source"],
                referral=spec["referral"].strip(),
                triggers=_triggers(spec["triggers"], level),
                examples=tuple(spec.get("examples", ())),
                not_examples=tuple(spec.get("not_examples", ())),
                check=spec["check"],
                check_red=spec.get("check_red", "yes"),
                asks_when=_triggers(spec.get("asks_when", []), level),
                learned_sureness=float(spec.get("learned_sureness", 1.0)),
            )
        )
    context = data["context"]
    cue_tables = (
        "negation",
        "pseudo_negation",
        "hypothetical",
        "pseudo_hypothetical",
        "hedge",
        "reassurance",
        "past",
        "pseudo_past",
        "resolved",
        "now",
        "third_person",
        "first_person",
        "apart",
        "together",
        "general_question",
        "own_question",
        "answered_no",
        "referring",
    )
    cues = ContextCues(
        **{name: _alternation(context[name]) for name in cue_tables},
        scope_breakers=frozenset(context["scope_breakers"]),
        negation_window=int(context["negation_window"]),
        clause_breaks=re.compile("|".join(context["clause_breaks"])),
    )
    caveats = tuple(
        Caveat(name, _alternation(spec["mentions"]) if spec["mentions"] else None, spec["text"])
        for name, spec in data["caveats"].items()
    )
    return RuleBook(
        rules=tuple(rules),
        concepts=concepts,
        cues=cues,
        idioms=_alternation(data["idioms"]["phrases"]),
        slang=dict(data["spelling"]["slang"]),
        spelling_targets=tuple(data["spelling"]["targets"]),
        caveats=caveats,
        benign_examples=tuple(data["semantic"]["benign_examples"]),
        durations=DurationReader.from_table(data["duration"]),
        checks=tuple(
            Check(
                check_id=spec["id"],
                question=spec["question"],
                red_answer=spec["red_answer"],
                rule_id=spec.get("rule"),
                after_fall=spec.get("after_fall"),
            )
            for spec in data["checks"]
        ),
    )


@cache
def default_rulebook() -> RuleBook:
    """Return the rule book shipped with hipbot (bot/safety/rules.toml), parsed once."""
    text = files("bot.safety").joinpath("rules.toml").read_text(encoding="utf-8")
    return load_rulebook(text)


def load_rulebook(text: str) -> RuleBook:
    """Parse and check a rules.toml text; mistakes raise RuleBookError naming the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RuleBookError(f"rules.toml: {error}") from None
    _validate(data, text)
    return _load(data)
