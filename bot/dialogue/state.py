"""What the bot remembers about one conversation: small, typed and JSON-serialisable."""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, Field

from bot.dialogue.intents import corrects_earlier, is_bare_answer, says_none_of_it, says_not_me
from bot.safety import Level, Screening
from bot.safety.facts import Facts
from bot.safety.rules import Rule, RuleBook


class CheckProgress(BaseModel):
    """Where the scripted safety check stands.

    With `rule` set, one question is pending: that rule's own check, asked because the
    learned layer half-recognised its warning sign.
    """

    index: int = 0
    fell: bool = False
    rule: str | None = None
    resumed: bool = False
    asked_at: int = 0  # the turn that asked the pending question


class Choosing(BaseModel):
    """A closed question waiting for its answer ("place", "when", "checkin_offer", "checkin").

    `chosen` keeps the guided answers given so far (question key -> option key).
    """

    question: str
    asked_at: int = 0
    chosen: dict[str, str] = Field(default_factory=dict)


class ConversationState(BaseModel):
    """Everything the bot remembers about one conversation; small and JSON-serialisable."""

    turns: int = 0
    disclaimer_shown: bool = False
    escalation: str | None = None
    escalation_rules: list[str] = Field(default_factory=list)
    # Doctor-level red flags told earlier: the conversation stays at doctor level, its
    # referral said once ("pain for 2 months", then "is that just from running more?").
    doctor_rules: list[str] = Field(default_factory=list)
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
    choosing: Choosing | None = None
    own_pain: bool = False  # told of pain of their own: a check-in may be offered
    guide_wanted: bool = False  # a vague message: guided questions once the check is over
    guide_done: bool = False
    checkin: str | None = None  # "offered", "declined", "scheduled" or "asking"

    def after(
        self, screening: Screening, withdrawn: frozenset[str] | None = None
    ) -> ConversationState:
        """Return a copy for the next turn, with the facts this message told.

        `withdrawn` is given for a correction (see `correction`): the facts it denies are
        cleared, and an escalation made only of red flags it takes back is lifted.
        """
        state = self.model_copy(deep=True)
        state.turns += 1
        state.facts = state.facts.adding(screening.new_facts)
        if withdrawn is not None:
            state.facts = state.facts.removing(screening.denied_facts)
            if state.escalation_rules and takes_back(screening, withdrawn, state.escalation_rules):
                state.escalation, state.escalation_rules = None, []
            if screening.level < Level.DOCTOR and not is_bare_answer(screening.text):
                state.doctor_rules = []  # "sorry, I meant my knee brace clicks": taken back
        return state

    def question_key(self) -> str | None:
        """Name the pending question and when it was asked (None if there is none).

        A button carries this key, so a stale or repeated press is recognised.
        """
        if self.check is not None:
            return f"{self.check.rule or self.check.index}.{self.check.asked_at}"
        if self.choosing is not None:
            return f"{self.choosing.question}.{self.choosing.asked_at}"
        return None

    @property
    def standing_level(self) -> Level:
        """The level this conversation stays at whatever is asked next: its red flags so far."""
        if self.escalation:
            return Level.parse(self.escalation)
        return Level.DOCTOR if self.doctor_rules else Level.SELF_CARE

    def note_doctor(self, rules: list[str], screening: Screening, book: RuleBook) -> None:
        """Keep doctor-level red flags for the rest of the conversation, until taken back.

        A later message takes one back when it tells the rule's own exception ("only when
        I lie on that side" after night pain), says it is not the writer's now ("not a
        crash, I mean after driving") or denies what it needs ("he's 19, not a kid"); a
        correction that tells no red flag of its own takes them all back (`after`).
        """
        kept = [r for r in self.doctor_rules if not _taken_back(book.rule(r), screening, book)]
        self.doctor_rules = kept + [r for r in rules if r not in kept]

    def escalate(self, level: Level, rules: list[str]) -> None:
        """Raise the sticky escalation to an urgent or emergency level (kept until /reset)."""
        self.escalation = max(Level.parse(self.escalation or "self_care"), level).label
        self.escalation_rules += [r for r in rules if r not in self.escalation_rules]
        self.check = None
        self.choosing = None
        self.guide_wanted = False


def after_message(
    state: ConversationState, screening: Screening, text: str, book: RuleBook
) -> tuple[ConversationState, Screening]:
    """Return the next turn's state and the screening as it counts, a correction applied.

    The one path from a screened message to the next state, for the dialogue and for the
    REPL's answer before the model loads.
    """
    withdrawn = None
    if corrects_earlier(text):
        screening, withdrawn = correction(screening, book)
    return state.after(screening, withdrawn), screening


def _taken_back(rule: Rule, screening: Screening, book: RuleBook) -> bool:
    """Whether a message tells a rule's exception, or its sign as not the writer's now."""
    if any(f.rule_id == rule.rule_id for f in screening.fired):
        return False
    if any(
        f.rule_id == rule.rule_id and f.context in ("negated", "past", "someone_else")
        for f in screening.mentioned
    ):
        return True
    if needs_denied(rule, screening):
        return True
    text = screening.normalized or screening.text.lower()
    return any(
        book.concepts[name].pattern.search(text)
        for trigger in rule.triggers
        for name in trigger.unless
    )


def needs_denied(rule: Rule, screening: Screening) -> bool:
    """Whether a message denies a sign every trigger of the rule needs ("stopped warfarin")."""
    return bool(rule.triggers) and all(
        set(trigger.concepts) & screening.denied_facts for trigger in rule.triggers
    )


def takes_back(screening: Screening, withdrawn: frozenset[str], escalated: list[str]) -> bool:
    """Tell whether a correction lifts the conversation's escalation.

    It does when it reports no urgent red flag of its own and either takes back every rule
    of the escalation, or moves the whole story to someone not here ("my friend fell, not
    me, her family has her") or, naming no warning sign, into the resolved past ("sorry,
    that was 3 years ago, all healed"), or, naming none, denies it as a whole ("no I don't
    have that, just curious"). Taking back one sign of several lifts nothing.
    """
    if screening.level >= Level.URGENT:
        return False
    if set(escalated) <= withdrawn:
        return True
    if "names_other" in screening.cues and says_not_me(screening.text):
        return True  # "No, it's my son. He's in the car." alone moves nothing away
    if says_none_of_it(screening.text) and not screening.findings:
        return True  # "no I don't have that, just curious" after asking about a sign
    return "past" in screening.cues and not screening.findings


def correction(screening: Screening, book: RuleBook) -> tuple[Screening, frozenset[str]]:
    """Read a message that corrects an earlier one ("sorry, my friend fell, not me").

    Returns:
        The screening without learned findings of the rules it takes back, and those
        rules: the ones it now says are negated or someone else's, and the ones that need
        a fact it denies. A rule the rules themselves find in it is never taken back.
    """
    said_not_mine = {
        finding.rule_id
        for finding in screening.mentioned
        if finding.context in ("negated", "someone_else", "past")
    }
    denied = {rule.rule_id for rule in book.rules if needs_denied(rule, screening)}
    by_rules = {f.rule_id for f in screening.fired if f.source == "rules"}
    withdrawn = frozenset((said_not_mine | denied) - by_rules)
    kept = tuple(
        f for f in screening.findings if not (f.source == "learned" and f.rule_id in withdrawn)
    )
    return replace(screening, findings=kept), withdrawn
