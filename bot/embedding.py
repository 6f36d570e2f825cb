"""The embedding interface retrieval depends on, and the cache both encoders share.

The models behind it: bot/onnx_encoder.py (answering) and bot/embedder.py (builds, training).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class TextEmbedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed short texts (questions, sentences of a message) in one batch."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed longer texts (passages, reference examples) in batches."""
        ...


class RecentVectors:
    """The vectors of recently embedded short texts, so that each text costs one encoding.

    One message is embedded for retrieval, sentence by sentence for the safety screen and
    again as its question part.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Return one vector per text, encoding (in one batch) only the ones not seen lately.

        The answer is built from what this call found and encoded, never read back from the
        cache, which another thread (or this call's own batch) may have trimmed meanwhile.
        """
        with self._lock:
            found = {text: self._vectors[text] for text in texts if text in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            fresh = {
                text: np.ascontiguousarray(vector, dtype=np.float32)
                for text, vector in zip(missing, encode(missing), strict=True)
            }
            found.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.vstack([found[text] for text in texts])

    def clear(self) -> None:
        """Forget them all (benchmarks time each message from nothing)."""
        with self._lock:
            self._vectors.clear()
