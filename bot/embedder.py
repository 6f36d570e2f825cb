"""The sentence-transformers model behind every vector: loaded once per process, on first use."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings
from bot.embedding import RecentVectors

ProgressCallback = Callable[[int, int], None]

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


class Embedder:
    """The sentence-transformers model, loaded once per process on first use.

    Importing sentence-transformers costs ~5 s, so nothing imports it until a vector is
    needed, and every Embedder of a process shares the loaded model.
    """

    def __init__(self, settings: Settings) -> None:
        self.model_name = settings.model
        self._settings = settings
        self._model: Any = None
        self._tokenizer: Any = None
        # Hugging Face fast tokenizers refuse concurrent use ("Already borrowed"), and the
        # model uses both cores for one batch anyway: embedding calls take turns.
        self._encode_lock = threading.Lock()
        self._recent = RecentVectors()

    @property
    def loaded(self) -> bool:
        """Tell whether this embedder has its model in hand."""
        return self._model is not None

    def load(self) -> Any:
        """Load the model (thread-safe; later calls return the same model)."""
        if self._model is not None:
            return self._model
        location = self._settings.model_location()
        with _MODELS_LOCK:
            if location not in _MODELS:
                if self._settings.hub_offline:
                    # The model ships in a package; a hub is never contacted at run time.
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # its bars would mix with replies
                transformers_logging.set_verbosity_error()

                _MODELS[location] = SentenceTransformer(location, device="cpu")
            self._model = _MODELS[location]
        return self._model

    @property
    def dimension(self) -> int:
        """Return the embedding dimension."""
        model = self.load()
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """Return the model's input window in word pieces, without loading it if possible."""
        config = Path(self._settings.model_location()) / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text())["max_seq_length"])
        return int(self.load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Count word pieces (special tokens included) with the model's own tokenizer."""
        if self._tokenizer is None:
            tokenizer_file = Path(self._settings.model_location()) / "tokenizer.json"
            if tokenizer_file.is_file():
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(tokenizer_file))
                tokenizer.no_truncation()
                tokenizer.no_padding()
                self._tokenizer = lambda t: len(tokenizer.encode(t).ids)
            else:
                hf_tokenizer = self.load().tokenizer
                self._tokenizer = lambda t: len(hf_tokenizer(t)["input_ids"])
        return self._tokenizer(text)

    def clear_cache(self) -> None:
        """Forget recent embeddings (benchmarks time each message from nothing)."""
        self._recent.clear()

    def embed_passages(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed passages in batches; vectors come back L2-normalised, float32."""
        model = self.load()
        batch = 128
        parts = []
        for start in range(0, len(texts), batch):
            chunk = list(texts[start : start + batch])
            with self._encode_lock:
                parts.append(
                    model.encode(
                        chunk, batch_size=16, normalize_embeddings=True, convert_to_numpy=True
                    )
                )
            if progress:
                progress(min(start + batch, len(texts)), len(texts))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; a 1-D L2-normalised float32 vector."""
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed short texts in one batch, remembering recent ones."""
        return self._recent.embed(texts, self._encode)

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self.load()
        with self._encode_lock:
            return model.encode(
                texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True
            )
