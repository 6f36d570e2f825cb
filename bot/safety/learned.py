"""The learned layer: a fine-tuned MiniLM that reads red flags in context, beside the rules.

Rules miss what nobody wrote down, and a frozen sentence embedding barely tells "I can't
walk" from "I can walk fine". This layer is the same all-MiniLM-L6-v2 fine-tuned on
labelled examples (negated, hypothetical, past, someone else's and reassured
counter-examples included) to say which level a short stretch of text calls for, and which
rule it is closest to. It reads each sentence with the one before it
(`bot.text.reading_units`), so a long story is read as a person tells it. It only ever adds
findings: it cannot lower or remove what the rules found. Between its "ask" and "fire"
thresholds it is unsure, and the dialogue asks that rule's own yes/no check question; it
also asks, instead of firing, when its level head reads more than any rule its rule head
finds plausible can reach.

The model is built by `hipbot safety train` (bot/safety/training.py) into
`HIPBOT_SAFETY_MODEL_DIR` (index/safety): the encoder (with its ONNX export), the two heads
and a manifest. Serving it imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bot.errors import HipbotError
from bot.onnx_encoder import OnnxEncoder
from bot.safety.rules import Level, RuleBook
from bot.safety.screen import Finding, Screening, blank_idioms, screen, tells_only_of_others
from bot.text import reading_units

LEVELS = tuple(level.label for level in Level)
# A 10,000-character story has about 100 units; past this many the rules read the rest.
MAX_UNITS = 48
MIN_WORDS = 3
DISPUTED_BAR = 0.9
# Above this P(level or above) the level head is sure, whatever the rule head says.
SURE = 0.9
# A rule the rule head gives at least this probability is plausible for the unit.
PLAUSIBLE_RULE = 0.15
ASK_ONLY = 1.1  # above any probability: the layer may ask but not fire
# The rules fired this red flag at a lower level (they read its sign and weighed it): the
# layer raises that same rule only this far from its level's threshold towards certainty.
RAISE_SURENESS = 0.5
MAX_TOKENS = 128
MANIFEST = "manifest.json"
FP32_ENCODER = "encoder.onnx"
INT8_ENCODER = "encoder.int8.onnx"


def model_units(text: str, book: RuleBook) -> list[str]:
    """Return the units the model reads: the message, idioms blanked, in reading units."""
    return reading_units(blank_idioms(text, book))[:MAX_UNITS]


def at_least(probabilities: np.ndarray) -> np.ndarray:
    """Turn P(level) into P(this level or a higher one), per row."""
    return np.cumsum(probabilities[:, ::-1], axis=1)[:, ::-1]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return row-wise probabilities."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def served_encoder(folder: Path, precision: str) -> Path:
    """Return the encoder file to serve: the int8 copy when asked for and present.

    A model trained before int8 existed has only the full-precision file.
    """
    quantised = folder / INT8_ENCODER
    return quantised if precision == "int8" and quantised.is_file() else folder / FP32_ENCODER


class UnitClassifier:
    """The fine-tuned encoder (ONNX Runtime) and its two heads, loaded from a model folder.

    Serving needs neither torch nor transformers: the encoder exported at training time runs
    on ONNX Runtime (bot/onnx_encoder.py; same vectors as torch, tested), numpy applies the
    heads.
    """

    def __init__(self, folder: Path, precision: str) -> None:
        try:
            self.manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            heads = np.load(folder / "heads.npz")
            self.encoder_file = served_encoder(folder, precision)
            self.encoder = OnnxEncoder(
                self.encoder_file, folder / "encoder" / "tokenizer.json", MAX_TOKENS
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise HipbotError(
                f"the safety model in {folder} cannot be read ({error}); "
                "run `hipbot safety train` (or `make safety-model`) to build it"
            ) from None
        self.level_weights, self.level_bias = heads["level_weights"], heads["level_bias"]
        self.rule_weights, self.rule_bias = heads["rule_weights"], heads["rule_bias"]
        self.rules: tuple[str, ...] = tuple(self.manifest["rules"])
        self.thresholds: dict[str, float] = self.manifest["thresholds"]
        self.scale = float(self.manifest["scale"])

    def pooled(self, texts: list[str]) -> np.ndarray:
        """Return the scaled, L2-normalised mean-pooled vectors the heads read."""
        return self.encoder.pooled(texts) * self.scale

    def predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return P(level or above) and P(rule) per text."""
        vectors = self.pooled(texts)
        reach = at_least(softmax(vectors @ self.level_weights.T + self.level_bias))
        return reach, softmax(vectors @ self.rule_weights.T + self.rule_bias)


@dataclass(frozen=True)
class UnitReading:
    """What the learned layer made of one unit of a message.

    `rule_id` names the red flag read at `level` (None at self-care) and `confidence` is
    P(that level or above); `ask` names a rule whose warning sign the unit half-shows,
    whose check question the dialogue may ask.
    """

    unit: str
    level: Level
    rule_id: str | None
    ask: str | None
    confidence: float = 1.0


class LearnedCheck:
    """Adds the learned layer's findings to a screening; flags uncertain units to ask about."""

    def __init__(self, folder: Path, book: RuleBook, precision: str) -> None:
        self.folder = folder
        self.precision = precision
        self.book = book
        self._load_lock = threading.Lock()

    @cached_property
    def model(self) -> UnitClassifier:
        """Return the fine-tuned classifier (loaded on first use, once)."""
        with self._load_lock:
            return UnitClassifier(self.folder, self.precision)

    def read(self, text: str, apart: bool = False) -> list[UnitReading]:
        """Read every unit of a message; return those with a red flag or a doubt.

        `apart`: the message sets someone else's story apart from the writer's own.
        """
        if len(text.split()) < MIN_WORDS:
            return []  # "No", "ok thanks": answers and thanks, read by the rules alone
        units = model_units(text, self.book)
        reach, rule_scores = self.model.predict(units)
        readings = []
        for row, unit in enumerate(units):
            level = self._level(unit, reach[row], apart)
            ceiling = self._ceiling(rule_scores[row])
            ask = None
            if level > ceiling and reach[row, level] < SURE:
                # The level head reads more than any rule the rule head believes in ("my hip
                # hurts at night": urgent, yet most like the doctor-level night-pain rule):
                # fire what both agree on and ask about the rest.
                ask = self._rule_for(rule_scores[row], level)
                level = ceiling
            elif level < Level.URGENT and reach[row, Level.URGENT] >= self.model.thresholds["ask"]:
                ask = self._rule_for(rule_scores[row], Level.URGENT)
            if level == Level.SELF_CARE and ask is None:
                continue
            rule_id = self._rule_for(rule_scores[row], level) if level else None
            readings.append(UnitReading(unit, level, rule_id, ask, float(reach[row, level])))
        return readings

    def _level(self, unit: str, reach: np.ndarray, apart: bool) -> Level:
        """Return the highest level the unit reaches past its threshold and the rules' doubt.

        Where the rules read a warning sign here as not the writer's now and fired nothing,
        the model must be surer to overrule them (negated, someone else's) or may only ask
        (hypothetical, past: "what if I fall?", "broke it years ago"). A unit told only of
        someone else, the writer not in it, also needs that surer reading, as does one that
        names someone else in a message that sets their story apart from the writer's.
        """
        rules = screen(unit, self.book)
        contexts = {f.context for f in rules.mentioned} if not rules.fired else set()
        bar = 0.0
        if contexts:
            bar = ASK_ONLY if contexts & {"hypothetical", "past"} else DISPUTED_BAR
        elif not rules.fired and tells_only_of_others(rules, self.book):
            bar = DISPUTED_BAR  # "watched someone go flying on the ice": not the writer's
        elif apart and "names_other" in rules.cues:
            bar = DISPUTED_BAR  # "my sister's boy is limping... for me, what stretches?"
        thresholds = self.model.thresholds
        return max(
            (lvl for lvl in Level if lvl and reach[lvl] >= max(thresholds[lvl.label], bar)),
            default=Level.SELF_CARE,
        )

    def _ceiling(self, scores: np.ndarray) -> Level:
        """Return the highest level reachable by a rule the rule head finds plausible."""
        plausible = scores >= min(PLAUSIBLE_RULE, float(scores.max()))
        return max(
            self.book.rule(name).highest_level
            for name, keep in zip(self.model.rules, plausible, strict=True)
            if keep
        )

    def _rule_for(self, scores: np.ndarray, level: Level) -> str:
        """Pick the most likely rule that can be at this level (its referral fits it)."""
        order = np.argsort(-scores)
        for column in order:
            rule = self.book.rule(self.model.rules[column])
            if level in rule.levels:
                return rule.rule_id
        return self.model.rules[int(order[0])]

    def _fires_from(self, rule_id: str, level: Level) -> float:
        """Return how sure the layer must be to fire a rule the rules ask about (rules.toml)."""
        return self._bar(level, self.book.rule(rule_id).learned_sureness)

    def _bar(self, level: Level, sureness: float) -> float:
        """Return the probability `sureness` of the way from the level's threshold to 1."""
        threshold = self.model.thresholds[level.label]
        return threshold + sureness * (1 - threshold)

    def check(self, screening: Screening) -> Screening:
        """Return the screening with the learned findings added (never removed or lowered)."""
        found = {finding.rule_id for finding in screening.fired}
        extra: dict[str, Finding] = {}
        asks: list[str] = []
        for reading in self.read(screening.text, "apart" in screening.cues):
            if reading.ask is not None and reading.ask not in found:
                asks.append(reading.ask)
            if reading.rule_id in screening.asks and reading.confidence < self._fires_from(
                reading.rule_id, reading.level
            ):
                continue  # the rules ask about a look-alike ("hurts at night"): the answer tells
            if reading.rule_id is None or reading.level <= screening.level:
                continue  # it adds a finding only where it raises the level
            if reading.rule_id in found and reading.confidence < self._bar(
                reading.level, RAISE_SURENESS
            ):
                continue  # "can't walk on it": the rules' urgent, not an emergency
            known = extra.get(reading.rule_id)
            if known is not None and known.level >= reading.level:
                continue
            extra[reading.rule_id] = Finding(
                reading.rule_id, reading.level, "present", (reading.unit,), source="learned"
            )
        return screening.with_findings(list(extra.values()), asks=tuple(dict.fromkeys(asks)))
