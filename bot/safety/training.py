"""Training the learned layer: labelled messages -> reading units -> a fine-tuned MiniLM.

Sources (all JSON lines of {"text", "level", "rules"?, "evidence"?}):
- `bot/safety/training/*.jsonl`: messages written to teach (pairs of red flags and their
  negated, hypothetical, past, someone-else counterparts; long stories with the deciding
  words marked as `evidence`; ordinary questions and conversational turns);
- the project's labelled sets and retired fresh rounds named in `sources.txt` there;
- every rule's examples and not_examples in rules.toml.

A unit is labelled when we know what it says: every unit of a self-care message is
self-care; in a red-flag message, the units holding the evidence (or, without evidence,
the units the rules fire on at the message's level, or the whole of a short message) carry
its level, and its other units are left out rather than guessed.

The encoder (all-MiniLM-L6-v2) is fine-tuned with two linear heads, one for the level and
one for the rule, on 85% of the messages; thresholds are chosen on the other 15% (whole
messages, every unit read), so they reflect messages the model has not seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import numpy as np

from bot.onnx_encoder import export_onnx, quantize_int8
from bot.safety.learned import (
    FP32_ENCODER,
    INT8_ENCODER,
    LEVELS,
    MANIFEST,
    MAX_TOKENS,
    at_least,
    model_units,
)
from bot.safety.rules import Level, RuleBook, default_rulebook
from bot.safety.screen import screen

TRAINING_DIR = Path(str(files("bot.safety").joinpath("training")))
TRAINING_VERSION = 2
EPOCHS = 2
BATCH = 32
HELD_OUT = 0.15
# The pooled vector is L2-normalised then scaled, so the heads' logits have room to move.
SCALE = 10.0
# The same data give the same model on every x86 CPU: fixed kernels (AVX2 in MKL, ATen and
# oneDNN, where a CPU with AVX-512 would otherwise take other float paths) and threads.
SAME_ARITHMETIC = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
TRAINING_THREADS = 2
# Highest share of held-out self-care messages a threshold may raise.
FALSE_ALARM_CAP = {"doctor": 0.05, "urgent": 0.04, "emergency": 0.03, "ask": 0.10}
# Highest share of held-out urgent messages the emergency threshold may raise: an urgent
# story read as an emergency sends someone to 999 who needed a same-day clinician.
URGENT_AS_EMERGENCY_CAP = 0.06


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
    """One labelled reading unit; `group` ties it to its message (held out together)."""

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
    known_rules = {rule.rule_id for rule in book.rules}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            if "text" not in record:
                continue  # a round's conversation file is not training data
            rules = tuple(r for r in record.get("rules", []) if r in known_rules)
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


def label_units(example: Example, group: int, book: RuleBook) -> list[Unit]:
    """Return the units of a message whose label is known (see the module docstring)."""
    units = model_units(example.text, book)
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


def _lowest_threshold(
    reach: dict[int, np.ndarray], examples: list[Example], label: Level, level: Level, cap: float
) -> float:
    """Return the lowest threshold at `level` that raises at most `cap` of held-out `label`s."""
    scores = np.sort(
        [reach[g][level] for g, e in enumerate(examples) if e.level == label and g in reach]
    )[::-1]
    allowed = int(cap * len(scores))
    return float(scores[allowed]) + 1e-6 if len(scores) > allowed else 0.5


def _choose_thresholds(
    reach: dict[int, np.ndarray], examples: list[Example]
) -> tuple[dict[str, float], dict[str, float]]:
    """Pick, per level, the lowest threshold whose false alarms on self-care stay capped.

    The emergency threshold also keeps urgent messages read as emergencies capped.

    `reach[group]` is the highest P(level or above) over the message's held-out units.
    Returns the thresholds and the held-out recall each one gives.
    """
    thresholds, recall = {}, {}
    for name, level in (
        ("doctor", Level.DOCTOR),
        ("urgent", Level.URGENT),
        ("emergency", Level.EMERGENCY),
        ("ask", Level.URGENT),
    ):
        threshold = _lowest_threshold(
            reach, examples, Level.SELF_CARE, level, FALSE_ALARM_CAP[name]
        )
        if name == "emergency":
            threshold = max(
                threshold,
                _lowest_threshold(reach, examples, Level.URGENT, level, URGENT_AS_EMERGENCY_CAP),
            )
        # Firing needs at least 0.2; asking may start lower, so that doubt always has a band.
        threshold = min(max(threshold, 0.05 if name == "ask" else 0.2), 0.95)
        thresholds[name] = threshold
        positives = [g for g, e in enumerate(examples) if e.level >= level and g in reach]
        recall[name] = float(np.mean([reach[g][level] >= threshold for g in positives]))
    thresholds["ask"] = min(thresholds["ask"], thresholds["urgent"])
    return thresholds, recall


def train(
    model_location: str,
    out: Path,
    *,
    folder: Path = TRAINING_DIR,
    root: Path | None = None,
    epochs: int = EPOCHS,
    seed: int = 0,
) -> dict:
    """Fine-tune the encoder and heads, choose thresholds on held-out messages, save all.

    Args:
        model_location: the sentence-transformers model folder to start from.
        out: the folder to write (encoder/, heads.npz, manifest.json).
        folder: the training folder.
        root: where the paths in sources.txt start (the project folder).
        epochs: passes over the training units.
        seed: makes the split, the order and the head initialisation repeatable.

    Returns:
        The manifest written beside the model.
    """
    for name, value in SAME_ARITHMETIC.items():
        os.environ.setdefault(name, value)  # read when torch loads: a fresh process obeys
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    started = time.monotonic()
    torch.set_num_threads(TRAINING_THREADS)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    book = default_rulebook()
    paths = training_files(folder, root)
    examples = load_examples(paths, book)
    held_out = set(rng.permutation(len(examples))[: int(HELD_OUT * len(examples))].tolist())
    units = [u for group, e in enumerate(examples) for u in label_units(e, group, book)]
    learn = [u for u in units if u.group not in held_out]
    rule_names = sorted({u.rule for u in units if u.rule})

    tokenizer = AutoTokenizer.from_pretrained(model_location)
    encoder = AutoModel.from_pretrained(model_location)
    dimension = encoder.config.hidden_size
    level_head = torch.nn.Linear(dimension, len(LEVELS))
    rule_head = torch.nn.Linear(dimension, len(rule_names))
    counts = np.bincount([int(u.level) for u in learn], minlength=len(LEVELS))
    weights = torch.tensor(len(learn) / (len(LEVELS) * np.maximum(counts, 1)), dtype=torch.float)
    optimiser = torch.optim.AdamW(
        [
            {"params": encoder.parameters(), "lr": 3e-5},
            {"params": [*level_head.parameters(), *rule_head.parameters()], "lr": 1e-3},
        ]
    )

    def pooled(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        states = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        vectors = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(vectors, dim=-1) * SCALE

    encoder.train()
    for _ in range(epochs):
        order = rng.permutation(len(learn))
        for start in range(0, len(learn), BATCH):
            batch = [learn[n] for n in order[start : start + BATCH]]
            vectors = pooled([u.text for u in batch])
            levels = torch.tensor([int(u.level) for u in batch])
            loss = torch.nn.functional.cross_entropy(level_head(vectors), levels, weight=weights)
            flagged = [n for n, u in enumerate(batch) if u.rule]
            if flagged:
                targets = torch.tensor([rule_names.index(batch[n].rule) for n in flagged])
                loss = loss + 0.5 * torch.nn.functional.cross_entropy(
                    rule_head(vectors[flagged]), targets
                )
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()

    encoder.eval()
    reach: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for group in sorted(held_out):
            texts = model_units(examples[group].text, book)
            if texts:
                probabilities = torch.softmax(level_head(pooled(texts)), dim=-1).numpy()
                reach[group] = at_least(probabilities).max(axis=0)
    thresholds, recall = _choose_thresholds(reach, examples)

    out.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(str(out / "encoder"))
    tokenizer.save_pretrained(str(out / "encoder"))
    export_onnx(encoder, tokenizer, out / FP32_ENCODER)
    quantize_int8(out / FP32_ENCODER, out / INT8_ENCODER)
    np.savez(
        out / "heads.npz",
        level_weights=level_head.weight.detach().numpy(),
        level_bias=level_head.bias.detach().numpy(),
        rule_weights=rule_head.weight.detach().numpy(),
        rule_bias=rule_head.bias.detach().numpy(),
    )
    manifest = {
        "format": 2,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": model_location,
        "levels": list(LEVELS),
        "rules": rule_names,
        "scale": SCALE,
        "epochs": epochs,
        "seed": seed,
        "arithmetic": {
            **{name: os.environ.get(name, "") for name in SAME_ARITHMETIC},
            "threads": TRAINING_THREADS,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
        "thresholds": thresholds,
        "held_out_recall": recall,
        "messages": len(examples),
        "held_out_messages": len(reach),
        "units": {label: sum(int(u.level) == n for u in units) for n, label in enumerate(LEVELS)},
        "sources": [path.name for path in paths],
        "data_hash": data_hash(paths),
        "training_seconds": round(time.monotonic() - started, 1),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
