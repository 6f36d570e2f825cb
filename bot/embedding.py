"""The embedding interface retrieval depends on (the model behind it is bot/embedder.py)."""

from __future__ import annotations

from collections.abc import Sequence
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
