"""The safety screen: red-flag rules as data, a pure screen, and the learned layer beside it."""

from __future__ import annotations

from bot.config import Settings
from bot.safety.learned import LearnedCheck
from bot.safety.rules import Level, Rule, RuleBook, default_rulebook
from bot.safety.screen import Finding, Screening, caveats_in, normalize, screen

__all__ = [
    "Finding",
    "Level",
    "Rule",
    "RuleBook",
    "SafetyScreen",
    "Screening",
    "caveat_texts",
    "caveats_in",
    "default_rulebook",
    "normalize",
    "referral_text",
    "screen",
]


class SafetyScreen:
    """The deterministic rules, always, plus the learned layer when a model is at hand.

    Either can raise a level; neither can lower what the other found.
    """

    def __init__(self, settings: Settings) -> None:
        self.book = default_rulebook()
        self.learned = (
            LearnedCheck(settings.safety_model_dir, self.book, settings.encoder_precision)
            if settings.learned_check
            else None
        )

    def screen_rules_only(self, text: str, facts: frozenset[str] = frozenset()) -> Screening:
        """Screen with the rules alone: no model needed, answers in about a millisecond."""
        return screen(text, self.book, facts)

    def screen_with_learned(self, text: str, facts: frozenset[str] = frozenset()) -> Screening:
        """Screen with the rules (and facts told earlier), then add the learned layer's reading."""
        result = screen(text, self.book, facts)
        if self.learned is not None:
            result = self.learned.check(result)
        return result


def referral_text(rule: Rule, settings: Settings) -> str:
    """Return the rule's scripted referral with the deployment's emergency wording."""
    return rule.referral.format(
        emergency_number=settings.emergency_number,
        emergency_department=settings.emergency_department,
        urgent_care=settings.urgent_care,
    )


def caveat_texts(names: tuple[str, ...] | list[str], book: RuleBook | None = None) -> list[str]:
    """Return the medication caveats named, in the book's order, ending with the general one."""
    book = book or default_rulebook()
    wanted = set(names)
    texts = [c.text.strip() for c in book.caveats if c.name in wanted and c.mentions is not None]
    if texts:
        texts += [c.text.strip() for c in book.caveats if c.mentions is None]
    return texts
