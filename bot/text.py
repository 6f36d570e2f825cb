"""Text helpers shared by the corpus, the safety screen, the dialogue and Telegram.

One home for each: cleaning (typography, control characters, whitespace) and the two ways
of cutting text into sentences: article prose, and what people type.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

_TYPOGRAPHY = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\xa0": " ", "\u200b": ""}
)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "dr.", "mr.", "mrs.", "ms.", "st.", "approx.")
_SENTENCE_END = re.compile(r"([.!?][\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


def clean_text(text: str) -> str:
    """Normalise typography and whitespace so that every format reads the same."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY)
    return re.sub(r"\s+", " ", text).strip()


def strip_controls(text: str, *, keep_newlines: bool = False) -> str:
    """Replace control and format characters (and, unless kept, line breaks) with spaces."""
    return "".join(
        " "
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
        and not (keep_newlines and char == "\n")
        else char
        for char in text
    )


def clean_message(text: str) -> str:
    """Drop control characters and surplus whitespace from a message (the whole text is kept)."""
    return re.sub(r"\s+", " ", strip_controls(text)).strip()


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; good enough for article text, kept deterministic."""
    pieces = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.end(1)].strip()
        last_word = candidate.rsplit(" ", 1)[-1].lower()
        if last_word in _ABBREVIATIONS:
            continue
        pieces.append(candidate)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return [piece for piece in pieces if piece]


_TYPED_SENTENCE_END = re.compile(r"(?<=[.!?;\n])\s+")
_MAX_UNIT_WORDS = 40


def sentences(text: str) -> list[str]:
    """Split what someone typed into sentences; a run-on one is cut into ~40-word pieces.

    Unlike article prose, a typed sentence may start in lower case and end in ";" or a
    line break.

    People on phones often type a whole story without a full stop; cutting it keeps each
    piece inside what the embedding model reads closely.
    """
    pieces = []
    for sentence in _TYPED_SENTENCE_END.split(text.strip()):
        words = sentence.split()
        for start in range(0, len(words), _MAX_UNIT_WORDS):
            piece = " ".join(words[start : start + _MAX_UNIT_WORDS])
            if piece:
                pieces.append(piece)
    return pieces


QUESTION_START = re.compile(
    r"^(?:how|why|when|what|whats|which|where|who|should|can|could|is|are|do|does|will|would)\b",
    re.IGNORECASE,
)


_CLAUSE_END = re.compile(r"(?<=\?)|[,;.!\n]")


def asking_clauses(text: str) -> list[str]:
    """The clauses of a message that ask something: "...?", or opening "how", "should"...

    "my legs are dead after that hill session, should I foam roll?" asks only its last.
    """
    clauses = (clause.strip() for clause in _CLAUSE_END.split(text))
    return [c for c in clauses if c and (c.endswith("?") or QUESTION_START.match(c))]


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
