"""The retrieval model on ONNX Runtime: the same vectors as torch, and answers without torch."""

import json
import os
import subprocess
import sys

import numpy as np

from bot.index import build_index, read_manifest
from bot.onnx_encoder import file_hash
from bot.query_encoder import load_encoder
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


def test_onnx_vectors_match_sentence_transformers(seed_settings, embedder):
    questions = [
        json.loads(line)["question"]
        for line in (DATA / "retrieval_questions.jsonl").read_text().splitlines()
    ]
    onnx = load_encoder(seed_settings, read_manifest(seed_settings.index_dir))
    cosines = np.sum(onnx.embed_queries(questions) * embedder.embed_queries(questions), axis=1)
    assert len(questions) >= 100
    assert cosines.min() > 0.9999


def test_the_manifest_names_the_encoder_and_its_hash(seed_settings):
    entry = read_manifest(seed_settings.index_dir)["encoder"]
    model = seed_settings.index_dir / entry["file"]
    assert entry["model"] == seed_settings.model and entry["max_tokens"] == 256
    assert entry["sha256"] == file_hash(model) and entry["bytes"] == model.stat().st_size


def test_a_missing_encoder_is_exported_again_and_torch_can_still_be_asked_for(
    seed_corpus, embedder
):
    build_index(seed_corpus, embedder)
    (seed_corpus.index_dir / "encoder" / "model.onnx").unlink()
    again = build_index(seed_corpus, embedder)
    assert not again.up_to_date and again.reused == again.passages  # vectors were kept
    manifest = read_manifest(seed_corpus.index_dir)
    assert (seed_corpus.index_dir / manifest["encoder"]["file"]).is_file()
    torch_settings = seed_corpus.model_copy(update={"query_backend": "torch"})
    assert load_encoder(torch_settings, manifest) is None


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
