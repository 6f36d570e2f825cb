"""Triage of whole replies on a round's fresh set: what a person would have been told.

A round is two files written by someone who never saw the code: single messages
(`<round>-messages.jsonl`: text, level) and conversations (`<round>-conversations.jsonl`:
turns, level of the reply to the last turn). Each is answered by the dialogue manager from a
fresh conversation, exactly as `hipbot ask --jsonl` would, so the measures cover the whole
path (rules, learned layer, remembered facts, sticky escalation), not the screen alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from bot.dialogue import ConversationState, DialogueManager
from bot.safety import Level
from bot.targets import TARGETS, at_least, at_most


@dataclass
class TriageReport:
    """Counts per expected level and the headline measures of the design."""

    name: str = ""
    got: dict[str, list[str]] = field(default_factory=dict)
    conversations: list[tuple[str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def _share(self, expected: tuple[str, ...], at_least: Level) -> float:
        results = [g for level in expected for g in self.got.get(level, [])]
        hits = sum(Level.parse(g) >= at_least for g in results)
        return hits / len(results) if results else 1.0

    @property
    def emergency_exact(self) -> float:
        """Share of emergency messages answered at the emergency level."""
        return self._share(("emergency",), Level.EMERGENCY)

    @property
    def urgent_or_worse(self) -> float:
        """Share of emergency and urgent messages answered urgent or emergency."""
        return self._share(("emergency", "urgent"), Level.URGENT)

    @property
    def serious_at_self_care(self) -> int:
        """Count of emergency and urgent messages that got no referral at all."""
        return sum(
            g == "self_care" for level in ("emergency", "urgent") for g in self.got.get(level, [])
        )

    @property
    def doctor_or_worse(self) -> float:
        """Share of doctor-level messages answered doctor or above."""
        return self._share(("doctor",), Level.DOCTOR)

    @property
    def benign_over_triage(self) -> float:
        """Share of self-care messages raised above self_care."""
        return self._share(("self_care",), Level.DOCTOR)

    @property
    def conversations_right(self) -> float:
        """Share of conversations whose last reply has exactly the expected level."""
        if not self.conversations:
            return 1.0
        return sum(e == g for e, g in self.conversations) / len(self.conversations)

    @property
    def conversations_safe(self) -> float:
        """Share of conversations whose last reply is at the expected level or above."""
        if not self.conversations:
            return 1.0
        right = sum(Level.parse(g) >= Level.parse(e) for e, g in self.conversations)
        return right / len(self.conversations)

    def rows(self) -> list[tuple[str, str, str]]:
        """Return (measure, value, target) rows."""
        counts = {level: len(self.got.get(level, [])) for level in ("emergency", "urgent")}
        counts |= {level: len(self.got.get(level, [])) for level in ("doctor", "self_care")}
        return [
            (
                f"emergency answered emergency (n={counts['emergency']})",
                f"{self.emergency_exact:.1%}",
                at_least(TARGETS.emergency_exact),
            ),
            (
                f"urgent-or-worse (n={counts['emergency'] + counts['urgent']})",
                f"{self.urgent_or_worse:.1%}",
                at_least(TARGETS.urgent_or_worse),
            ),
            ("emergency/urgent left at self_care", str(self.serious_at_self_care), "0"),
            (
                f"doctor-or-worse (n={counts['doctor']})",
                f"{self.doctor_or_worse:.1%}",
                at_least(TARGETS.doctor_or_worse),
            ),
            (
                f"benign over-triage (n={counts['self_care']})",
                f"{self.benign_over_triage:.1%}",
                at_most(TARGETS.benign_over_triage),
            ),
            (
                f"conversations at the right level (n={len(self.conversations)})",
                f"{self.conversations_right:.1%}",
                at_least(TARGETS.conversations),
            ),
            ("conversations at that level or above", f"{self.conversations_safe:.1%}", ""),
        ]

    def tables(self, name: str) -> list[Table]:
        """Render the confusion matrix and the measures."""
        labels = [level.label for level in Level]
        confusion = Table(title=f"Triage: {name}", caption="rows: expected; columns: replied")
        confusion.add_column("expected \\ replied")
        for label in labels:
            confusion.add_column(label, justify="right")
        for expected in labels:
            got = self.got.get(expected, [])
            confusion.add_row(expected, *[str(got.count(label)) for label in labels])
        measures = Table(title=f"Triage measures: {name}")
        for column in ("measure", "value", "target"):
            measures.add_column(column, justify="left" if column == "measure" else "right")
        for row in self.rows():
            measures.add_row(*row)
        return [confusion, measures]

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Return the headline rows for the summary of `hipbot eval`."""
        return [self.rows()[i] for i in (0, 1, 3, 4, 5)]


def reply_level(dialogue: DialogueManager, turns: list[str]) -> Level:
    """Play the messages from a fresh conversation; return the last reply's triage."""
    state = ConversationState()
    level = Level.SELF_CARE
    for text in turns:
        turn = dialogue.respond(state, text)
        state, level = turn.state, turn.reply.triage
    return level


def evaluate_triage(
    dialogue: DialogueManager, messages: list[dict], conversations: list[dict]
) -> TriageReport:
    """Answer every message and conversation and compare the reply's level with the label."""
    report = TriageReport()
    for item in messages:
        got = reply_level(dialogue, [item["text"]]).label
        report.got.setdefault(item["level"], []).append(got)
        if got != item["level"]:
            kind = "UNDER" if Level.parse(got) < Level.parse(item["level"]) else "OVER"
            report.misses.append(f"{kind} {item['level']} -> {got}: {item['text']}")
    for item in conversations:
        got = reply_level(dialogue, item["turns"]).label
        report.conversations.append((item["level"], got))
        if got != item["level"]:
            report.misses.append(f"CONVERSATION {item['level']} -> {got}: {item['turns']}")
    return report
