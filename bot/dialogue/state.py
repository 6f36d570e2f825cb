"""What the bot remembers about one conversation: small, typed and JSON-serialisable."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.safety import Level, Screening
from bot.safety.facts import Facts


class CheckProgress(BaseModel):
    """Where the scripted safety check stands.

    With `rule` set, one question is pending: that rule's own check, asked because the
    learned layer half-recognised its warning sign.
    """

    index: int = 0
    fell: bool = False
    rule: str | None = None
    resumed: bool = False


class ConversationState(BaseModel):
    """Everything the bot remembers about one conversation; small and JSON-serialisable."""

    turns: int = 0
    disclaimer_shown: bool = False
    escalation: str | None = None
    escalation_rules: list[str] = Field(default_factory=list)
    topic: str | None = None
    topic_id: str | None = None
    topic_query: str | None = None
    aspect: str | None = None
    seen: list[str] = Field(default_factory=list)
    more: list[tuple[str, float]] = Field(default_factory=list)
    answered: list[str] = Field(default_factory=list)
    last_sources: list[dict] = Field(default_factory=list)
    check: CheckProgress | None = None
    check_done: bool = False
    facts: Facts = Field(default_factory=Facts)
    partial: list[str] = Field(default_factory=list)
    reminded: bool = False

    def after(self, screening: Screening) -> ConversationState:
        """Return a copy for the next turn, with the facts this message told."""
        state = self.model_copy(deep=True)
        state.turns += 1
        state.facts = state.facts.adding(screening.new_facts)
        return state

    def escalate(self, level: Level, rules: list[str]) -> None:
        """Raise the sticky escalation to an urgent or emergency level (kept until /reset)."""
        self.escalation = max(Level.parse(self.escalation or "self_care"), level).label
        self.escalation_rules += [r for r in rules if r not in self.escalation_rules]
        self.check = None
