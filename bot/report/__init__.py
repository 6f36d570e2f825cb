"""`hipbot report`: what the articles' maintainers need to know, from the activity log."""

from bot.report.collect import ReportData, collect
from bot.report.render import render_html, summary_lines

__all__ = ["ReportData", "collect", "render_html", "summary_lines"]
