"""The index: passages embedded into FAISS, BM25 beside them, and a manifest that names both.

The folder holds one generation of files at a time (`passages-<gen>.jsonl`,
`embeddings-<gen>.npy`, `vectors-<gen>.faiss`, `bm25-<gen>/`) and `manifest.json`, which is
written last with an atomic rename: a build that fails or is interrupted leaves the previous
generation in use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings
from bot.corpus import (
    CHUNKER_VERSION,
    Passage,
    article_files,
    load_corpus,
    split_article,
)
from bot.embedder import Embedder, ProgressCallback
from bot.errors import CorpusError, IndexMismatchError, IndexNotBuiltError
from bot.guide import load_guide
from bot.lexical import query_terms, terms
from bot.query_encoder import current_encoder, encoder_precision, export_encoder, open_encoder

INDEX_FORMAT = 2
MANIFEST = "manifest.json"
METRIC = "cosine (inner product of L2-normalised vectors)"
# A passage's own heading counts this many times over in BM25 (field boosting, as BM25F
# weighs a title): "how should I warm up?" finds "Always Warm Up Before Running" before
# the stretches passage that opens "Once you've warmed up...".
HEADING_WEIGHT = 2
_GENERATION_PREFIXES = ("passages-", "embeddings-", "vectors-", "bm25-")


@dataclass
class BuildReport:
    """What a build did, for the CLI to print."""

    up_to_date: bool
    articles: int = 0
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    index_type: str = ""
    seconds: float = 0.0


def corpus_fingerprint(settings: Settings) -> str:
    """Hash every corpus file and every setting that shapes the index."""
    digest = hashlib.sha256()
    for knob in (
        INDEX_FORMAT,
        CHUNKER_VERSION,
        settings.model,
        settings.max_article_mb,
        settings.hnsw_threshold,
    ):
        digest.update(f"{knob}\0".encode())
    for path in article_files(settings.corpus_dir):
        digest.update(str(path.relative_to(settings.corpus_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """Read the manifest; raise IndexNotBuiltError when it is missing or unreadable."""
    path = index_dir / MANIFEST
    if not path.is_file():
        raise IndexNotBuiltError(f"no index in {index_dir}/ yet: run `hipbot index build`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["files"]["passages"]
    except (ValueError, KeyError, TypeError) as error:
        raise IndexNotBuiltError(
            f"the index manifest {path} is damaged ({error}): run `hipbot index build --force`"
        ) from None
    return manifest


def _files_present(index_dir: Path, manifest: dict[str, Any]) -> bool:
    return all((index_dir / name).exists() for name in manifest["files"].values())


def build_index(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> BuildReport:
    """Build or update the index from the corpus, embedding only passages it has not seen.

    Args:
        settings: paths, model and index knobs.
        embedder: the configured model, whose tokenizer sizes the passages (they are
            embedded by its ONNX export, exported here when missing).
        force: re-embed everything, ignoring the previous build.
        progress: called with (done, total) while embedding.

    Returns:
        What was done. An unchanged corpus returns at once without loading the model.

    Raises:
        CorpusError: the corpus folder is missing, empty or has clashing articles.
    """
    started = time.perf_counter()
    index_dir = settings.index_dir
    fingerprint = corpus_fingerprint(settings)
    previous = _previous_manifest(index_dir)
    # The model for answering without torch, kept while the model and precision stay.
    kept_encoder = current_encoder(settings, previous)
    if (
        not force
        and previous is not None
        and previous.get("corpus_fingerprint") == fingerprint
        and _files_present(index_dir, previous)
        and kept_encoder is not None
    ):
        return BuildReport(
            up_to_date=True,
            articles=previous["counts"]["articles"],
            passages=previous["counts"]["passages"],
            problems=previous.get("problems", []),
            index_type=previous["index_type"],
            seconds=time.perf_counter() - started,
        )

    embedder = embedder or Embedder(settings)
    loaded = load_corpus(settings.corpus_dir, int(settings.max_article_mb * 1_000_000))
    max_tokens = embedder.max_tokens
    passages: list[Passage] = []
    for article in loaded.articles:
        passages.extend(split_article(article, embedder.count_tokens, max_tokens))
    if not passages:
        raise CorpusError(
            f"the articles in {settings.corpus_dir} gave no passages (all excluded or promotional)"
        )
    guide = load_guide(settings.corpus_dir)
    if guide is not None:
        guide.check(passages)  # before anything is written: a stale heading fails the build
    texts = [passage.embedding_text() for passage in passages]
    hashes = [hashlib.sha256(text.encode()).hexdigest()[:32] for text in texts]

    reusable = {} if force else _reusable_vectors(index_dir, previous, settings)
    missing = [i for i, text_hash in enumerate(hashes) if text_hash not in reusable]
    # Passages are embedded by that same file, as the questions will be.
    encoder = kept_encoder or export_encoder(settings, max_tokens)
    fresh = None
    if missing:
        passage_encoder = open_encoder(settings, encoder)
        fresh = passage_encoder.embed_passages([texts[i] for i in missing], progress)
    dimension = fresh.shape[1] if fresh is not None else len(next(iter(reusable.values())))
    vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    for row, text_hash in enumerate(hashes):
        if text_hash in reusable:
            vectors[row] = reusable[text_hash]
    if fresh is not None:
        vectors[missing] = fresh

    old_articles = previous.get("articles", {}) if previous else {}
    new_articles = {
        article.article_id: {
            "file": article.file,
            "title": article.title,
            "source": article.source,
            "content_hash": article.content_hash,
            "passages": sum(1 for p in passages if p.article_id == article.article_id),
        }
        for article in loaded.articles
    }
    index_type = "hnsw" if len(passages) > settings.hnsw_threshold else "flat"
    generation = f"{time.time_ns():x}"
    files = _write_generation(index_dir, generation, passages, hashes, vectors, index_type)
    manifest = {
        "format": INDEX_FORMAT,
        "generation": generation,
        "model": settings.model,
        "dimension": int(dimension),
        "metric": METRIC,
        "index_type": index_type,
        "chunker_version": CHUNKER_VERSION,
        "max_tokens": max_tokens,
        "corpus_fingerprint": fingerprint,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - started, 3),
        "counts": {"articles": len(new_articles), "passages": len(passages)},
        "articles": new_articles,
        "problems": loaded.problems,
        "files": files,
        "encoder": encoder,
    }
    _write_atomically(index_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    _remove_other_generations(index_dir, generation)
    return BuildReport(
        up_to_date=False,
        articles=len(new_articles),
        passages=len(passages),
        embedded=len(missing),
        reused=len(passages) - len(missing),
        added=sorted(set(new_articles) - set(old_articles)),
        changed=sorted(
            a
            for a in set(new_articles) & set(old_articles)
            if new_articles[a]["content_hash"] != old_articles[a]["content_hash"]
        ),
        removed=sorted(set(old_articles) - set(new_articles)),
        problems=loaded.problems,
        index_type=index_type,
        seconds=time.perf_counter() - started,
    )


def _previous_manifest(index_dir: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(index_dir)
    except IndexNotBuiltError:
        return None


def _reusable_vectors(
    index_dir: Path, previous: dict[str, Any] | None, settings: Settings
) -> dict[str, np.ndarray]:
    """Map passage-text hash to its previous vector, when the model and precision are the same."""
    if (
        previous is None
        or previous.get("model") != settings.model
        or encoder_precision(previous) != settings.encoder_precision
        or not _files_present(index_dir, previous)
    ):
        return {}
    try:
        vectors = np.load(index_dir / previous["files"]["embeddings"], mmap_mode="r")
        with open(index_dir / previous["files"]["passages"], encoding="utf-8") as handle:
            hashes = [json.loads(line)["hash"] for line in handle]
    except (OSError, ValueError, KeyError):
        return {}  # a damaged previous build: embed everything again
    if len(hashes) != len(vectors):
        return {}
    return {text_hash: np.asarray(vectors[row]) for row, text_hash in enumerate(hashes)}


def _write_generation(
    index_dir: Path,
    generation: str,
    passages: list[Passage],
    hashes: list[str],
    vectors: np.ndarray,
    index_type: str,
) -> dict[str, str]:
    import bm25s
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "passages": f"passages-{generation}.jsonl",
        "embeddings": f"embeddings-{generation}.npy",
        "faiss": f"vectors-{generation}.faiss",
        "bm25": f"bm25-{generation}",
    }
    with open(index_dir / files["passages"], "w", encoding="utf-8") as handle:
        for passage, text_hash in zip(passages, hashes, strict=True):
            record = {
                "id": passage.passage_id,
                "article_id": passage.article_id,
                "article_title": passage.article_title,
                "path": list(passage.path),
                "text": passage.text,
                "hash": text_hash,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    with open(index_dir / files["embeddings"], "wb") as handle:
        np.save(handle, vectors)
        handle.flush()
        os.fsync(handle.fileno())
    faiss.write_index(_faiss_index(vectors, index_type), str(index_dir / files["faiss"]))
    lexical = bm25s.BM25()
    lexical.index([lexical_terms(passage) or [""] for passage in passages], show_progress=False)
    lexical.save(str(index_dir / files["bm25"]), show_progress=False)
    return files


def lexical_terms(passage: Passage) -> list[str]:
    """Return the terms BM25 indexes for a passage: its heading weighted, its path, its text."""
    return terms(f"{passage.section} " * (HEADING_WEIGHT - 1) + passage.embedding_text())


def _faiss_index(vectors: np.ndarray, index_type: str) -> Any:
    """Exact search up to the HNSW threshold; HNSW above it keeps queries at a few ms."""
    import faiss

    dimension = vectors.shape[1]
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    return index


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _remove_other_generations(index_dir: Path, generation: str) -> None:
    for entry in index_dir.iterdir():
        if entry.name.startswith(_GENERATION_PREFIXES) and generation not in entry.name:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


class KnowledgeIndex:
    """A loaded index: passages, their FAISS vectors and BM25, checked against the settings."""

    def __init__(
        self, manifest: dict[str, Any], passages: list[Passage], vectors: Any, lexical: Any
    ) -> None:
        self.manifest = manifest
        self.passages = passages
        self._vectors = vectors
        self._lexical = lexical
        self._by_id = {passage.passage_id: row for row, passage in enumerate(passages)}

    @classmethod
    def load(cls, settings: Settings) -> KnowledgeIndex:
        """Load the index named by the manifest.

        Raises:
            IndexNotBuiltError: nothing built yet, or the files are damaged.
            IndexMismatchError: built with another model or chunker than the settings ask for.
        """
        import bm25s
        import faiss

        index_dir = settings.index_dir
        manifest = read_manifest(index_dir)
        if manifest.get("format") != INDEX_FORMAT:
            raise IndexMismatchError(
                f"the index in {index_dir}/ has format {manifest.get('format')}, this hipbot "
                f"reads format {INDEX_FORMAT}: run `hipbot index build`"
            )
        if manifest.get("model") != settings.model:
            raise IndexMismatchError(
                f"the index was built with model {manifest.get('model')!r} but the settings "
                f"ask for {settings.model!r}: run `hipbot index build` (or set HIPBOT_MODEL back)"
            )
        if manifest.get("chunker_version") != CHUNKER_VERSION:
            raise IndexMismatchError(
                "the index was split by an older version of hipbot: run `hipbot index build`"
            )
        files = manifest["files"]
        try:
            with open(index_dir / files["passages"], encoding="utf-8") as handle:
                passages = [_passage_from_record(json.loads(line)) for line in handle]
            vectors = faiss.read_index(str(index_dir / files["faiss"]))
            lexical = bm25s.BM25.load(str(index_dir / files["bm25"]))
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            raise IndexNotBuiltError(
                f"the index in {index_dir}/ is damaged ({type(error).__name__}): "
                "run `hipbot index build --force`"
            ) from None
        if vectors.ntotal != len(passages) or len(passages) != manifest["counts"]["passages"]:
            raise IndexNotBuiltError(
                f"the index in {index_dir}/ is damaged (its files disagree): "
                "run `hipbot index build --force`"
            )
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = 128
        return cls(manifest, passages, vectors, lexical)

    @property
    def dimension(self) -> int:
        """Return the dimension of the stored vectors."""
        return int(self._vectors.d)

    def row_of(self, passage_id: str) -> int | None:
        """Return the row of a passage id, or None if the index has no such passage."""
        return self._by_id.get(passage_id)

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Return (row, cosine) of the k nearest passages, best first."""
        k = min(k, len(self.passages))
        if k == 0:
            return []
        scores, rows = self._vectors.search(query_vector.reshape(1, -1), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """Return (row, BM25 score) of the k best lexical matches with a positive score."""
        vocabulary = self._lexical.vocab_dict
        query_ids = [vocabulary[term] for term in query_terms(query) if term in vocabulary]
        if not query_ids or not self.passages:
            return []
        scores = self._lexical.get_scores(query_ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        ranked = sorted(top, key=lambda row: (-scores[row], row))
        return [(int(row), float(scores[row])) for row in ranked if scores[row] > 0]

    def term_overlap(self, query: str, passage: Passage) -> float:
        """Return the IDF-weighted share of the query's words that the passage contains.

        Words the index has never seen weigh the most: they are what the articles lack.
        """
        weights = {term: self._idf(term) for term in set(query_terms(query))}
        if not weights:
            return 0.0
        passage_terms = set(terms(passage.embedding_text()))
        found = sum(weight for term, weight in weights.items() if term in passage_terms)
        return found / sum(weights.values())

    def _idf(self, term: str) -> float:
        token = self._lexical.vocab_dict.get(term)
        indptr = self._lexical.scores["indptr"]
        frequency = 0 if token is None else int(indptr[token + 1] - indptr[token])
        documents = len(self.passages)
        return math.log(1 + (documents + 1) / (frequency + 0.5))


def _passage_from_record(record: dict[str, Any]) -> Passage:
    return Passage(
        passage_id=record["id"],
        article_id=record["article_id"],
        article_title=record["article_title"],
        path=tuple(record["path"]),
        text=record["text"],
    )


def describe(manifest: dict[str, Any]) -> str:
    """Render the manifest for people (`hipbot index info`)."""
    lines = [
        f"Built:        {manifest['built_at']} in {manifest['build_seconds']} s",
        f"Model:        {manifest['model']} ({manifest['dimension']} dimensions, "
        f"{manifest['max_tokens']} word pieces max)",
        f"Search:       FAISS {manifest['index_type']}, {manifest['metric']}, plus BM25",
        f"Chunker:      version {manifest['chunker_version']}",
        f"Articles:     {manifest['counts']['articles']}",
        f"Passages:     {manifest['counts']['passages']}",
    ]
    for article_id, article in sorted(manifest["articles"].items()):
        lines.append(
            f"  - {article['title']} ({article['file']}): {article['passages']} passages, "
            f"sha256 {article['content_hash'][:12]}, id {article_id}"
        )
    for problem in manifest.get("problems", []):
        lines.append(f"  ! {problem}")
    return "\n".join(lines)
