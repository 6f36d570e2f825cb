"""Training the learned layer: labelled messages -> reading units -> two logistic heads.

Sources (all JSON lines of {"text", "level", "rules"?, "evidence"?}):
- `bot/safety/training/*.jsonl`: messages written to teach (pairs of red flags and their
  negated, hypothetical, past, someone-else counterparts; long stories with the deciding
  words marked as `evidence`);
- the project's labelled sets and retired fresh rounds named in `sources.txt` there;
- every rule's examples and not_examples in rules.toml.

A unit is labelled when we know what it says: every unit of a self-care message is
self-care; in a red-flag message, the units holding the evidence (or, without evidence,
the units the rules fire on at the message's level, or the whole of a short message) carry
its level, and its other units are left out rather than guessed. Thresholds are chosen on
held-out folds (grouped by message), so that they reflect messages the head has not seen.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import numpy as np

from bot.embedding import TextEmbedder
from bot.safety.learned import HEAD_DIR, LEVELS, at_least, head_inputs
from bot.safety.rules import Level, RuleBook, default_rulebook
from bot.safety.screen import screen
from bot.text import reading_units

TRAINING_DIR = Path(str(files("bot.safety").joinpath("training")))
TRAINING_VERSION = 1
FOLDS = 5
REGULARISATION = 4.0
# Highest share of self-care messages a threshold may raise, on held-out folds.
FALSE_ALARM_CAP = {"doctor": 0.05, "urgent": 0.04, "emergency": 0.03, "ask": 0.10}


@dataclass(frozen=True)
class Example:
    """One labelled message and where it came from."""

    text: str
    level: Level
    rules: tuple[str, ...]
    evidence: str
    source: str


@dataclass(frozen=True)
class Unit:
    """One labelled reading unit; `group` ties it to its message for grouped folds."""

    text: str
    level: Level
    rule: str | None
    group: int


def training_files(folder: Path = TRAINING_DIR, root: Path | None = None) -> list[Path]:
    """List the training files: the folder's own and those its sources.txt names."""
    root = root or Path.cwd()
    paths = sorted(folder.glob("*.jsonl"))
    listed = folder / "sources.txt"
    if listed.exists():
        for line in listed.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                paths.append(root / line.strip())
    return paths


def load_examples(paths: list[Path], book: RuleBook) -> list[Example]:
    """Read labelled messages from the files and the rule book's own examples."""
    examples = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "text" not in record:
                continue  # a round's conversation file is not training data
            rules = tuple(r for r in record.get("rules", []) if r in _rule_ids(book))
            examples.append(
                Example(
                    record["text"],
                    Level.parse(record["level"]),
                    rules,
                    record.get("evidence", "") or "",
                    f"{path.name}:{number}",
                )
            )
    for rule in book.rules:
        examples += [
            Example(text, rule.level, (rule.rule_id,), "", "rules.toml") for text in rule.examples
        ]
        examples += [
            Example(text, Level.SELF_CARE, (), "", "rules.toml") for text in rule.not_examples
        ]
    examples += [
        Example(text, Level.SELF_CARE, (), "", "rules.toml") for text in book.benign_examples
    ]
    return examples


def _rule_ids(book: RuleBook) -> set[str]:
    return {rule.rule_id for rule in book.rules}


def label_units(example: Example, group: int, book: RuleBook) -> list[Unit]:
    """Return the units of a message whose label is known (see the module docstring)."""
    units = reading_units(example.text)
    if not units:
        return []
    if example.level == Level.SELF_CARE:
        return [Unit(unit, Level.SELF_CARE, None, group) for unit in units]
    rule = next((r for r in example.rules if book.rule(r).level == example.level), None)
    rule = rule or (example.rules[0] if example.rules else None)
    if example.evidence:
        chosen = [unit for unit in units if _holds(unit, example.evidence)]
    elif len(units) <= 2:
        chosen = [units[-1]]
    else:
        chosen = [unit for unit in units if screen(unit, book).level == example.level]
    return [Unit(unit, example.level, rule, group) for unit in chosen]


def _holds(unit: str, evidence: str) -> bool:
    """Tell whether a unit holds the evidence, or a good part of it (windows may cut it)."""
    unit, evidence = unit.lower(), evidence.lower().strip(" .")
    if evidence in unit:
        return True
    words = evidence.split()
    half = max(3, len(words) // 2)
    return any(" ".join(words[i : i + half]) in unit for i in range(len(words) - half + 1))


def data_hash(paths: list[Path]) -> str:
    """Hash what the head learns from: the files, rules.toml and this code's version."""
    digest = hashlib.sha256(f"v{TRAINING_VERSION}".encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    # The head reads what the rules read (its rule features), so the rules are data too.
    digest.update(files("bot.safety").joinpath("rules.toml").read_bytes())
    return digest.hexdigest()


def _fit(vectors: np.ndarray, labels: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=REGULARISATION, max_iter=3000, class_weight="balanced")
    return model.fit(vectors, labels)


def _full_weights(model, classes: int, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Return weights with a row for every class (a class absent from a fold gets -inf)."""
    weights = np.zeros((classes, dimension), dtype=np.float32)
    bias = np.full(classes, -1e4, dtype=np.float32)
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes
        weights[model.classes_[1]] = model.coef_[0]
        bias[model.classes_[1]] = model.intercept_[0]
        bias[model.classes_[0]] = 0.0
    else:
        weights[model.classes_] = model.coef_
        bias[model.classes_] = model.intercept_
    return weights, bias


def _choose_thresholds(
    reach: dict[int, np.ndarray], examples: list[Example]
) -> tuple[dict[str, float], dict[str, float]]:
    """Pick, per level, the lowest threshold whose false alarms on self-care stay capped.

    `reach[group]` is the highest P(level or above) over the message's held-out units.
    Returns the thresholds and the held-out recall each one gives.
    """
    benign = [g for g, e in enumerate(examples) if e.level == Level.SELF_CARE and g in reach]
    thresholds, recall = {}, {}
    for name, level in (
        ("doctor", Level.DOCTOR),
        ("urgent", Level.URGENT),
        ("emergency", Level.EMERGENCY),
        ("ask", Level.URGENT),
    ):
        scores = np.sort([reach[g][level] for g in benign])[::-1]
        allowed = int(FALSE_ALARM_CAP[name] * len(scores))
        threshold = float(scores[allowed]) + 1e-6 if len(scores) > allowed else 0.5
        threshold = min(max(threshold, 0.2), 0.95)
        thresholds[name] = threshold
        positives = [g for g, e in enumerate(examples) if e.level >= level and g in reach]
        recall[name] = float(np.mean([reach[g][level] >= threshold for g in positives]))
    thresholds["ask"] = min(thresholds["ask"], thresholds["urgent"])
    return thresholds, recall


def train(
    embedder: TextEmbedder,
    *,
    folder: Path = TRAINING_DIR,
    out: Path = HEAD_DIR,
    model_name: str = "",
    root: Path | None = None,
) -> dict:
    """Train both heads, choose thresholds on held-out folds, write the head and manifest.

    Returns:
        The manifest written beside the weights.
    """
    from sklearn.model_selection import GroupKFold

    started = time.monotonic()
    book = default_rulebook()
    paths = training_files(folder, root)
    examples = load_examples(paths, book)
    units = [u for group, e in enumerate(examples) for u in label_units(e, group, book)]
    # Thresholds are chosen on whole messages: every unit of a held-out message is read.
    message_units = [reading_units(e.text) for e in examples]
    texts = list(dict.fromkeys([u.text for u in units] + [t for m in message_units for t in m]))
    screenings = [screen(text, book) for text in texts]
    inputs_of = dict(
        zip(texts, head_inputs(screenings, embedder.embed_passages(texts)), strict=True)
    )
    vectors = np.vstack([inputs_of[u.text] for u in units])
    levels = np.array([int(u.level) for u in units])
    groups = np.array([u.group for u in units])

    reach: dict[int, np.ndarray] = {}
    for train_rows, test_rows in GroupKFold(FOLDS).split(vectors, levels, groups):
        model = _fit(vectors[train_rows], levels[train_rows])
        weights, bias = _full_weights(model, len(LEVELS), vectors.shape[1])
        for group in set(groups[test_rows].tolist()):
            held_out = np.vstack([inputs_of[t] for t in message_units[group]])
            logits = held_out @ weights.T + bias
            probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            reach[group] = at_least(probabilities).max(axis=0)
    thresholds, recall = _choose_thresholds(reach, examples)

    level_weights, level_bias = _full_weights(_fit(vectors, levels), len(LEVELS), vectors.shape[1])
    flagged = [n for n, u in enumerate(units) if u.rule]
    rule_names = sorted({units[n].rule for n in flagged})
    rule_labels = np.array([rule_names.index(units[n].rule) for n in flagged])
    rule_weights, rule_bias = _full_weights(
        _fit(vectors[flagged], rule_labels), len(rule_names), vectors.shape[1]
    )
    manifest = {
        "format": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model_name,
        "dimension": int(vectors.shape[1]),
        "inputs": "sentence embedding + rule features (bot.safety.learned.rule_features)",
        "levels": list(LEVELS),
        "rules": rule_names,
        "thresholds": thresholds,
        "held_out_recall": recall,
        "messages": len(examples),
        "units": {label: int((levels == n).sum()) for n, label in enumerate(LEVELS)},
        "sources": [path.name for path in paths],
        "data_hash": data_hash(paths),
        "training_seconds": round(time.monotonic() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / "head.npz",
        level_weights=level_weights,
        level_bias=level_bias,
        rule_weights=rule_weights,
        rule_bias=rule_bias,
    )
    (out / "head.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
