"""Quality evaluations over the project's labelled data; each returns a report with a table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from bot.errors import HipbotError
from bot.retrieval import Retriever


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

    def table(self, title: str = "Retrieval") -> Table:
        """Render the report as a rich table, with the targets of DESIGN.md."""
        table = Table(
            title=title, caption=f"{self.questions} in scope, {self.out_of_scope} out of scope"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        for k, value in self.recall.items():
            table.add_row(f"Recall@{k}", f"{value:.3f}", ">= 0.95" if k == 3 else "")
        table.add_row("MRR", f"{self.mrr:.3f}", ">= 0.85")
        table.add_row(
            "out-of-scope judged not covered", f"{self.out_of_scope_rejected:.1%}", ">= 90%"
        )
        table.add_row("in-scope judged not covered", f"{self.in_scope_rejected:.1%}", "<= 5%")
        return table


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
