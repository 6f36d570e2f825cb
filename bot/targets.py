"""The design's quality targets, declared once: every evaluation report and test reads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Targets:
    """Targets on a fresh set's first run (triage, answers) and on the project's questions."""

    # Red flags.
    emergency_exact: float = 0.95
    urgent_or_worse: float = 0.98
    doctor_or_worse: float = 0.95
    benign_over_triage: float = 0.05
    conversations: float = 1.0
    # Answers.
    answers_passed: float = 0.90
    follow_ups: float = 0.90
    declined_when_uncovered: float = 0.90
    declined_when_answerable: float = 0.05
    # Retrieval.
    recall_at_3: float = 0.97
    mrr: float = 0.90
    out_of_scope_rejected: float = 0.90
    in_scope_rejected: float = 0.05


TARGETS = Targets()


def at_least(value: float) -> str:
    """Render a lower bound as a table's target cell (shares as percentages)."""
    return f">= {value:.0%}" if value < 1 else "100%"


def at_most(value: float) -> str:
    """Render an upper bound as a table's target cell."""
    return f"<= {value:.0%}"
