"""The report's charts, drawn with matplotlib as inline SVG (text drawn as paths).

Drawing text as paths keeps the page self-contained (no fonts to load) and means no
string from the log is ever written into the SVG as markup.
"""

from __future__ import annotations

import io
from collections import Counter

import matplotlib

matplotlib.use("Agg")  # no display: charts are files
import matplotlib.pyplot as plt

from bot.report.collect import LEVEL_ORDER, ReportData

LEVEL_COLOURS = {"emergency": "#b3261e", "urgent": "#e8710a", "doctor": "#f2b705"}
GOOD, BAD, PLAIN = "#2e7d32", "#c62828", "#1f6feb"
MAX_BARS = 12
LABEL_CHARS = 60
plt.rcParams.update({"svg.fonttype": "path", "font.size": 9, "svg.hashsalt": "hipbot"})


def charts(data: ReportData) -> dict[str, str]:
    """Return each chart that has data, as SVG markup, by its name in the page."""
    drawn = {
        "red_flags_over_time": _levels_by_week(data.levels_by_week),
        "red_flags_by_rule": _bars(
            [(rule, count) for rule, _, count in data.red_flags],
            [LEVEL_COLOURS.get(level, PLAIN) for _, level, _ in data.red_flags],
            "messages",
        ),
        "sections_used": _bars(data.sections_used, None, "answers that used it"),
        "ratings": _ratings(data.ratings),
        "check_answers": _check_answers(data.check_answers),
        "checkins": _bars(sorted(data.checkins.items()), None, "check-ins"),
        "uncovered": _bars(
            [(topic.nearest, topic.count) for topic in data.uncovered],
            None,
            "questions (by the closest section)",
        ),
    }
    return {name: svg for name, svg in drawn.items() if svg}


def _svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML prolog


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else "…" + label[-(LABEL_CHARS - 1) :]


def _bars(items: list[tuple[str, int]], colours: list[str] | None, unit: str) -> str | None:
    """Horizontal bars, largest at the top."""
    items = items[:MAX_BARS]
    if not items:
        return None
    figure, axes = plt.subplots(figsize=(7.5, 0.4 * len(items) + 0.9))
    labels = [_short(label) for label, _ in items][::-1]
    values = [value for _, value in items][::-1]
    axes.barh(labels, values, color=(colours[: len(items)][::-1] if colours else PLAIN))
    axes.set_xlabel(unit)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _levels_by_week(weeks: dict[str, Counter]) -> str | None:
    """Red-flag messages per week, stacked by level."""
    if not weeks:
        return None
    names = sorted(weeks)
    figure, axes = plt.subplots(figsize=(7.5, 3.0))
    bottom = [0] * len(names)
    for level in LEVEL_ORDER:
        counts = [weeks[name].get(level, 0) for name in names]
        if any(counts):
            axes.bar(names, counts, bottom=bottom, label=level, color=LEVEL_COLOURS.get(level))
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylabel("messages with a red flag")
    axes.set_xlabel("week starting")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _ratings(ratings: list[tuple[str, int, int]]) -> str | None:
    """Helpful and not helpful per section, the most not-helpful at the top."""
    ratings = ratings[:MAX_BARS]
    if not ratings:
        return None
    figure, axes = plt.subplots(figsize=(7.5, 0.4 * len(ratings) + 0.9))
    labels = [_short(name) for name, _, _ in ratings][::-1]
    good = [g for _, g, _ in ratings][::-1]
    bad = [b for _, _, b in ratings][::-1]
    axes.barh(labels, bad, color=BAD, label="not helpful")
    axes.barh(labels, good, left=bad, color=GOOD, label="helpful")
    axes.set_xlabel("ratings")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _check_answers(answers: dict[str, Counter]) -> str | None:
    """How the safety check's questions were answered, one bar per question, by answer."""
    if not answers:
        return None
    kinds = ["yes", "no", "not_sure", "skip"]
    colours = {"yes": "#8e24aa", "no": "#546e7a", "not_sure": "#f2b705", "skip": "#bdbdbd"}
    names = sorted(answers)
    figure, axes = plt.subplots(figsize=(7.5, 0.45 * len(names) + 0.9))
    left = [0] * len(names)
    for kind in kinds:
        counts = [answers[name].get(kind, 0) for name in names]
        if any(counts):
            axes.barh(names, counts, left=left, label=kind.replace("_", " "), color=colours[kind])
            left = [a + b for a, b in zip(left, counts, strict=True)]
    axes.set_xlabel("answers")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False, ncol=4)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
