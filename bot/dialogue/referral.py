"""The referral: what to do and how fast, first in a reply; also usable before any model loads."""

from __future__ import annotations

from bot.config import Settings
from bot.dialogue.reply import Reply, Segment, SegmentKind, Turn
from bot.dialogue.state import ConversationState, after_message
from bot.dialogue.texts import reply_texts
from bot.safety import Level, SafetyScreen, referral_text
from bot.safety.rules import RuleBook
from bot.text import clean_message


def referral_segments(
    book: RuleBook, settings: Settings, level: Level, rule_ids: list[str], now: list[str]
) -> list[Segment]:
    """Return a referral: the first line says what to do and how fast, one urgency only.

    Args:
        book: the rule book (titles and scripted referrals).
        settings: the deployment's emergency wording.
        level: the reply's level (doctor, urgent or emergency).
        rule_ids: every red flag the referral is for.
        now: the red flags this message raised (the others are named as told earlier).
    """
    kind: SegmentKind = {Level.EMERGENCY: "emergency", Level.URGENT: "urgent"}.get(level, "doctor")
    first = {
        Level.EMERGENCY: f"Call {settings.emergency_number} now or go to "
        f"{settings.emergency_department}.",
        Level.URGENT: f"Please get seen by a clinician today ({settings.urgent_care}) and stop "
        "running until then.",
        Level.DOCTOR: "Please ask a pharmacist or doctor before taking it."
        if set(rule_ids) == {"medication_risk"}
        else "Please book an appointment with a doctor or physiotherapist in the next few days.",
    }[level]
    segments = [Segment(kind, first)]
    earlier = [rule for rule in rule_ids if rule not in now]
    if earlier:
        titles = "; ".join(book.rule(rule).title.lower() for rule in earlier)
        segments.append(Segment(kind, f"Earlier you told me about: {titles}."))
    # One urgency per reply: only the scripts written for this level are shown; a lower
    # rule's script ("book an appointment") would blur an emergency.
    rules = [book.rule(rule) for rule in rule_ids]
    segments += [Segment(kind, referral_text(r, settings)) for r in rules if r.level == level]
    others = [rule.title.lower() for rule in rules if rule.level != level]
    if others:
        segments.append(Segment(kind, f"Warning signs in what you said: {'; '.join(others)}."))
    if level >= Level.URGENT:
        segments.append(Segment("info", reply_texts().escalated))
    return segments


def respond_before_model(
    safety: SafetyScreen, settings: Settings, state: ConversationState, text: str
) -> Turn | None:
    """Answer an urgent or emergency message with the rules alone, before any model loads.

    Returns:
        The referral turn when the rules find an urgent or emergency red flag (or the
        conversation is already escalated), else None: the full dialogue must answer.
    """
    text = clean_message(text)
    screening = safety.screen_rules_only(text, state.facts.known())
    level = screening.level
    state, screening = after_message(state, screening, text, safety.book)
    if level < Level.URGENT and not state.escalation:
        return None  # nothing urgent (or a correction withdrew it): the full dialogue answers
    rules = [finding.rule_id for finding in screening.fired]
    if level >= Level.URGENT:
        state.escalate(level, rules)
    escalation = Level.parse(state.escalation or "self_care")
    segments = referral_segments(safety.book, settings, escalation, state.escalation_rules, rules)
    reply = Reply(tuple(segments), triage=escalation, red_flags=tuple(rules))
    return Turn(reply, state)
