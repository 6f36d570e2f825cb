"""Answer content on a round's fresh set: did the reply hold the facts that were asked for?

A round (`answers-rN-items.jsonl`) is written from the articles alone by someone who never
saw the code. Each item is a conversation (`turns`) and either the facts the reply to its
last turn must hold (`facts`: groups of acceptable wordings, one of each group must appear)
or `decline: true` when the articles do not answer it. The dialogue answers each item from a
fresh conversation, exactly as `hipbot ask --jsonl` would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.table import Table

from bot.dialogue import ConversationState, DialogueManager, Reply
from bot.targets import TARGETS, at_least, at_most


def _plain(text: str) -> str:
    """Lower-case words separated by single spaces: wordings match across punctuation."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def missing_facts(reply_text: str, facts: list[list[str]]) -> list[str]:
    """Return the first wording of each fact group that the reply does not hold."""
    plain = _plain(reply_text)
    return [group[0] for group in facts if not any(_plain(wording) in plain for wording in group)]


def final_reply(dialogue: DialogueManager, turns: list[str]) -> Reply:
    """Play the messages from a fresh conversation; return the reply to the last one."""
    state = ConversationState()
    reply = None
    for text in turns:
        turn = dialogue.respond(state, text)
        state, reply = turn.state, turn.reply
    assert reply is not None, "an item has at least one turn"
    return reply


@dataclass
class AnswerReport:
    """Pass counts per kind of item, and the declines."""

    passed: dict[str, list[bool]] = field(default_factory=dict)
    answerable_declined: int = 0
    answerable: int = 0
    misses: list[str] = field(default_factory=list)

    def share(self, *kinds: str) -> float:
        """Share of items of these kinds that passed (all kinds when none given)."""
        results = [r for kind, rs in self.passed.items() if not kinds or kind in kinds for r in rs]
        return sum(results) / len(results) if results else 1.0

    def count(self, *kinds: str) -> int:
        """Number of items of these kinds (all when none given)."""
        return sum(len(rs) for kind, rs in self.passed.items() if not kinds or kind in kinds)

    @property
    def answerable_declined_share(self) -> float:
        """Share of answerable items whose reply said the articles do not cover them."""
        return self.answerable_declined / self.answerable if self.answerable else 0.0

    def rows(self) -> list[tuple[str, str, str]]:
        """Return (measure, value, target) rows."""
        return [
            (
                f"items passed (n={self.count()})",
                f"{self.share():.1%}",
                at_least(TARGETS.answers_passed),
            ),
            (
                f"single questions (n={self.count('single')})",
                f"{self.share('single'):.1%}",
                "",
            ),
            (
                f"follow-ups (n={self.count('followup')})",
                f"{self.share('followup'):.1%}",
                at_least(TARGETS.follow_ups),
            ),
            (
                f"not covered, declined (n={self.count('decline')})",
                f"{self.share('decline'):.1%}",
                at_least(TARGETS.declined_when_uncovered),
            ),
            (
                f"answerable, declined (n={self.answerable})",
                f"{self.answerable_declined_share:.1%}",
                at_most(TARGETS.declined_when_answerable),
            ),
        ]

    def tables(self, name: str) -> list[Table]:
        """Render the measures."""
        table = Table(title=f"Answers: {name}")
        for column in ("measure", "value", "target"):
            table.add_column(column, justify="left" if column == "measure" else "right")
        for row in self.rows():
            table.add_row(*row)
        return [table]

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Return the headline rows for the summary of `hipbot eval`."""
        return self.rows()[:1] + self.rows()[2:]


def evaluate_answers(dialogue: DialogueManager, items: list[dict]) -> AnswerReport:
    """Answer every item and check its facts, or that it was declined."""
    report = AnswerReport()
    for item in items:
        reply = final_reply(dialogue, item["turns"])
        if item.get("decline"):
            passed = not reply.covered
            why = "answered as covered"
        else:
            report.answerable += 1
            report.answerable_declined += not reply.covered
            missing = missing_facts(reply.text, item["facts"])
            passed = reply.covered and not missing
            why = "declined" if not reply.covered else f"missing {missing}"
        report.passed.setdefault(item["kind"], []).append(passed)
        if not passed:
            report.misses.append(f"{item['id']} {item['kind']} ({why}): {item['turns'][-1]}")
    return report
