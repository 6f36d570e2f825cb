"""The retrieval model exported to ONNX beside the index, so that answering needs no torch.

`hipbot index build` exports the configured model once (torch and transformers are needed
then, and only then) into `<index>/encoder/`, quantised to int8 unless
`HIPBOT_ENCODER_PRECISION=fp32`, and names the file, its precision, size and sha256 in the
manifest. The passages are embedded by that same file, and serving loads it with ONNX
Runtime (bot/onnx_encoder.py). An fp32 index can also be served by sentence-transformers
(`HIPBOT_QUERY_BACKEND=torch`): its vectors are the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import IndexMismatchError
from bot.onnx_encoder import OnnxEncoder, export_onnx, file_hash, quantize_int8

ENCODER_DIR = "encoder"
MODEL_FILE = f"{ENCODER_DIR}/model.onnx"
TOKENIZER_FILE = f"{ENCODER_DIR}/tokenizer.json"

# (model, precision) -> an index folder holding that export (in this process)
_EXPORTED: dict[tuple[str, str], Path] = {}


def encoder_precision(manifest: dict[str, Any] | None) -> str:
    """Return the precision an index's vectors were made with (fp32 before int8 existed)."""
    return ((manifest or {}).get("encoder") or {}).get("precision", "fp32")


def current_encoder(settings: Settings, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the encoder entry a build may keep: intact, of this model and this precision."""
    if encoder_precision(previous) != settings.encoder_precision:
        return None
    return encoder_entry(settings, previous)


def encoder_entry(settings: Settings, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the manifest's encoder entry if it is there, for this model, and intact."""
    entry = (manifest or {}).get("encoder")
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
    model = settings.index_dir / MODEL_FILE
    key = (settings.model, settings.encoder_precision)
    source = _EXPORTED.get(key)
    if source is not None and source != settings.index_dir and (source / MODEL_FILE).is_file():
        for name in (MODEL_FILE, TOKENIZER_FILE):  # the same model exported a moment ago
            shutil.copyfile(source / name, settings.index_dir / name)
    else:
        from transformers import AutoModel, AutoTokenizer

        location = settings.model_location()
        tokenizer = AutoTokenizer.from_pretrained(location)
        encoder = AutoModel.from_pretrained(location)
        if settings.encoder_precision == "int8":
            full = folder / "model.fp32.onnx"
            export_onnx(encoder, tokenizer, full)
            quantize_int8(full, model)
            full.unlink()
        else:
            export_onnx(encoder, tokenizer, model)
        tokenizer.backend_tokenizer.save(str(settings.index_dir / TOKENIZER_FILE))
        _EXPORTED[key] = settings.index_dir
    return {
        "model": settings.model,
        "precision": settings.encoder_precision,
        "file": MODEL_FILE,
        "tokenizer": TOKENIZER_FILE,
        "bytes": model.stat().st_size,
        "sha256": file_hash(model),
        "max_tokens": max_tokens,
        "pooling": "mean, L2-normalised",
    }


def load_encoder(settings: Settings, manifest: dict[str, Any]) -> OnnxEncoder | None:
    """Return the index's ONNX encoder, or None when the index has none (or torch is asked).

    Raises:
        IndexMismatchError: torch is asked for an index embedded by the int8 encoder.
    """
    if settings.query_backend != "onnx":
        if encoder_precision(manifest) != "fp32":
            raise IndexMismatchError(
                "this index was embedded by the int8 ONNX encoder, so torch cannot search it; "
                "rebuild it with HIPBOT_ENCODER_PRECISION=fp32 to use HIPBOT_QUERY_BACKEND=torch"
            )
        return None
    entry = encoder_entry(settings, manifest)
    return None if entry is None else open_encoder(settings, entry)


def open_encoder(settings: Settings, entry: dict[str, Any]) -> OnnxEncoder:
    """Load the encoder a manifest entry names."""
    return OnnxEncoder(
        settings.index_dir / entry["file"],
        settings.index_dir / entry["tokenizer"],
        entry["max_tokens"],
    )
