"""`hipbot report` from a test database filled by real conversations; a browser screenshot."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from bot.activity import ActivityLog
from bot.database import open_database
from bot.dialogue import ConversationState
from bot.report import collect, render_html, summary_lines
from bot.report.charts import PLAIN
from bot.safety.rules import default_rulebook
from tests.test_cli import run

NOW = 1_790_000_000.0  # September 2026: in the past, for `hipbot report`
# Each list is one conversation; every message goes through the dialogue and the log.
CONVERSATIONS = [
    ["does glucosamine help hip pain?"],
    ["is glucosamine worth taking for runners hips"],
    ["how do i bake sourdough bread?"],
    ["what is bursitis?", "/bad"],
    ["how do i do clamshells?", "/good"],
    ["the outside of my hip hurts after runs", "no", "yes", "no", "no", "no", "yes"],
    ["i fell on a trail run and now i cant get up"],
]


def fill(log, dialogue):
    for number, messages in enumerate(CONVERSATIONS):
        state, chat = ConversationState(), f"telegram:{number}"
        for step, message in enumerate(messages):
            turn = dialogue.respond(state, message)
            log.after_turn(chat, str(number), message, turn.reply, NOW + number * 3600 + step)
            state = turn.state


@pytest.fixture(scope="module")
def filled(tmp_path_factory, runtime, seed_settings):
    """A state database after the conversations above, without and with question text."""
    databases = {}
    for stored in (False, True):
        path = tmp_path_factory.mktemp("report") / "state.sqlite3"
        settings = seed_settings.model_copy(
            update={"state_db": path, "store_question_text": stored}
        )
        log = ActivityLog(
            open_database(path),
            settings,
            lambda t: runtime.embedder.embed_queries([t])[0].tolist(),
        )
        fill(log, runtime.dialogue)
        databases[stored] = (log.database, settings)
    return databases


def report_of(filled, runtime, stored=False):
    database, _ = filled[stored]
    return collect(
        database, default_rulebook(), runtime.index, days=30, text_stored=stored, now=NOW + 86400
    )


def test_the_figures_count_what_the_conversations_did(filled, runtime):
    data = report_of(filled, runtime)
    assert data.turns == sum(len(messages) for messages in CONVERSATIONS)
    assert data.conversations == len(CONVERSATIONS)
    # The two glucosamine questions are one topic, the bread another.
    assert sorted(topic.count for topic in data.uncovered) == [1, 2]
    assert all(topic.examples == () for topic in data.uncovered)  # no text stored
    bursitis = next(r for r in data.ratings if r[0].endswith("Bursitis"))
    assert bursitis[1:] == (0, 1)
    assert any(good for _, good, _ in data.ratings)
    levels = {level for _, level, _ in data.red_flags}
    assert "emergency" in levels
    assert data.check_answers["fall"]["no"] == 1 and data.check_answers["weight"]["yes"] == 1
    assert data.checkins["accepted"] == 1 and data.checkins["waiting"] == 1
    assert data.sections_used[0][1] >= 1 and data.articles_used[0][0] == "hip-pain-after-running"


def test_the_page_has_every_section_and_its_charts_and_no_text_unless_stored(filled, runtime):
    page = render_html(report_of(filled, runtime))
    for section in ("uncovered", "ratings", "red-flags", "check-questions", "checkins", "usage"):
        assert f'<section id="{section}">' in page
    assert page.count("<svg") == 7  # every chart has data in this database
    assert "glucosamine" not in page.lower() and "text not stored" in page
    stored = render_html(report_of(filled, runtime, stored=True))
    assert "does glucosamine help hip pain?" in stored
    assert "<script" not in page and "<link" not in page and 'src="' not in page


def test_the_summary_names_the_main_findings(filled, runtime):
    lines = summary_lines(report_of(filled, runtime))
    assert lines[1] == f"{sum(map(len, CONVERSATIONS))} messages in 7 conversations"
    assert any(line.startswith("red flags: ") for line in lines)
    assert any(line.startswith("most 'not helpful': ") for line in lines)
    assert any(line.startswith("check-ins: accepted 1") for line in lines)


def test_hipbot_report_writes_the_page_and_prints_the_summary(filled, tmp_path, monkeypatch):
    _, settings = filled[False]
    monkeypatch.setenv("HIPBOT_STATE_DB", str(settings.state_db))
    monkeypatch.setenv("HIPBOT_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.setenv("HIPBOT_INDEX_DIR", str(settings.index_dir))
    out = tmp_path / "report.html"
    result = run("report", "--out", str(out), "--days", "100000")
    assert result.exit_code == 0, result.output
    assert "messages in 7 conversations" in result.output and out.read_text().count("<svg") == 7


def test_a_browser_renders_the_charts(filled, runtime, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "headless Chromium is missing: run scripts/ensure_test_tools.sh"
    page = tmp_path / "report.html"
    page.write_text(render_html(report_of(filled, runtime)), encoding="utf-8")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,4000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    blue = np.array([int(PLAIN[i : i + 2], 16) for i in (1, 3, 5)])
    bars = np.abs(pixels - blue).sum(axis=1) < 30
    assert bars.mean() > 0.01, "the chart bars are not on the page"
