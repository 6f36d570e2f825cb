"""A MiniLM encoder on ONNX Runtime and the `tokenizers` library: vectors without torch.

Importing torch and sentence-transformers costs about 4 s and 400 MB before the first
answer. Serving needs neither: the model is exported to ONNX once (at index build for the
retrieval model, at training for the safety model), and here `tokenizers` prepares the
input, ONNX Runtime runs the encoder and numpy mean-pools, exactly as sentence-transformers'
Pooling and Normalize modules do (same vectors, cosine > 0.9999, tested).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.embedding import RecentVectors

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 32


class OnnxEncoder:
    """Mean-pooled, L2-normalised sentence vectors from an exported encoder."""

    def __init__(self, model: Path, tokenizer: Path, max_tokens: int) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            # Its threads would otherwise spin after each run and starve whatever runs next.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for a bad file
            raise ValueError(f"the encoder {model} cannot be read ({error})") from None
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding()
        self._lock = threading.Lock()  # a tokenizer refuses concurrent use
        self._recent = RecentVectors()

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised mean-pooled float32 vector per text."""
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        states = self.session.run(None, feed)[0]
        mask = feed["attention_mask"][..., None].astype(states.dtype)
        pooled = (states * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(pooled, dtype=np.float32)

    def embed_passages(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Embed longer texts in batches, reporting (done, total) after each."""
        parts = []
        for start in range(0, len(texts), _BATCH):
            parts.append(self.pooled(texts[start : start + _BATCH]))
            if progress:
                progress(min(start + _BATCH, len(texts)), len(texts))
        if not parts:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        return np.vstack(parts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed short texts in one batch, remembering recent ones."""
        return self._recent.embed(texts, self.pooled)

    def clear_cache(self) -> None:
        """Forget recent embeddings (benchmarks time each message from nothing)."""
        self._recent.clear()


def export_onnx(encoder: Any, tokenizer: Any, path: Path) -> str:
    """Export a transformers encoder (torch) to ONNX for serving; return the file's sha256.

    Needs torch: it runs when an index is built or the safety model trained, never when
    answering.
    """
    import warnings

    import torch

    sample = tokenizer(["a sample sentence", "another one"], padding=True, return_tensors="pt")
    encoder.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the attention mask
        torch.onnx.export(
            encoder,
            tuple(sample[name] for name in INPUTS),
            str(path),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in [*INPUTS, "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )
    return file_hash(path)


def quantize_int8(source: Path, target: Path) -> None:
    """Write an int8 copy of an exported encoder (dynamic quantisation, one scale per channel).

    A quarter of the file and about half the serving memory. One scale per output channel
    keeps the vectors close (cosine about 0.99 to full precision; one scale per tensor gave
    0.95 and moved triage); the README has the measured retrieval, answers and triage.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises pre-processing the graph, which changes nothing here
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def file_hash(path: Path) -> str:
    """Return a file's sha256 (named in manifests)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
