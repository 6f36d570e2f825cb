"""The running parts, built once from settings and shared by every front end."""

from __future__ import annotations

from functools import cached_property

from bot.config import Settings
from bot.dialogue import ConversationState, DialogueManager
from bot.embedder import Embedder
from bot.index import KnowledgeIndex
from bot.retrieval import Retriever
from bot.safety import SafetyScreen


class Runtime:
    """Loads the model, the index and what is built on them, each on first use.

    The REPL warms it up in a background thread while the person types.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings)

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
        return DialogueManager(self.retriever, self.safety, self.settings)

    def warm_up(self) -> None:
        """Load everything a first reply needs, so that it comes fast."""
        self.dialogue.respond(ConversationState(), "how do I warm up before a run?")
        if self.safety.learned is not None:
            _ = self.safety.learned.model
