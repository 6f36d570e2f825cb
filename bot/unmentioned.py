"""Words a question names that the articles never use: "glucosamine", "piriformis".

A question about something the articles never mention can still sit close to a passage in
embedding space ("does turmeric help with hip inflammation?" lands on the inflammation
passage), and the retrieval confidence cannot tell. The vocabulary can: a word of a short
question is unmentioned when no article uses it, it is not a typo of a word they use
("bursitus"), and it is not ordinary English (wordfreq's frequency: "gimmick" or "comfy" are
how people talk, not what they ask about). Long stories are left to retrieval: they are full
of words like "parkrun" that are not what is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from bot.lexical import STOPWORDS_EN_PLUS, SYNONYMS, words

# Words a question may have and still be one short question, not a story.
MAX_QUESTION_WORDS = 14
# Zipf frequency (log10 of uses per billion words) at or above which a word is ordinary
# English: "treatable" 3.0, "wobbly" 3.1; "glucosamine" 2.3, "piriformis" 1.6.
ORDINARY_ZIPF = 2.95
MIN_LENGTH = 4
MAX_LENGTH = 30  # longer "words" are keyboard noise, not names
# How close (rapidfuzz ratio, 0-100) a word must be to an article's word to be its typo,
# or to an ordinary English word to be that word misspelt ("actualy").
TYPO_OF_ARTICLE_WORD = 75
TYPO_OF_ENGLISH_WORD = 88
ENGLISH_WORDS = 30_000


def article_words(texts: Iterable[str]) -> frozenset[str]:
    """Return every word the articles use."""
    return frozenset(word for text in texts for word in words(text))


def unmentioned_terms(question: str, known: frozenset[str]) -> list[str]:
    """Return the words of a short question that the articles (`known`) never use."""
    asked = words(question)
    if len(asked) > MAX_QUESTION_WORDS:
        return []
    candidates = [
        word
        for word in dict.fromkeys(asked)
        if MIN_LENGTH <= len(word) <= MAX_LENGTH
        and word.isalpha()
        and word not in known
        and word not in STOPWORDS_EN_PLUS
        and word not in SYNONYMS
    ]
    if not candidates:
        return []  # the usual case: wordfreq is not even loaded
    from rapidfuzz import fuzz, process
    from wordfreq import zipf_frequency

    return [
        word
        for word in candidates
        if zipf_frequency(word, "en") < ORDINARY_ZIPF
        and not process.extractOne(
            word, known, scorer=fuzz.ratio, score_cutoff=TYPO_OF_ARTICLE_WORD
        )
        and not process.extractOne(
            word, _english_words(), scorer=fuzz.ratio, score_cutoff=TYPO_OF_ENGLISH_WORD
        )
    ]


@cache
def _english_words() -> list[str]:
    from wordfreq import top_n_list

    return [w for w in top_n_list("en", ENGLISH_WORDS) if w.isalpha() and len(w) >= MIN_LENGTH]
