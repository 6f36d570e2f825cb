"""The learned layer: a logistic head on sentence embeddings that reads red flags in context.

Rules miss what nobody wrote down; this head learned from examples (negated, hypothetical,
past, someone else's, reassured counter-examples included) which level a short stretch of
text calls for. It reads each sentence with the one before it (`bot.text.reading_units`),
so a long story is read as a person tells it, not as one blurred topic. Beside the
sentence embedding it sees what the rules made of the same unit (the level they fired, the
contexts of what they found but did not fire, the cues present): embeddings barely tell
"I can't walk" from "I can walk fine", the rules' context reading does, and the head learns
how much to trust each. It only ever adds findings: it cannot lower what the rules found.

The head is two weight matrices in `bot/safety/head/` (trained by `hipbot safety train`,
see `bot/safety/training.py`); applying it is a matrix product on vectors the embedder has
already computed, so it costs microseconds and needs no machine-learning library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path

import numpy as np

from bot.embedding import TextEmbedder
from bot.errors import HipbotError
from bot.safety.rules import Level, RuleBook, default_rulebook
from bot.safety.screen import Finding, Screening, screen
from bot.text import reading_units

HEAD_DIR = Path(str(files("bot.safety").joinpath("head")))
LEVELS = tuple(level.label for level in Level)
# A 10,000-character story has about 100 units; past this many the rules read the rest.
MAX_UNITS = 48
MIN_WORDS = 3
DISPUTED_BAR = 0.9


_CONTEXTS = ("negated", "hypothetical", "past", "someone_else")
_CUES = ("negated", "hypothetical", "reassured", "past", "someone_else")
RULE_FEATURES = len(Level) + len(_CONTEXTS) + len(_CUES)


def rule_features(screening: Screening) -> np.ndarray:
    """Describe what the rules read in a unit: level fired, contexts of the unfired, cues."""
    features = np.zeros(RULE_FEATURES, dtype=np.float32)
    features[int(screening.level)] = 1.0
    for finding in screening.mentioned:
        if finding.context in _CONTEXTS:
            features[len(Level) + _CONTEXTS.index(finding.context)] = 1.0
    for number, cue in enumerate(_CUES):
        features[len(Level) + len(_CONTEXTS) + number] = cue in screening.cues
    return features


def head_inputs(screenings: list[Screening], vectors: np.ndarray) -> np.ndarray:
    """Join each unit's embedding with its rule features: what the head reads."""
    extra = np.vstack([rule_features(screening) for screening in screenings])
    return np.hstack([vectors.astype(np.float32), extra])


@dataclass(frozen=True)
class Head:
    """The trained weights and the thresholds chosen for them."""

    level_weights: np.ndarray  # (levels, dimension)
    level_bias: np.ndarray
    rule_weights: np.ndarray  # (rules, dimension)
    rule_bias: np.ndarray
    rules: tuple[str, ...]
    thresholds: dict[str, float]  # P(level or above) needed to fire each level; "ask"
    manifest: dict

    @classmethod
    def load(cls, folder: Path = HEAD_DIR) -> Head:
        """Load the head, with a message that says how to build it when it is missing."""
        try:
            manifest = json.loads((folder / "head.json").read_text(encoding="utf-8"))
            arrays = np.load(folder / "head.npz")
        except (OSError, ValueError) as error:
            raise HipbotError(
                f"the safety head in {folder} cannot be read ({error}); "
                "run `hipbot safety train` to build it"
            ) from None
        return cls(
            level_weights=arrays["level_weights"],
            level_bias=arrays["level_bias"],
            rule_weights=arrays["rule_weights"],
            rule_bias=arrays["rule_bias"],
            rules=tuple(manifest["rules"]),
            thresholds={k: float(v) for k, v in manifest["thresholds"].items()},
            manifest=manifest,
        )

    def level_probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Return P(level) per row, columns in `LEVELS` order."""
        return _softmax(vectors @ self.level_weights.T + self.level_bias)

    def rule_scores(self, vectors: np.ndarray) -> np.ndarray:
        """Return P(rule | a red flag) per row, columns in `self.rules` order."""
        return _softmax(vectors @ self.rule_weights.T + self.rule_bias)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def at_least(probabilities: np.ndarray) -> np.ndarray:
    """Turn P(level) into P(this level or a higher one), per row."""
    return np.cumsum(probabilities[:, ::-1], axis=1)[:, ::-1]


@dataclass(frozen=True)
class UnitReading:
    """What the head made of one unit of a message."""

    unit: str
    level: Level
    rule_id: str
    uncertain: bool


class LearnedCheck:
    """Adds the head's findings to a screening; flags uncertain units for a check question."""

    def __init__(
        self, embedder: TextEmbedder, head: Head | None = None, book: RuleBook | None = None
    ) -> None:
        self.embedder = embedder
        self._head = head
        self.book = book or default_rulebook()

    @cached_property
    def head(self) -> Head:
        """Return the trained head (loaded on first use)."""
        return self._head or Head.load()

    def read(self, text: str) -> list[UnitReading]:
        """Read every unit of a message; return those the head finds a red flag in."""
        units = reading_units(text)[:MAX_UNITS]
        if len(text.split()) < MIN_WORDS:
            return []  # "No", "ok thanks": answers and thanks, read by the rules alone
        vectors = self.embedder.embed_queries(units)
        return self.read_vectors(units, vectors)

    def read_vectors(self, units: list[str], vectors: np.ndarray) -> list[UnitReading]:
        """Apply the head to units already embedded."""
        head = self.head
        screenings = [screen(unit, self.book) for unit in units]
        inputs = head_inputs(screenings, vectors)
        reach = at_least(head.level_probabilities(inputs))
        rule_scores = head.rule_scores(inputs)
        readings = []
        for row, unit in enumerate(units):
            # Where the rules read a warning sign as negated, hypothetical, past or someone
            # else's and fired nothing, the head must be surer to overrule them; short of
            # that, it asks.
            disputed = bool(screenings[row].mentioned) and not screenings[row].fired
            bar = DISPUTED_BAR if disputed else 0.0
            level = max(
                (lvl for lvl in Level if lvl and reach[row, lvl] >= max(_t(head, lvl), bar)),
                default=Level.SELF_CARE,
            )
            uncertain = level < Level.URGENT and reach[row, Level.URGENT] >= head.thresholds["ask"]
            if level == Level.SELF_CARE and not uncertain:
                continue
            wanted = max(level, Level.URGENT) if uncertain else level
            rule_id = self._rule_for(rule_scores[row], wanted)
            readings.append(UnitReading(unit, level, rule_id, uncertain))
        return readings

    def _rule_for(self, scores: np.ndarray, level: Level) -> str:
        """Pick the most likely rule that can be at this level (its referral fits it)."""
        order = np.argsort(-scores)
        for column in order:
            rule = self.book.rule(self.head.rules[column])
            if level in {rule.level, *(trigger.level for trigger in rule.triggers)}:
                return rule.rule_id
        return self.head.rules[int(order[0])]

    def check(self, screening: Screening) -> Screening:
        """Return the screening with the head's findings added (never removed or lowered)."""
        readings = self.read(screening.text)
        found = {finding.rule_id for finding in screening.fired}
        extra: dict[str, Finding] = {}
        asks: list[str] = []
        for reading in readings:
            if reading.uncertain and reading.rule_id not in found:
                asks.append(reading.rule_id)
            if reading.level <= screening.level:
                continue  # it adds a finding only where it raises the level
            known = extra.get(reading.rule_id)
            if known is not None and known.level >= reading.level:
                continue
            extra[reading.rule_id] = Finding(
                reading.rule_id, reading.level, "present", (reading.unit,), source="learned"
            )
        return screening.with_findings(list(extra.values()), asks=tuple(dict.fromkeys(asks)))


def _t(head: Head, level: Level) -> float:
    return head.thresholds[level.label]
