"""Words a question names that the articles never use: "glucosamine", "piriformis".

A question about something the articles never mention can still sit close to a passage in
embedding space ("does turmeric help with hip inflammation?" lands on the inflammation
passage), and the retrieval confidence cannot tell. The vocabulary can: a word of a short
question is unmentioned when no article uses it, it is not a typo of a word they use
("bursitus"), and it is not ordinary English (wordfreq's frequency: "gimmick" or "comfy" are
how people talk, not what they ask about). Long stories are left to retrieval: they are full
of words like "parkrun" that are not what is asked.

Ordinary words name things too ("ice", "yoga", "an mri"), and so do short rare ones
("prp"). Such a word the articles never use is unmentioned when it is what keeps the
question away from them: without it the question comes clearly closer to some passage
("how long should I ice my hip?" without "ice" is a question the articles answer).
"Whats", "actually" or "bother" move it very little.

Names of things are unmentioned however little they pull: a word that can only be a noun
("hernia", "cadence", "ankles", "mileage") names what is asked about, where "sore",
"fix" or "ice" may be how the question is put (lemminflect's lexicon knows which words
can be what). Not when its lemma is the articles' own ("tore" is their "tear"), when it
is said of the topic ("...or is it a gimmick?") or measures what follows it ("bits of
cartilage"), nor outside the clause that asks ("my legs are dead after that hill
session, should I foam roll?" asks about foam rolling).

A place a question says hurts ("why do my knees hurt?") is unmentioned when no article
sentence about pain names it. How questions say these things is in unmentioned.toml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from bot.errors import HipbotError
from bot.lexical import STOPWORDS_EN_PLUS, SYNONYMS, terms, words
from bot.tables import compile_checked, parse_table
from bot.text import asking_clauses, split_sentences

# Words a question may have and still be one short question, not a story.
MAX_QUESTION_WORDS = 14
# Zipf frequency (log10 of uses per billion words) at or above which a word is ordinary
# English: "treatable" 3.0, "wobbly" 3.1; "glucosamine" 2.3, "piriformis" 1.6.
ORDINARY_ZIPF = 2.95
MIN_LENGTH = 4
# Other words are weighed by their pull from three letters: "mri", "prp".
MIN_PULLED_LENGTH = 3
# A noun at least this common is how people talk ("difference" 5.0), not a name.
THING_ZIPF = 5.0
MAX_LENGTH = 30  # longer "words" are keyboard noise, not names
# How close (rapidfuzz ratio, 0-100) a word must be to an article's word to be its typo,
# or to an ordinary English word to be that word misspelt ("actualy").
TYPO_OF_ARTICLE_WORD = 75
TYPO_OF_ENGLISH_WORD = 88
ENGLISH_WORDS = 30_000


def article_words(texts: Iterable[str]) -> frozenset[str]:
    """Return every word the articles use."""
    return frozenset(word for text in texts for word in words(text))


def unmentioned_terms(
    question: str,
    known: frozenset[str],
    pull: Callable[[str, str], float] | None = None,
    min_pull: float = 0.0,
) -> list[str]:
    """Return the words of a short question that the articles (`known`) never use.

    Args:
        question: the user's question.
        known: every word the articles use.
        pull: how much closer to the articles the question comes without a word (cosine
            gain); without it only rare words are weighed.
        min_pull: the gain from which an ordinary word is what the question is about.
    """
    asked = words(question)
    if len(asked) > MAX_QUESTION_WORDS:
        return []
    said = _stems_of(known) | _stems_of(frozenset(SYNONYMS))
    candidates = [
        word
        for word in dict.fromkeys(asked)
        if MIN_PULLED_LENGTH <= len(word) <= MAX_LENGTH
        and word.isalpha()
        and word not in known
        and word not in STOPWORDS_EN_PLUS
        and not set(terms(word)) & said
    ]
    if not candidates:
        return []  # the usual case: wordfreq is not even loaded
    from lemminflect import getAllLemmas
    from rapidfuzz import fuzz, process
    from wordfreq import zipf_frequency

    asked_about = set(words(" ".join(asking_clauses(question))))
    found = []
    for word in candidates:
        lemmas = getAllLemmas(word)
        forms = " ".join(form for forms in lemmas.values() for form in forms)
        if set(words(forms)).intersection(STOPWORDS_EN_PLUS) or set(terms(forms)) & said:
            continue  # "tore": the articles' "tear"; "wheres": "where"
        thing = (
            set(lemmas) == {"NOUN"}
            and zipf_frequency(word, "en") < THING_ZIPF
            and not any(
                re.search(pattern.replace("{word}", word), question.lower())
                for pattern in _phrases().describes
            )
            and word in asked_about
        )
        rare = (
            zipf_frequency(word, "en") < ORDINARY_ZIPF
            and len(word) >= MIN_LENGTH
            and not process.extractOne(
                word, known, scorer=fuzz.ratio, score_cutoff=TYPO_OF_ARTICLE_WORD
            )
            and not process.extractOne(
                word, _english_words(), scorer=fuzz.ratio, score_cutoff=TYPO_OF_ENGLISH_WORD
            )
        )
        if thing or rare or (pull is not None and pull(question, word) >= min_pull):
            found.append(word)
    return found


def sore_places(texts: Iterable[str]) -> frozenset[str]:
    """Return the stems the articles use in sentences about pain: the places they say hurt."""
    pain = _phrases().pain
    return frozenset(
        term
        for text in texts
        for sentence in split_sentences(text)
        if pain.search(sentence.lower())
        for term in terms(sentence)
    )


def unsaid_pain_sites(question: str, sore: frozenset[str]) -> list[str]:
    """Return the places a question says hurt that no article says hurt ("my knees").

    A short question is read whole; a longer message only where it asks.
    """
    from lemminflect import getAllLemmas

    lowered = question.lower()
    if len(words(lowered)) > MAX_QUESTION_WORDS:
        lowered = " ".join(asking_clauses(lowered))
    sites = [
        match["site"] for pattern in _phrases().pain_sites for match in pattern.finditer(lowered)
    ]
    return list(
        dict.fromkeys(
            site
            for site in sites
            if "NOUN" in getAllLemmas(site) and terms(site) and not set(terms(site)) & sore
        )
    )


@dataclass(frozen=True)
class QuestionPhrases:
    """How a question says what it is about (unmentioned.toml)."""

    describes: tuple[str, ...]
    pain: re.Pattern[str]
    pain_sites: tuple[re.Pattern[str], ...]


class UnmentionedTableError(HipbotError):
    """unmentioned.toml is malformed: the message names the entry."""


def parse_question_phrases(text: str) -> QuestionPhrases:
    """Parse and check the table; a mistake raises UnmentionedTableError naming the entry."""
    name = "unmentioned.toml"
    data = parse_table(text, name, UnmentionedTableError)
    unknown = set(data) - {"describes", "pain", "pain_sites"}
    if unknown:
        raise UnmentionedTableError(f"{name}: unknown {sorted(unknown)}")

    def compiled(source: object, where: str) -> re.Pattern[str]:
        return compile_checked(source, f"{name}, {where}", UnmentionedTableError)

    describes = tuple(data.get("describes", []))
    for pattern in describes:
        compiled(pattern, "describes")
        if "{word}" not in pattern:
            raise UnmentionedTableError(f"{name}, describes: {pattern!r} lacks {{word}}")
    sites = tuple(compiled(p, "pain_sites") for p in data.get("pain_sites", []))
    for site in sites:
        if "site" not in site.groupindex:
            raise UnmentionedTableError(f"{name}, pain_sites: {site.pattern!r} lacks (?P<site>)")
    return QuestionPhrases(describes, compiled(data.get("pain"), "pain"), sites)


@cache
def _phrases() -> QuestionPhrases:
    text = files("bot").joinpath("unmentioned.toml").read_text(encoding="utf-8")
    return parse_question_phrases(text)


def without(question: str, word: str) -> str:
    """The question with every use of a word taken out."""
    return re.sub(rf"\b{re.escape(word)}\b", " ", question, flags=re.IGNORECASE)


@cache
def _stems_of(vocabulary: frozenset[str]) -> frozenset[str]:
    """Stems of a vocabulary: "shots" is the articles' "shot", "knees" their "knee"."""
    return frozenset(terms(" ".join(vocabulary)))


@cache
def _english_words() -> list[str]:
    from wordfreq import top_n_list

    return [w for w in top_n_list("en", ENGLISH_WORDS) if w.isalpha() and len(w) >= MIN_LENGTH]
