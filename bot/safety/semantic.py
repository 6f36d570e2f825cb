"""The semantic check: red flags said in words no rule lists, found by embedding similarity.

Each sentence the rules found nothing in is compared with every rule's example phrasings
and with ordinary runner messages (the rules' not_examples and the book's benign examples).
An emergency or urgent rule fires when the sentence is close to its examples (at least
`floor`) and closer to them than to anything benign by `margin`. The check only adds
findings, never removes or lowers one, and skips sentences with a negation, hypothetical,
past or reassurance cue: embeddings cannot tell "I can't walk" from "I can walk fine".
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from bot.embedding import TextEmbedder
from bot.safety.rules import Level, RuleBook, default_rulebook
from bot.safety.screen import Finding, Screening, screen

_BLOCKING_CUES = frozenset({"negated", "hypothetical", "past", "reassured"})
_MAX_SENTENCES = 10
_SENTENCE = re.compile(r"(?<=[.!?;\n])\s+")


def sentences_of(text: str) -> list[str]:
    """Return the sentences the check reads separately (a long message has several)."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if len(s.split()) >= 3]
    return sentences[:_MAX_SENTENCES] or [text]


class SemanticCheck:
    """Adds findings for sentences that read like a rule's examples and unlike benign ones."""

    def __init__(
        self, embedder: TextEmbedder, floor: float, margin: float, book: RuleBook | None = None
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

    def check(self, screening: Screening) -> Screening:
        """Return the screening with semantic findings added (never removed or lowered).

        The embedder's cache means a message already embedded for retrieval costs nothing
        more here.
        """
        sentences = sentences_of(screening.text)
        candidates = (
            [screening] if len(sentences) <= 1 else [screen(s, self.book) for s in sentences]
        )
        unread = [
            result.text
            for result in candidates
            if not result.fired and not result.cues & _BLOCKING_CUES and result.normalized
        ]
        if not unread:
            return screening
        matrix = self.embedder.embed_queries(unread)
        examples, owners, texts, benign = self._anchors
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
            if rule.level < Level.URGENT:
                continue  # its job is the dangerous flags; check questions cover the rest
            context = "with_person" if someone_else else "present"
            extra[rule.rule_id] = Finding(
                rule.rule_id, rule.level, context, (texts[column],), source="semantic"
            )
        return screening.with_findings(list(extra.values()))
