import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.database import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from bot.dialogue import CheckProgress, ConversationState
from bot.inbox import Inbox
from bot.store import ConversationStore, StaleConversation


def test_states_round_trip_and_chats_are_isolated(state_location):
    store = ConversationStore(state_location)
    first = ConversationState(turns=3, topic="Bursitis", check=CheckProgress(index=2, fell=True))
    store.save("telegram:1", first)
    store.save("telegram:2", ConversationState(turns=1, escalation="urgent"))
    assert store.load("telegram:1") == first
    assert store.load("telegram:2").escalation == "urgent"
    assert store.load("telegram:3") == ConversationState()


def test_saved_state_survives_reopening(state_location):
    path = state_location
    store = ConversationStore(path)
    store.save("repl", ConversationState(turns=7, escalation="emergency"))
    store.close()
    assert ConversationStore(path).load("repl").escalation == "emergency"


def test_forget_deletes_everything_about_a_chat(state_location):
    store = ConversationStore(state_location)
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
        other.execute(
            "INSERT INTO conversations (chat_id, state, updated_at) VALUES ('x', '{not json', 0)"
        )
    assert store.load("x") == ConversationState()


def test_a_save_that_lost_a_race_is_refused_not_overwritten(state_location):
    path = state_location
    first, second = ConversationStore(path), ConversationStore(path)  # two processes
    first.save("repl-a", ConversationState(turns=1))
    state_a, version_a = first.load_versioned("repl-a")
    state_b, version_b = second.load_versioned("repl-a")
    first.save("repl-a", state_a.model_copy(update={"turns": 2}), version_a)
    with pytest.raises(StaleConversation):
        second.save("repl-a", state_b.model_copy(update={"turns": 5}), version_b)
    assert second.load("repl-a").turns == 2
    fresh, version = second.load_versioned("repl-a")
    second.save("repl-a", fresh.model_copy(update={"turns": 3}), version)  # retried: fine
    assert first.load("repl-a").turns == 3
    with pytest.raises(StaleConversation):  # two first saves of a new chat: one wins
        first.save("new", ConversationState(turns=1), 0)
        second.save("new", ConversationState(turns=9), 0)


def test_an_old_database_is_migrated_and_keeps_its_conversations(tmp_path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as old:  # the schema before versions and the inbox
        old.execute(
            "CREATE TABLE conversations (chat_id TEXT PRIMARY KEY, state TEXT NOT NULL,"
            " updated_at REAL NOT NULL)"
        )
        old.execute(
            "INSERT INTO conversations VALUES ('telegram:1', ?, 0)",
            (ConversationState(turns=4).model_dump_json(),),
        )
    store = ConversationStore(path)
    assert store.load_versioned("telegram:1") == (ConversationState(turns=4), 1)
    assert Inbox(store).waiting() == 0
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(SQLITE_MIGRATIONS)


def test_the_inbox_keeps_updates_until_done_then_only_their_ids(state_location):
    store = ConversationStore(state_location)
    inbox = Inbox(store)
    assert inbox.accept(11, "7", {"update_id": 11, "text": "second chat"})
    assert inbox.accept(10, "5", {"update_id": 10, "text": "first"})
    assert inbox.accept(12, "5", {"update_id": 12, "text": "then"})
    assert not inbox.accept(10, "5", {"update_id": 10, "text": "first"})  # a redelivery
    assert inbox.waiting_chats() == ["5", "7"]
    assert inbox.next_for("5").payload["text"] == "first"
    reply = {"triage": "self_care", "messages": ["a", "b"], "keyboard": None}
    inbox.save_turn("telegram:5", ConversationState(turns=1), 0, 10, reply)
    assert inbox.get(10).reply == reply and store.load("telegram:5").turns == 1
    inbox.part_sent(10, 1, last=False)
    assert inbox.get(10).parts_sent == 1
    inbox.part_sent(10, 2, last=True)
    assert inbox.get(10) is None and inbox.next_for("5").update_id == 12
    assert not inbox.accept(10, "5", {"update_id": 10, "text": "first"})  # still known
    rows = store.database.query("SELECT payload, reply FROM inbox WHERE update_id = 10")
    assert rows == [(None, None)]  # the text and the reply are gone, the id is kept


def test_a_turn_and_its_reply_are_saved_together_or_not_at_all(state_location):
    store = ConversationStore(state_location)
    inbox = Inbox(store)
    inbox.accept(1, "5", {"update_id": 1})
    store.save("telegram:5", ConversationState(turns=1))
    with pytest.raises(StaleConversation):  # version 0 is stale: the chat has a row
        inbox.save_turn("telegram:5", ConversationState(turns=2), 0, 1, {"messages": ["x"]})
    assert inbox.get(1).reply is None and store.load("telegram:5").turns == 1


def test_a_chat_lease_is_held_by_one_replica_until_released_or_expired(postgres_url):
    store = ConversationStore(postgres_url)
    first, second = Inbox(store, lease_seconds=0.5), Inbox(store, lease_seconds=0.5)
    assert first.take("5") and first.take("5")  # taken, then renewed
    assert not second.take("5")
    first.release("5")
    assert second.take("5")
    time.sleep(0.6)  # the second replica died holding it
    assert first.take("5")


def test_a_postgres_schema_is_migrated_once_by_replicas_starting_together(postgres_url):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: ConversationStore(postgres_url), range(4)))
    assert stores[0].database.query("SELECT version FROM schema_version") == [
        (len(POSTGRES_MIGRATIONS),)
    ]
    stores[1].save("telegram:1", ConversationState(turns=2))
    assert stores[3].load_versioned("telegram:1") == (ConversationState(turns=2), 1)
