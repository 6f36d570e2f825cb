"""The retrieval model on ONNX Runtime: the same vectors as torch, and answers without torch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bot.embedding import RecentVectors
from bot.errors import IndexMismatchError
from bot.index import build_index, read_manifest
from bot.onnx_encoder import file_hash
from bot.query_encoder import load_encoder
from bot.safety.learned import FP32_ENCODER, INT8_ENCODER, served_encoder
from tests.conftest import DATA

# Run `hipbot ask` with torch, transformers and sentence-transformers made unimportable.
NO_TORCH = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
            raise ImportError("no " + name + " while answering")
sys.meta_path.insert(0, Refuse())
from bot.cli import main
main(["ask", "--json", "what is bursitis?"])
"""


def project_questions() -> list[str]:
    lines = (DATA / "retrieval_questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines]


def test_the_fp32_export_gives_the_vectors_of_sentence_transformers(seed_corpus, embedder):
    settings = seed_corpus.model_copy(update={"encoder_precision": "fp32"})
    build_index(settings, embedder)
    manifest = read_manifest(settings.index_dir)
    assert manifest["encoder"]["precision"] == "fp32"
    questions = project_questions()
    onnx = load_encoder(settings, manifest)
    cosines = np.sum(onnx.embed_queries(questions) * embedder.embed_queries(questions), axis=1)
    assert len(questions) >= 100
    assert cosines.min() > 0.9999
    # The same index can then be searched with torch, and is still served by its own export
    # where the setting has moved on to int8 (until the next build re-embeds it).
    torch_settings = settings.model_copy(update={"query_backend": "torch"})
    assert load_encoder(torch_settings, manifest) is None
    assert load_encoder(seed_corpus, manifest) is not None


def test_the_int8_export_stays_close_and_ranks_passages_alike(seed_settings, embedder):
    manifest = read_manifest(seed_settings.index_dir)
    assert manifest["encoder"]["precision"] == "int8"
    questions = project_questions()
    quantised = load_encoder(seed_settings, manifest).embed_queries(questions)
    full = embedder.embed_queries(questions)
    assert np.sum(quantised * full, axis=1).min() > 0.97
    passages = np.load(seed_settings.index_dir / manifest["files"]["embeddings"])
    same_top = np.argmax(quantised @ passages.T, axis=1) == np.argmax(full @ passages.T, axis=1)
    assert same_top.mean() >= 0.9


def test_the_manifest_names_the_encoder_and_its_hash(seed_settings):
    entry = read_manifest(seed_settings.index_dir)["encoder"]
    model = seed_settings.index_dir / entry["file"]
    assert entry["model"] == seed_settings.model and entry["max_tokens"] == 256
    assert entry["sha256"] == file_hash(model) and entry["bytes"] == model.stat().st_size


def test_a_missing_encoder_is_exported_again_keeping_the_vectors(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    (seed_corpus.index_dir / "encoder" / "model.onnx").unlink()
    again = build_index(seed_corpus, embedder)
    assert not again.up_to_date and again.reused == again.passages
    manifest = read_manifest(seed_corpus.index_dir)
    assert (seed_corpus.index_dir / manifest["encoder"]["file"]).is_file()


def test_a_new_precision_embeds_every_passage_again(seed_corpus, embedder):
    build_index(seed_corpus, embedder)
    settings = seed_corpus.model_copy(update={"encoder_precision": "fp32"})
    report = build_index(settings, embedder)
    assert report.reused == 0 and report.embedded == report.passages
    assert read_manifest(settings.index_dir)["encoder"]["precision"] == "fp32"


def test_torch_cannot_search_an_index_embedded_in_int8(seed_settings):
    torch_settings = seed_settings.model_copy(update={"query_backend": "torch"})
    with pytest.raises(IndexMismatchError, match="HIPBOT_ENCODER_PRECISION=fp32"):
        load_encoder(torch_settings, read_manifest(seed_settings.index_dir))


def test_the_safety_layer_serves_its_int8_copy_when_there_is_one(tmp_path):
    (tmp_path / FP32_ENCODER).write_bytes(b"")
    assert served_encoder(tmp_path, "int8") == tmp_path / FP32_ENCODER  # an older model
    (tmp_path / INT8_ENCODER).write_bytes(b"")
    assert served_encoder(tmp_path, "int8") == tmp_path / INT8_ENCODER
    assert served_encoder(tmp_path, "fp32") == tmp_path / FP32_ENCODER


def test_answering_imports_no_torch(seed_settings, tmp_path):
    env = {
        **os.environ,
        "HIPBOT_CORPUS_DIR": str(seed_settings.corpus_dir),
        "HIPBOT_INDEX_DIR": str(seed_settings.index_dir),
        "HIPBOT_SAFETY_MODEL_DIR": str(seed_settings.safety_model_dir),
        "HIPBOT_STATE_DB": str(tmp_path / "state.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    reply = json.loads(result.stdout)
    assert reply["covered"] and reply["sources"][0]["section"] == "Bursitis"


def test_recent_vectors_answer_a_batch_larger_than_they_keep(embedder):
    recent = RecentVectors(size=2)
    texts = ["my hip hurts", "best stretch?", "can I run?", "my hip hurts"]
    vectors = recent.embed(texts, embedder.embed_passages)
    assert vectors.shape == (4, 384)
    assert np.allclose(vectors[0], vectors[3])
    assert np.allclose(vectors, embedder.embed_passages(texts), atol=1e-5)
    again = recent.embed(["can I run?"], lambda missing: pytest.fail(f"encoded {missing}"))
    assert np.allclose(again[0], vectors[2])
