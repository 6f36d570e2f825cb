"""The semantic check: red flags said in words no rule lists, found by embedding similarity.

A message (and each sentence of a longer one) is compared with every rule's example
phrasings and with ordinary runner messages (the rules' not_examples and the book's benign
examples). A rule fires when the message is close to its examples (at least `floor`) and
closer to them than to anything benign by `margin`. The check only adds findings, never
removes or lowers one, and stays silent when the message carries a negation, hypothetical
or past cue: embeddings cannot tell "I can't walk" from "I can walk fine"; the rules can.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from bot.index import Embedder
from bot.safety.rules import Level, RuleBook, default_rulebook
from bot.safety.screen import Finding, Screening

_BLOCKING_CUES = frozenset({"negated", "hypothetical", "past"})
_MAX_SENTENCES = 8


class SemanticCheck:
    """Adds findings for messages that read like a rule's examples and unlike benign ones."""

    def __init__(
        self, embedder: Embedder, floor: float, margin: float, book: RuleBook | None = None
    ) -> None:
        self.embedder = embedder
        self.floor = floor
        self.margin = margin
        self.book = book or default_rulebook()

    @cached_property
    def _anchors(self) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        owners, texts, benign = [], [], list(self.book.benign_examples)
        for rule in self.book.rules:
            owners.extend([rule.rule_id] * len(rule.examples))
            texts.extend(rule.examples)
            benign.extend(rule.not_examples)
        vectors = self.embedder.embed_passages(texts + benign)
        return vectors[: len(texts)], owners, texts, vectors[len(texts) :]

    def warm_up(self) -> None:
        """Embed the anchors now rather than on the first message."""
        _ = self._anchors

    def check(self, screening: Screening, vector: np.ndarray | None = None) -> Screening:
        """Return the screening with semantic findings added (never removed or lowered).

        Args:
            screening: the deterministic screen's result for the message.
            vector: the message's embedding, when the caller has it (retrieval does).
        """
        if not screening.normalized.strip() or screening.cues & _BLOCKING_CUES:
            return screening
        vectors = [vector if vector is not None else self.embedder.embed_query(screening.text)]
        sentences = [
            s.strip() for s in re.split(r"(?<=[.!?;\n])\s+", screening.text) if len(s.strip()) > 15
        ]
        if len(sentences) > 1:
            vectors.extend(self.embedder.embed_passages(sentences[:_MAX_SENTENCES]))
        examples, owners, texts, benign = self._anchors
        matrix = np.vstack(vectors)
        to_examples = matrix @ examples.T
        to_benign = (matrix @ benign.T).max(axis=1, keepdims=True)
        passes = (to_examples >= self.floor) & (to_examples - to_benign >= self.margin)
        already = {finding.rule_id for finding in screening.findings}
        someone_else = "someone_else" in screening.cues
        extra: dict[str, Finding] = {}
        for column in np.flatnonzero(passes.any(axis=0)):
            rule = self.book.rule(owners[column])
            if rule.rule_id in already or rule.rule_id in extra:
                continue
            if someone_else and rule.level < Level.URGENT:
                continue
            context = "with_person" if someone_else else "present"
            extra[rule.rule_id] = Finding(
                rule.rule_id, rule.level, context, (texts[column],), source="semantic"
            )
        return screening.with_findings(list(extra.values()))
