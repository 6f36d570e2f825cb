"""Word-level text handling shared by BM25 search and answer sentence scoring."""

from __future__ import annotations

import re
from functools import cache

from bm25s.stopwords import STOPWORDS_EN_PLUS

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# Words runners type for what the articles name otherwise (brands, British and American
# usage, slang). Applied to queries only: each word brings its article word along.
SYNONYMS = {
    "paracetamol": "acetaminophen",
    "calpol": "acetaminophen",
    "panadol": "acetaminophen",
    "nurofen": "ibuprofen",
    "motrin": "ibuprofen",
    "brufen": "ibuprofen",
    "naprosyn": "naproxen",
    "painkiller": "pain medications",
    "painkillers": "pain medications",
    "pills": "medications",
    "physio": "physiotherapist",
    "warmup": "warm up",
    "warmups": "warm up",
    "sneakers": "shoes",
    "trainers": "shoes",
    "hammy": "hamstring",
    "hammies": "hamstrings",
    "tendinitis": "tendonitis",
    "tendinopathy": "tendonitis",
    "cortisone": "corticosteroids",
    "jab": "injection",
    "shot": "injection",
    "oa": "osteoarthritis",
    "bruise": "bruise pointer",
    "broke": "fracture",
    "broken": "fracture",
    "break": "fracture",
    "cracked": "fracture",
}


@cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Return a text's words, lowercased, in order."""
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Return the stemmed content words of a text (lowercased, stopwords dropped)."""
    content = [w for w in words(text) if w not in STOPWORDS_EN_PLUS]
    return _stemmer().stemWords(content)


def phrases(text: str) -> set[str]:
    """Return a text's stemmed two-word names: adjacent content words ("leg swing")."""
    found = words(text)
    stems = _stemmer().stemWords(found)
    return {
        f"{stems[i]} {stems[i + 1]}"
        for i in range(len(found) - 1)
        if found[i] not in STOPWORDS_EN_PLUS and found[i + 1] not in STOPWORDS_EN_PLUS
    }


def query_terms(text: str) -> list[str]:
    """Return a query's terms, each synonym followed by the word the articles use."""
    expanded = " ".join(f"{w} {SYNONYMS[w]}" if w in SYNONYMS else w for w in words(text))
    return terms(expanded)
