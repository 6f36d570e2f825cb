"""Word-level text handling shared by BM25 search and answer sentence scoring."""

from __future__ import annotations

import re
from functools import cache

from bm25s.stopwords import STOPWORDS_EN_PLUS

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Return the stemmed content words of a text (lowercased, stopwords dropped)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS_EN_PLUS]
    return _stemmer().stemWords(words)
