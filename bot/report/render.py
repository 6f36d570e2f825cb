"""The report as one self-contained HTML page (Jinja2, charts inline) and a text summary."""

from __future__ import annotations

import time

from jinja2 import Environment, PackageLoader, select_autoescape

from bot.report.charts import charts
from bot.report.collect import ReportData


def render_html(data: ReportData) -> str:
    """Return the page: every string from the log is escaped, the charts are inline SVG."""
    environment = Environment(
        loader=PackageLoader("bot.report", "."),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        data=data,
        charts=charts(data),
        period=_period(data),
        share=_share(data.declined, data.covered + data.declined),
    )


def summary_lines(data: ReportData) -> list[str]:
    """A short text summary for the terminal."""
    asked = data.covered + data.declined
    lines = [
        f"hipbot report, {_period(data)}",
        f"{data.turns} messages in {data.conversations} conversations",
        f"questions answered from the articles: {data.covered}; not covered: {data.declined}"
        f" ({_share(data.declined, asked)})",
    ]
    if data.uncovered:
        top = ", ".join(f"{t.nearest.split(' > ')[-1]} ({t.count})" for t in data.uncovered[:3])
        lines.append(f"not covered, by closest section: {top}")
    if data.red_flags:
        top = ", ".join(f"{rule} ({count})" for rule, _, count in data.red_flags[:3])
        lines.append(f"red flags: {top}")
    bad = [(name, count) for name, _, count in data.ratings if count]
    if bad:
        lines.append(f"most 'not helpful': {bad[0][0]} ({bad[0][1]})")
    if data.checkins:
        lines.append(
            "check-ins: " + ", ".join(f"{k} {v}" for k, v in sorted(data.checkins.items()))
        )
    return lines


def _period(data: ReportData) -> str:
    start = time.strftime("%Y-%m-%d", time.gmtime(data.since))
    end = time.strftime("%Y-%m-%d", time.gmtime(data.until))
    return f"{start} to {end}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"
