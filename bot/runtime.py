"""The running parts, built once from settings and shared by every front end."""

from __future__ import annotations

import threading
from functools import cached_property

from bot.config import Settings
from bot.dialogue import ConversationState, DialogueManager
from bot.embedder import Embedder
from bot.embedding import TextEmbedder
from bot.guide import Guide, load_guide
from bot.index import KnowledgeIndex
from bot.query_encoder import load_encoder
from bot.retrieval import Retriever
from bot.safety import SafetyScreen


class Runtime:
    """Loads the model, the index and what is built on them, each on first use.

    The REPL warms it up in a background thread while the person types.
    """

    def __init__(self, settings: Settings, embedder: TextEmbedder | None = None) -> None:
        self.settings = settings
        if embedder is not None:
            self.embedder = embedder

    @cached_property
    def embedder(self) -> TextEmbedder:
        """Return the query model: the index's ONNX export (no torch), else torch's."""
        return load_encoder(self.settings, self.index.manifest) or Embedder(self.settings)

    @cached_property
    def index(self) -> KnowledgeIndex:
        """Return the loaded index (raises IndexNotBuiltError or IndexMismatchError)."""
        return KnowledgeIndex.load(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        """Return the hybrid retriever over the index."""
        return Retriever(self.index, self.embedder, self.settings)

    @cached_property
    def safety(self) -> SafetyScreen:
        """Return the red-flag screen (rules always, the learned layer with the model)."""
        return SafetyScreen(self.settings)

    @cached_property
    def dialogue(self) -> DialogueManager:
        """Return the dialogue manager that decides every reply."""
        return DialogueManager(self.retriever, self.safety, self.settings, self.guide)

    @cached_property
    def guide(self) -> Guide | None:
        """Return the corpus's guided questions, checked against the loaded index."""
        guide = load_guide(self.settings.corpus_dir)
        if guide is not None:
            guide.check(list(self.index.passages))
        return guide

    def load_in_background(self) -> None:
        """Start loading the safety model while the caller loads the index and the rest.

        Its ONNX session reads 90 MB; meanwhile the index and the search libraries load
        on the caller's thread, so a one-off `hipbot ask` answers sooner.
        """
        learned = self.safety.learned
        if learned is not None:
            threading.Thread(target=lambda: learned.model, daemon=True).start()

    def warm_up(self) -> None:
        """Load everything a first reply needs, so that it comes fast."""
        self.dialogue.respond(ConversationState(), "how do I warm up before a run?")
        if self.safety.learned is not None:
            _ = self.safety.learned.model
