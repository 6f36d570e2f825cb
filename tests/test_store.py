import sqlite3
import stat

from bot.dialogue import CheckProgress, ConversationState
from bot.store import ConversationStore


def test_states_round_trip_and_chats_are_isolated(tmp_path):
    store = ConversationStore(tmp_path / "state" / "db.sqlite3")
    first = ConversationState(turns=3, topic="Bursitis", check=CheckProgress(index=2, fell=True))
    store.save("telegram:1", first)
    store.save("telegram:2", ConversationState(turns=1, escalation="urgent"))
    assert store.load("telegram:1") == first
    assert store.load("telegram:2").escalation == "urgent"
    assert store.load("telegram:3") == ConversationState()


def test_saved_state_survives_reopening(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = ConversationStore(path)
    store.save("repl", ConversationState(turns=7, escalation="emergency"))
    store.close()
    assert ConversationStore(path).load("repl").escalation == "emergency"


def test_forget_deletes_everything_about_a_chat(tmp_path):
    store = ConversationStore(tmp_path / "db.sqlite3")
    store.save("a", ConversationState(turns=1))
    store.save("b", ConversationState(turns=2))
    assert store.forget("a") is True
    assert store.forget("a") is False
    assert store.load("a") == ConversationState()
    assert store.load("b").turns == 2


def test_database_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = ConversationStore(path)
    store.save("a", ConversationState(turns=1))
    for file in tmp_path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file


def test_an_unreadable_row_gives_a_fresh_conversation(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = ConversationStore(path)
    with sqlite3.connect(path) as other:
        other.execute("INSERT INTO conversations VALUES ('x', '{not json', 0)")
    assert store.load("x") == ConversationState()
