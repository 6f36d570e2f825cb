"""Hybrid search (FAISS dense + BM25 lexical, fused) and the confidence that says "covered".

Dense similarity alone cannot tell "hip pain after running" from "knee pain after running":
both sit close to the articles. The coverage decision therefore weighs three things,
calibrated on tests/data/retrieval_questions.jsonl (see README, "Retrieval"):

    confidence = best cosine - cosine to the nearest out-of-scope topic
                 + lexical_weight * (IDF-weighted share of the question's words in the passage)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files

import numpy as np

from bot.config import Settings
from bot.corpus import Passage
from bot.embedding import TextEmbedder
from bot.index import KnowledgeIndex
from bot.unmentioned import (
    article_words,
    sore_places,
    unmentioned_terms,
    unsaid_pain_sites,
    without,
)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its scores."""

    passage: Passage
    score: float
    dense: float
    lexical: float

    @classmethod
    def of(cls, passage: Passage, score: float = 1.0) -> Hit:
        """A passage chosen without a search (the topic, "tell me more"), at a given score."""
        return cls(passage, score, score, 0.0)


@dataclass(frozen=True)
class Retrieval:
    """The ranked hits for a query and whether the articles cover it."""

    query: str
    hits: tuple[Hit, ...]
    covered: bool
    confidence: float
    unmentioned: tuple[str, ...] = ()  # words of the question no article uses (not in `covered`)


def out_of_scope_topics() -> list[str]:
    """Return the topics the articles are known not to cover (bot/out_of_scope.txt)."""
    text = files("bot").joinpath("out_of_scope.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


class Retriever:
    """Searches a loaded index; BM25 sharpens the dense ranking, both decide coverage."""

    def __init__(self, index: KnowledgeIndex, embedder: TextEmbedder, settings: Settings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings

    @cached_property
    def _article_words(self) -> frozenset[str]:
        return article_words(passage.embedding_text() for passage in self.index.passages)

    @cached_property
    def _sore_places(self) -> frozenset[str]:
        return sore_places(passage.text for passage in self.index.passages)

    @cached_property
    def _topic_vectors(self) -> np.ndarray:
        return self.embedder.embed_passages(out_of_scope_topics())

    def search(self, query: str, *, limit: int | None = None) -> Retrieval:
        """Rank passages for a query.

        Args:
            query: the user's words (their embedding comes from the embedder's cache when
                the safety screen or a batch embedded them already).
            limit: how many hits to return (default: all fused candidates).

        Returns:
            Hits best first, and whether the articles cover the question at all.
        """
        query_vector = self.embedder.embed_queries([query])[0]
        candidates = self.settings.candidates
        dense = dict(self.index.dense(query_vector, candidates))
        lexical = dict(self.index.lexical(query, candidates))
        dense_floor = min(dense.values(), default=0.0)
        lexical_top = max(lexical.values(), default=0.0) or 1.0
        weight = self.settings.dense_weight
        hits = []
        for row in dense.keys() | lexical.keys():
            dense_score = dense.get(row, dense_floor)
            lexical_score = lexical.get(row, 0.0) / lexical_top
            fused = weight * dense_score + (1 - weight) * lexical_score
            hits.append(Hit(self.index.passages[row], fused, dense_score, lexical_score))
        hits.sort(key=lambda hit: (-hit.score, hit.passage.passage_id))
        confidence = self._confidence(query, query_vector, hits)
        unmentioned = tuple(
            dict.fromkeys(
                unmentioned_terms(
                    query, self._article_words, self._pull, self.settings.unmentioned_min_pull
                )
                + unsaid_pain_sites(query, self._sore_places)
            )
        )
        return Retrieval(
            query=query,
            hits=tuple(hits[:limit] if limit else hits),
            covered=confidence >= self.settings.covered_threshold,
            confidence=confidence,
            unmentioned=unmentioned,
        )

    def _pull(self, query: str, word: str) -> float:
        """How much closer to the nearest passage the query comes without this word."""
        vectors = self.embedder.embed_queries([query, without(query, word)])
        nearest = [self.index.dense(vector, 1)[0][1] for vector in vectors]
        return nearest[1] - nearest[0]

    def _confidence(self, query: str, query_vector: np.ndarray, hits: list[Hit]) -> float:
        if not hits:
            return -1.0
        best_dense = max(hit.dense for hit in hits)
        nearest_topic = float(np.max(self._topic_vectors @ query_vector))
        by_dense = sorted(hits, key=lambda hit: -hit.dense)[:3]
        overlap = max(self.index.term_overlap(query, hit.passage) for hit in by_dense)
        return best_dense - nearest_topic + self.settings.coverage_lexical_weight * overlap
