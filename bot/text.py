"""Text helpers shared by the screen, the learned layer and the dialogue: one home for each."""

from __future__ import annotations

import itertools
import re

_SENTENCE_END = re.compile(r"(?<=[.!?;\n])\s+")
_MAX_UNIT_WORDS = 40


def sentences(text: str) -> list[str]:
    """Split a message into sentences; a run-on sentence is cut into pieces of ~40 words.

    People on phones often type a whole story without a full stop; cutting it keeps each
    piece inside what the embedding model reads closely.
    """
    pieces = []
    for sentence in _SENTENCE_END.split(text.strip()):
        words = sentence.split()
        for start in range(0, len(words), _MAX_UNIT_WORDS):
            piece = " ".join(words[start : start + _MAX_UNIT_WORDS])
            if piece:
                pieces.append(piece)
    return pieces


def reading_units(text: str) -> list[str]:
    """Return the units the learned layer reads: each sentence with the one before it.

    The sentence before carries the context a sentence alone lacks ("My friend fell. She
    can't walk." is about the friend), and a two-sentence window stays short enough for the
    model. A one-sentence message is one unit.
    """
    parts = sentences(text)
    if not parts:
        return []
    return [parts[0]] + [f"{before} {after}" for before, after in itertools.pairwise(parts)]
