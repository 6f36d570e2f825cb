"""The scripted safety check: yes/no questions from rules.toml, asked when someone has pain.

Two kinds: the full check (every question in `[[check]]` order), started once per
conversation when someone describes pain of their own, and a one-question check on a
single rule that the learned layer half-recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.dialogue.intents import Intent, parse_check_answer
from bot.dialogue.reply import Draft
from bot.dialogue.state import CheckProgress, ConversationState
from bot.dialogue.texts import reply_texts
from bot.safety import Level, Screening
from bot.safety.rules import RuleBook
from bot.safety.screen import tells_only_of_others

CHECK_REPLIES = ("Yes", "No", "Not sure", "Skip")
_OWN_PAIN = re.compile(r"\b(my|i|i'm|i've|me)\b")
_PAIN = re.compile(
    r"\b(pain\w*|hurt\w*|ache\w*|aching|achy|sore|injur\w*|throb\w*|tender|twinge\w*|niggle"
    r"|killing)\b"
)
_BODY = re.compile(r"\b(hips?|groin|thighs?|glutes?|buttocks?|bum|butt|legs?|pelvis)\b")


@dataclass
class CheckOutcome:
    """What an answer to a check question did, for the policy to put in order."""

    answered: bool = False
    level: Level = Level.SELF_CARE
    rules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    question: str | None = None
    record: str | None = None  # "<check or rule>:<answer>" for the activity log


def describes_own_pain(text: str, screening: Screening) -> bool:
    """Whether a message tells of the writer's own pain now (not a friend's, not "what if")."""
    typed = text.lower()
    return bool(
        not screening.cues & {"hypothetical", "past", "someone_else"}
        and _OWN_PAIN.search(typed)
        and _PAIN.search(typed)
        and _BODY.search(typed)
    )


class SafetyCheck:
    """Asks the check questions and reads their answers."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book

    def question(self, index: int, *, resumed: bool) -> str:
        """Return the text of check question `index` (with a lead-in for the first)."""
        texts, question = reply_texts(), self.book.checks[index].question
        if resumed:
            return texts.check_resume.format(question=question)
        if index == 0:
            return texts.check_start.format(question=question)
        return question

    def rule_question(self, rule_id: str) -> str:
        """Return the one-question check of a rule the learned layer half-recognised."""
        return reply_texts().check_one.format(question=self.book.rule(rule_id).check)

    def pending(self, state: ConversationState) -> str | None:
        """Return the question a conversation is waiting on, asked again (None if none)."""
        if state.check is None:
            return None
        if state.check.rule:
            return self.rule_question(state.check.rule)
        return self.question(state.check.index, resumed=True)

    def maybe_start(
        self,
        state: ConversationState,
        text: str,
        intent: Intent,
        screening: Screening,
        level: Level,
        draft: Draft,
    ) -> None:
        """Ask a check question when this message calls for one (after the answer)."""
        if state.check is not None and state.check.rule:
            state.check = None  # a one-question check not answered is not repeated
        if state.check is not None and not state.check.resumed:
            # Asked something else mid-check: the question comes back once, not every turn.
            state.check.resumed = True
            draft.add("question", self.question(state.check.index, resumed=True))
            draft.quick_replies = CHECK_REPLIES
            return
        state.check = None  # dropped; new pain told later starts it again
        fired = {finding.rule_id for finding in screening.fired}
        asks = [rule for rule in screening.asks if rule not in fired]
        if (
            intent == Intent.QUESTION
            and level < Level.URGENT
            and asks
            and not tells_only_of_others(screening, self.book)
        ):
            # A sign half-recognised, or one with a benign look-alike: ask rather than guess
            # (the whole check can follow on a later message).
            state.check = CheckProgress(rule=asks[0])
            draft.add("question", self.rule_question(asks[0]))
            draft.quick_replies = CHECK_REPLIES
        elif (
            intent == Intent.QUESTION
            and level == Level.SELF_CARE
            and not state.check_done
            and describes_own_pain(text, screening)
        ):
            # Pain of their own: the whole check, which asks about every warning sign.
            state.check = CheckProgress()
            draft.add("question", self.question(0, resumed=False))
            draft.quick_replies = CHECK_REPLIES

    def advance(self, state: ConversationState, text: str) -> CheckOutcome:
        """Apply an answer to the pending check question, if the message is one."""
        if state.check is None:
            return CheckOutcome()
        answer = parse_check_answer(text)
        if answer is None:
            return CheckOutcome()
        texts = reply_texts()
        progress = state.check
        asked = progress.rule or self.book.checks[progress.index].check_id
        outcome = CheckOutcome(answered=True, record=f"{asked}:{answer}")
        if progress.rule:
            rule = self.book.rule(progress.rule)
            state.check = None
            if answer in (rule.check_red, "not_sure"):
                outcome.rules, outcome.level = [rule.rule_id], rule.level
            else:
                outcome.notes.append(texts.check_reassured.format(reminder=texts.reminder))
            return outcome
        check = self.book.checks[progress.index]
        if answer == "skip":
            state.check, state.check_done = None, True
            outcome.notes.append(texts.check_skipped.format(reminder=texts.reminder))
            return outcome
        red = answer in (check.red_answer, "not_sure")
        if red and check.check_id == "fall":
            progress.fell = True
        elif red and check.rule_id:
            rule_id = check.after_fall if (progress.fell and check.after_fall) else check.rule_id
            outcome.rules = [rule_id]
            outcome.level = self.book.rule(rule_id).level
            if answer == "not_sure":
                outcome.notes.append(texts.check_not_sure)
        progress.index += 1
        progress.resumed = False
        if outcome.level >= Level.URGENT:
            state.check = None
        elif progress.index < len(self.book.checks):
            outcome.question = self.question(progress.index, resumed=False)
        else:
            state.check, state.check_done = None, True
            outcome.notes.append(texts.check_clear.format(reminder=texts.reminder))
        return outcome
