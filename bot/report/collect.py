"""Read the activity log into the figures of the report (no drawing, no HTML here)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bot.checkins import DAY_SECONDS
from bot.database import StateDatabase
from bot.index import KnowledgeIndex
from bot.safety import Level
from bot.safety.rules import RuleBook

# Questions the articles did not cover are grouped when their embeddings are this close
# (cosine distance, average linkage): "does glucosamine help?" and "is glucosamine worth
# taking?" fall together, glucosamine and knee pain do not.
TOPIC_DISTANCE = 0.45
EXAMPLES_PER_TOPIC = 3


@dataclass(frozen=True)
class UncoveredTopic:
    """Questions the articles did not cover that are about one thing."""

    count: int
    nearest: str  # the closest section: where an answer would belong, or what it is not
    examples: tuple[str, ...]  # their text, only when the deployment stores it


@dataclass
class ReportData:
    """Every figure of the report, over one period."""

    since: float
    until: float
    text_stored: bool
    turns: int = 0
    conversations: int = 0
    covered: int = 0
    declined: int = 0
    uncovered: list[UncoveredTopic] = field(default_factory=list)
    uncovered_unread: int = 0  # declined questions whose embedding has expired
    sections_used: list[tuple[str, int]] = field(default_factory=list)
    articles_used: list[tuple[str, int]] = field(default_factory=list)
    ratings: list[tuple[str, int, int]] = field(default_factory=list)  # section, good, bad
    red_flags: list[tuple[str, str, int]] = field(default_factory=list)  # rule, level, count
    levels_by_week: dict[str, Counter] = field(default_factory=dict)
    check_answers: dict[str, Counter] = field(default_factory=dict)
    guided: Counter = field(default_factory=Counter)
    checkins: Counter = field(default_factory=Counter)


def collect(
    database: StateDatabase,
    book: RuleBook,
    index: KnowledgeIndex | None,
    *,
    days: float,
    text_stored: bool,
    now: float | None = None,
) -> ReportData:
    """Read the log of the last `days` days; `index` names sections and places topics."""
    until = time.time() if now is None else now
    since = until - days * DAY_SECONDS
    data = ReportData(since, until, text_stored)
    rows = database.query(
        "SELECT chat, at, triage, rules, covered, declined, passages, check_answer, guide,"
        " checkin, question, embedding FROM activity WHERE at >= ? AND at <= ? ORDER BY at",
        (since, until),
    )
    labels = _section_labels(index)
    sections: Counter = Counter()
    articles: Counter = Counter()
    rules: Counter = Counter()
    uncovered: list[tuple[str | None, list[float]]] = []
    for _chat, at, triage, fired, covered, declined, passages, check, guide, checkin, q, e in rows:
        data.turns += 1
        data.covered += covered
        data.declined += declined
        used = json.loads(passages)
        sections.update(labels.get(p, p) for p in used)
        articles.update(p.split("#")[0] for p in used)
        rules.update(json.loads(fired))
        if fired != "[]":
            day = at - at % DAY_SECONDS
            monday = day - time.gmtime(day).tm_wday * DAY_SECONDS
            week = time.strftime("%Y-%m-%d", time.gmtime(monday))
            data.levels_by_week.setdefault(week, Counter())[triage] += 1
        if check:
            asked, _, answer = check.rpartition(":")
            data.check_answers.setdefault(asked, Counter())[answer] += 1
        if guide:
            data.guided[guide] += 1
        if checkin:
            data.checkins[checkin] += 1
        if declined and e:
            uncovered.append((q, json.loads(e)))
        elif declined:
            data.uncovered_unread += 1
    data.conversations = len({row[0] for row in rows})
    data.sections_used = sections.most_common()
    data.articles_used = articles.most_common()
    data.red_flags = [
        (book.rule(rule_id).title, book.rule(rule_id).level.label, count)
        for rule_id, count in rules.most_common()
        if rule_id in {rule.rule_id for rule in book.rules}
    ]
    data.uncovered = _topics(uncovered, index, labels)
    data.ratings = _ratings(database, since, until, labels)
    data.checkins.update(_checkin_outcomes(database, since, until))
    return data


def _section_labels(index: KnowledgeIndex | None) -> dict[str, str]:
    if index is None:
        return {}
    return {p.passage_id: " > ".join(p.path) for p in index.passages}


def _ratings(
    database: StateDatabase, since: float, until: float, labels: dict[str, str]
) -> list[tuple[str, int, int]]:
    """Helpful and not-helpful counts per section, the most not-helpful first."""
    good: Counter = Counter()
    bad: Counter = Counter()
    for helpful, passages in database.query(
        "SELECT helpful, passages FROM feedback WHERE at >= ? AND at <= ?", (since, until)
    ):
        for passage in json.loads(passages):
            (good if helpful else bad)[labels.get(passage, passage)] += 1
    names = sorted(good.keys() | bad.keys(), key=lambda name: (-bad[name], -good[name], name))
    return [(name, good[name], bad[name]) for name in names]


def _checkin_outcomes(database: StateDatabase, since: float, until: float) -> Counter:
    """Check-ins by where they stand: waiting, asked and unanswered, or their answer."""
    outcomes: Counter = Counter()
    for sent_at, outcome in database.query(
        "SELECT sent_at, outcome FROM checkins WHERE created_at >= ? AND created_at <= ?",
        (since, until),
    ):
        if outcome is None:
            outcomes["waiting" if sent_at is None else "unanswered"] += 1
        elif outcome != "replaced":
            outcomes[f"result: {outcome}"] += 1
    return outcomes


def _topics(
    questions: list[tuple[str | None, list[float]]],
    index: KnowledgeIndex | None,
    labels: dict[str, str],
) -> list[UncoveredTopic]:
    """Group the questions the articles did not cover by meaning, largest group first."""
    if not questions:
        return []
    vectors = np.asarray([vector for _, vector in questions], dtype=np.float32)
    if len(questions) == 1:
        groups = np.zeros(1, dtype=int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        groups = AgglomerativeClustering(
            n_clusters=None, distance_threshold=TOPIC_DISTANCE, metric="cosine", linkage="average"
        ).fit_predict(vectors)
    topics = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        centre = vectors[members].mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        nearest = "(no index loaded)"
        if index is not None:
            row, _ = index.dense(centre.astype(np.float32), 1)[0]
            nearest = labels[index.passages[row].passage_id]
        texts = tuple(q for q, _ in (questions[m] for m in members) if q)[:EXAMPLES_PER_TOPIC]
        topics.append(UncoveredTopic(len(members), nearest, texts))
    return sorted(topics, key=lambda topic: (-topic.count, topic.nearest))


LEVEL_ORDER = [level.label for level in sorted(Level, reverse=True)]
