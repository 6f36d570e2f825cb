"""The retrieval model exported to ONNX beside the index, so that answering needs no torch.

`hipbot index build` exports the configured model once (torch and transformers are needed
then, and only then) into `<index>/encoder/` and names the file, its size and its sha256 in
the manifest. Serving loads it with ONNX Runtime (bot/onnx_encoder.py). An index built
before this, or `HIPBOT_QUERY_BACKEND=torch`, is served by sentence-transformers instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.onnx_encoder import OnnxEncoder, export_onnx, file_hash

ENCODER_DIR = "encoder"
MODEL_FILE = f"{ENCODER_DIR}/model.onnx"
TOKENIZER_FILE = f"{ENCODER_DIR}/tokenizer.json"

_EXPORTED: dict[str, Path] = {}  # model -> an index folder holding its export (this process)


def encoder_entry(settings: Settings, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the manifest's encoder entry if it is there, for this model, and intact."""
    entry = (previous or {}).get("encoder")
    if not entry or entry.get("model") != settings.model:
        return None
    model = settings.index_dir / entry["file"]
    if not model.is_file() or model.stat().st_size != entry["bytes"]:
        return None
    if not (settings.index_dir / entry["tokenizer"]).is_file():
        return None
    return entry


def export_encoder(settings: Settings, max_tokens: int) -> dict[str, Any]:
    """Export the configured model to ONNX into the index folder; return its manifest entry."""
    folder = settings.index_dir / ENCODER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    source = _EXPORTED.get(settings.model)
    if source is not None and source != settings.index_dir and (source / MODEL_FILE).is_file():
        for name in (MODEL_FILE, TOKENIZER_FILE):  # the same model exported a moment ago
            shutil.copyfile(source / name, settings.index_dir / name)
    else:
        from transformers import AutoModel, AutoTokenizer

        location = settings.model_location()
        tokenizer = AutoTokenizer.from_pretrained(location)
        encoder = AutoModel.from_pretrained(location)
        export_onnx(encoder, tokenizer, settings.index_dir / MODEL_FILE)
        tokenizer.backend_tokenizer.save(str(settings.index_dir / TOKENIZER_FILE))
        _EXPORTED[settings.model] = settings.index_dir
    model = settings.index_dir / MODEL_FILE
    return {
        "model": settings.model,
        "file": MODEL_FILE,
        "tokenizer": TOKENIZER_FILE,
        "bytes": model.stat().st_size,
        "sha256": file_hash(model),
        "max_tokens": max_tokens,
        "pooling": "mean, L2-normalised",
    }


def load_encoder(settings: Settings, manifest: dict[str, Any]) -> OnnxEncoder | None:
    """Return the index's ONNX encoder, or None when the index has none (or torch is asked)."""
    if settings.query_backend != "onnx":
        return None
    entry = encoder_entry(settings, manifest)
    if entry is None:
        return None
    return OnnxEncoder(
        settings.index_dir / entry["file"],
        settings.index_dir / entry["tokenizer"],
        entry["max_tokens"],
    )
