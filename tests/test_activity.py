"""The activity log and the check-in schedule, on SQLite and on PostgreSQL."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.activity import ActivityLog
from bot.checkins import DAY_SECONDS, CheckIns
from bot.database import open_database
from bot.dialogue import ConversationState
from bot.store import ConversationStore

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def dialogue(runtime):
    return runtime.dialogue


def play(dialogue, *messages):
    state, turns = ConversationState(), []
    for message in messages:
        turn = dialogue.respond(state, message)
        turns.append((message, turn.reply))
        state = turn.state
    return turns


def log_for(location, settings, **changes):
    database = ConversationStore(location).database
    return ActivityLog(database, settings.model_copy(update=changes), lambda text: [0.5] * 384)


def test_a_turn_is_recorded_without_its_text_by_default(state_location, seed_settings, dialogue):
    log = log_for(state_location, seed_settings)
    for message, reply in play(dialogue, "how do i bake bread?", "what is bursitis?", "/bad"):
        log.after_turn("repl-a", "repl-a", message, reply, NOW)
    rows = log.database.query(
        "SELECT triage, covered, declined, passages, question, embedding FROM activity ORDER BY id"
    )
    assert [row[1:3] for row in rows] == [(0, 1), (1, 0), (0, 0)]
    assert json.loads(rows[1][3])[0].endswith("bursitis")
    assert all(row[4] is None for row in rows)  # no text stored unless asked for
    assert rows[0][5] is not None and rows[1][5] is None  # the declined question's embedding
    ((helpful, passages),) = log.database.query("SELECT helpful, passages FROM feedback")
    assert helpful == 0 and json.loads(passages) == json.loads(rows[1][3])


def test_question_text_is_kept_only_when_asked_for_and_only_for_its_retention(
    tmp_path, seed_settings, dialogue
):
    log = log_for(tmp_path / "db.sqlite3", seed_settings, store_question_text=True)
    ((message, reply),) = play(dialogue, "what is bursitis?")
    log.after_turn("repl-a", "repl-a", message, reply, NOW)
    assert log.database.query("SELECT question FROM activity") == [("what is bursitis?",)]
    log.purge(NOW + 31 * DAY_SECONDS)  # the default retention is 30 days
    assert log.database.query("SELECT question, embedding FROM activity") == [(None, None)]
    log.purge(NOW + 366 * DAY_SECONDS)  # whole rows go after a year
    assert log.database.query("SELECT count(*) FROM activity") == [(0,)]


def test_an_accepted_check_in_is_scheduled_then_closed_by_its_answer(
    state_location, seed_settings, dialogue
):
    log = log_for(state_location, seed_settings)
    turns = play(
        dialogue, "the outside of my hip hurts when i run", "no", "yes", "no", "no", "no", "yes"
    )
    for message, reply in turns:
        log.after_turn("telegram:7", "7", message, reply, NOW)
    assert log.checkins.claim_due("replica", NOW + 13 * DAY_SECONDS) == []
    (due,) = log.checkins.claim_due("replica", NOW + 14 * DAY_SECONDS + 1)
    assert (due.chat, due.address) == ("telegram:7", "7")
    accepted = turns[-1][1]
    asked = dialogue.check_in(ConversationState(checkin="scheduled"))
    answer = dialogue.respond(asked.state, "worse")
    log.after_turn("telegram:7", "7", "worse", answer.reply, NOW + 15 * DAY_SECONDS)
    assert log.database.query("SELECT outcome, sent_by FROM checkins") == [("worse", "replica")]
    assert accepted.record.checkin == "accepted"


def test_forget_deletes_a_chats_activity_feedback_and_check_ins(state_location, seed_settings):
    log = log_for(state_location, seed_settings)
    log.checkins.schedule("telegram:1", "1", 14, NOW)
    log.checkins.schedule("telegram:2", "2", 14, NOW)
    log.forget("telegram:1")
    assert log.database.query("SELECT chat FROM checkins") == [("telegram:2",)]


def test_each_due_check_in_is_claimed_by_one_replica_once(postgres_url):
    schedule = CheckIns(open_database(postgres_url))
    for number in range(60):
        schedule.schedule(f"telegram:{number}", str(number), 0, NOW)
    replicas = [CheckIns(open_database(postgres_url)) for _ in range(3)]

    def claim_all(replica_number):
        claimed = []
        while batch := replicas[replica_number].claim_due(f"r{replica_number}", NOW + 1):
            claimed += [checkin.chat for checkin in batch]
        return claimed

    with ThreadPoolExecutor(3) as pool:
        claims = [chat for batch in pool.map(claim_all, range(3)) for chat in batch]
    assert sorted(claims) == sorted(f"telegram:{n}" for n in range(60))  # all, once each


def test_a_released_check_in_is_claimed_again_and_a_new_one_replaces_the_old(tmp_path):
    schedule = CheckIns(open_database(tmp_path / "db.sqlite3"))
    schedule.schedule("repl-a", "repl-a", 1, NOW)
    (due,) = schedule.claim_due("me", NOW + DAY_SECONDS)
    schedule.release(due)
    assert [c.chat for c in schedule.claim_due("me", NOW + DAY_SECONDS)] == ["repl-a"]
    schedule.schedule("repl-b", "repl-b", 1, NOW)
    schedule.schedule("repl-b", "repl-b", 2, NOW)
    assert schedule.claim_due("me", NOW + DAY_SECONDS + 1) == []
    assert [c.chat for c in schedule.claim_due("me", NOW + 2 * DAY_SECONDS)] == ["repl-b"]
