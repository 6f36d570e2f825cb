"""Quality evaluations over the project's labelled data; each returns a report with a table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from bot.dialogue import ConversationState, DialogueManager, Reply
from bot.errors import HipbotError
from bot.retrieval import Retriever
from bot.safety import Level, SafetyScreen
from bot.targets import TARGETS, at_least, at_most


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSON-lines data file, with a clear error when it is missing or malformed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise HipbotError(f"cannot read {path} ({error.strerror})") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise HipbotError(f"{path}:{number} is not valid JSON") from None
    return records


def _measures_table(
    title: str, rows: list[tuple[str, str, str]], caption: str | None = None
) -> Table:
    """Render (measure, value, target) rows: the shape every report shares."""
    table = Table(title=title, caption=caption)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


@dataclass
class RetrievalReport:
    """Ranking quality on in-scope questions and the covered/not-covered split."""

    questions: int = 0
    out_of_scope: int = 0
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    out_of_scope_rejected: float = 0.0
    in_scope_rejected: float = 0.0
    misses: list[str] = field(default_factory=list)

    def tables(self, name: str) -> list[Table]:
        """Render the report as rich tables, with the targets of DESIGN.md."""
        rows = [
            (f"Recall@{k}", f"{value:.3f}", f">= {TARGETS.recall_at_3}" if k == 3 else "")
            for k, value in self.recall.items()
        ]
        rows += [
            ("MRR", f"{self.mrr:.3f}", f">= {TARGETS.mrr}"),
            (
                "out-of-scope judged not covered",
                f"{self.out_of_scope_rejected:.1%}",
                at_least(TARGETS.out_of_scope_rejected),
            ),
            (
                "in-scope judged not covered",
                f"{self.in_scope_rejected:.1%}",
                at_most(TARGETS.in_scope_rejected),
            ),
        ]
        caption = f"{self.questions} in scope, {self.out_of_scope} out of scope"
        return [_measures_table(f"Retrieval: {name}", rows, caption)]

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Return (measure, value, target) rows for the summary of `hipbot eval`."""
        return [
            ("Recall@3", f"{self.recall.get(3, 0):.3f}", f">= {TARGETS.recall_at_3}"),
            ("MRR", f"{self.mrr:.3f}", f">= {TARGETS.mrr}"),
            (
                "out of scope rejected",
                f"{self.out_of_scope_rejected:.1%}",
                at_least(TARGETS.out_of_scope_rejected),
            ),
            (
                "in scope rejected",
                f"{self.in_scope_rejected:.1%}",
                at_most(TARGETS.in_scope_rejected),
            ),
        ]


def evaluate_retrieval(retriever: Retriever, questions: list[dict]) -> RetrievalReport:
    """Score ranking (a hit counts when its section is one of the labelled ones) and coverage."""
    report = RetrievalReport()
    reciprocal_ranks = []
    found_at: list[int | None] = []
    rejected_in = rejected_out = 0
    for item in questions:
        result = retriever.search(item["question"])
        sections = {section.lower() for section in item["sections"]}
        if not sections:
            report.out_of_scope += 1
            rejected_out += not result.covered
            if result.covered:
                report.misses.append(f"covered but out of scope: {item['question']}")
            continue
        report.questions += 1
        rejected_in += not result.covered
        rank = next(
            (n for n, hit in enumerate(result.hits, 1) if hit.passage.section.lower() in sections),
            None,
        )
        found_at.append(rank)
        reciprocal_ranks.append(1 / rank if rank else 0.0)
        if rank != 1:
            top = result.hits[0].passage.section if result.hits else "nothing"
            report.misses.append(f"rank {rank}: {item['question']} -> {top}")
        if not result.covered:
            report.misses.append(f"not covered but in scope: {item['question']}")
    if report.questions:
        for k in (1, 3, 5):
            report.recall[k] = sum(1 for r in found_at if r and r <= k) / report.questions
        report.mrr = sum(reciprocal_ranks) / report.questions
        report.in_scope_rejected = rejected_in / report.questions
    if report.out_of_scope:
        report.out_of_scope_rejected = rejected_out / report.out_of_scope
    return report


@dataclass
class SafetyReport:
    """Triage quality: confusion over levels, sensitivity, under- and over-triage."""

    total: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    sensitivity: dict[str, float] = field(default_factory=dict)
    exact: float = 0.0
    under_triage: float = 0.0
    benign_over_triage: float = 0.0
    misses: list[str] = field(default_factory=list)

    def tables(self, name: str) -> list[Table]:
        """Render the confusion matrix and the headline measures."""
        rows = [
            (f"sensitivity {level}", f"{self.sensitivity.get(level, 1.0):.1%}", "100%")
            for level in ("emergency", "urgent")
        ]
        rows += [
            ("exact level", f"{self.exact:.1%}", ""),
            ("under-triage (any level)", f"{self.under_triage:.1%}", ""),
            (
                "benign raised above self_care",
                f"{self.benign_over_triage:.1%}",
                at_most(TARGETS.benign_over_triage),
            ),
        ]
        return [
            self._confusion_table(f"Safety: {name}"),
            _measures_table(f"Safety measures: {name}", rows),
        ]

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Return (measure, value, target) rows for the summary of `hipbot eval`."""
        return [
            ("emergency sensitivity", f"{self.sensitivity.get('emergency', 1):.1%}", "100%"),
            ("urgent sensitivity", f"{self.sensitivity.get('urgent', 1):.1%}", "100%"),
            (
                "benign over-triage",
                f"{self.benign_over_triage:.1%}",
                at_most(TARGETS.benign_over_triage),
            ),
        ]

    def _confusion_table(self, title: str) -> Table:
        labels = [level.label for level in Level]
        table = Table(title=title, caption=f"{self.total} labelled messages; rows: expected")
        table.add_column("expected \\ screened")
        for label in labels:
            table.add_column(label, justify="right")
        for expected in labels:
            table.add_row(
                expected, *[str(self.confusion.get((expected, got), 0)) for got in labels]
            )
        return table


def evaluate_safety(screener: SafetyScreen, messages: list[dict]) -> SafetyReport:
    """Screen every labelled message and compare the level with the label.

    A serious message counts as caught when the screen reaches at least its level.
    """
    report = SafetyReport(total=len(messages))
    caught: dict[str, list[bool]] = {"emergency": [], "urgent": []}
    exact = under = flagged = benign = benign_raised = 0
    for item in messages:
        expected = Level.parse(item["level"])
        got = screener.screen_with_learned(item["text"]).level
        key = (expected.label, got.label)
        report.confusion[key] = report.confusion.get(key, 0) + 1
        exact += got == expected
        if expected.label in caught:
            caught[expected.label].append(got >= expected)
        if expected > Level.SELF_CARE:
            flagged += 1
            under += got < expected
        else:
            benign += 1
            benign_raised += got > Level.SELF_CARE
        if got != expected:
            kind = "UNDER" if got < expected else "OVER"
            report.misses.append(f"{kind} {expected.label} -> {got.label}: {item['text']}")
    report.sensitivity = {k: sum(v) / len(v) for k, v in caught.items() if v}
    report.exact = exact / max(len(messages), 1)
    report.under_triage = under / max(flagged, 1)
    report.benign_over_triage = benign_raised / max(benign, 1)
    return report


def check_expectations(reply: Reply, expect: dict) -> list[str]:
    """Compare one reply with a conversation script's expectations; return what failed."""
    failures = []
    text = reply.text.lower()
    first = reply.segments[0].text.lower() if reply.segments else ""
    sections = [source.section for source in reply.sources]
    if "triage" in expect and reply.triage.label != expect["triage"]:
        failures.append(f"triage {reply.triage.label}, expected {expect['triage']}")
    if "min_triage" in expect and reply.triage < Level.parse(expect["min_triage"]):
        failures.append(f"triage {reply.triage.label}, expected at least {expect['min_triage']}")
    missing_flags = set(expect.get("red_flags", [])) - set(reply.red_flags)
    if missing_flags:
        failures.append(f"red flags {list(reply.red_flags)} lack {sorted(missing_flags)}")
    if expect.get("no_red_flags") and reply.red_flags:
        failures.append(f"unexpected red flags {list(reply.red_flags)}")
    if "covered" in expect and reply.covered != expect["covered"]:
        failures.append(f"covered {reply.covered}, expected {expect['covered']}")
    if "section" in expect and expect["section"] not in sections:
        failures.append(f"sources {sections} lack {expect['section']!r}")
    failures += [
        f"reply lacks {s!r}" for s in expect.get("reply_has", []) if s.lower() not in text
    ]
    failures += [f"reply has {s!r}" for s in expect.get("reply_lacks", []) if s.lower() in text]
    if "first_line_has" in expect and expect["first_line_has"].lower() not in first:
        failures.append(f"first paragraph lacks {expect['first_line_has']!r}")
    if "quick_replies" in expect and list(reply.quick_replies) != expect["quick_replies"]:
        failures.append(
            f"quick replies {list(reply.quick_replies)}, expected {expect['quick_replies']}"
        )
    return failures


@dataclass
class ConversationReport:
    """How many scripted turns behaved as their expectations say."""

    conversations: int = 0
    turns: int = 0
    turns_passed: int = 0
    misses: list[str] = field(default_factory=list)

    def tables(self, name: str) -> list[Table]:
        """Render the pass rate."""
        rows = [
            ("conversations", str(self.conversations), ""),
            ("turns passing every expectation", f"{self.turns_passed}/{self.turns}", "all"),
        ]
        return [_measures_table(f"Conversations: {name}", rows)]

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Return (measure, value, target) rows for the summary of `hipbot eval`."""
        return [("turns as scripted", f"{self.turns_passed}/{self.turns}", "all")]


def replay(dialogue: DialogueManager, turns: list[dict]) -> list[tuple[dict, Reply]]:
    """Play a scripted conversation from a fresh state; return each turn with its reply."""
    state = ConversationState()
    played = []
    for turn in turns:
        result = dialogue.respond(state, turn["say"])
        state = result.state
        played.append((turn, result.reply))
    return played


def evaluate_conversations(dialogue: DialogueManager, scripts: list[dict]) -> ConversationReport:
    """Replay every script and check every turn's expectations."""
    report = ConversationReport(conversations=len(scripts))
    for script in scripts:
        for number, (turn, reply) in enumerate(replay(dialogue, script["turns"]), 1):
            report.turns += 1
            failures = check_expectations(reply, turn.get("expect", {}))
            if failures:
                report.misses.append(f"{script['name']} turn {number}: {'; '.join(failures)}")
            else:
                report.turns_passed += 1
    return report
