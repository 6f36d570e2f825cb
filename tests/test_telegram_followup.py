"""Guided questions, rating buttons and the check-in through the real Telegram front end."""

import asyncio
import time

from bot.database import open_database
from tests.test_telegram import CHAT, running

NO_RED_FLAGS = ["No", "Yes", "No", "No", "No"]


def buttons(sent, row=0):
    return {b["text"]: b["callback_data"] for b in sent["reply_markup"]["inline_keyboard"][row]}


async def press(api, sent, label, count, row=0):
    """Press a button of a sent message; wait for the `count`-th message to the chat."""
    api.push_callback(CHAT, sent["message_id"], buttons(sent, row)[label])
    return (await api.wait_for_sent_async(CHAT, count=count))[-1]


def test_an_answer_is_rated_and_the_rating_is_stored(api, telegram_settings, runtime):
    settings = telegram_settings

    async def scenario():
        async with running(settings, runtime) as store:
            api.push_message(CHAT, "what is bursitis?")
            (answer,) = await api.wait_for_sent_async(CHAT)
            assert list(buttons(answer)) == ["👍 Helpful", "👎 Not helpful"]
            thanks = await press(api, answer, "👎 Not helpful", 2)
            rows = store.database.query("SELECT chat, helpful, passages FROM feedback")
            return answer, thanks, rows

    answer, thanks, rows = asyncio.run(scenario())
    assert "Thanks, noted" in thanks["message"]["text"]
    assert "reply_markup" not in api.message(CHAT, answer["message_id"])  # the row is gone
    ((chat, helpful, passages),) = rows
    assert chat == f"telegram:{CHAT}" and helpful == 0 and "bursitis" in passages
    assert not api.failures


def test_guided_questions_and_a_check_in_sent_by_the_job_queue(api, telegram_settings, runtime):
    settings = telegram_settings.model_copy(
        update={"checkin_days": 1.0 / 86_400, "checkin_poll_seconds": 0.2}  # one second
    )

    async def scenario():
        async with running(settings, runtime) as store:
            api.push_message(CHAT, "my hip hurts after running, what do i do?")
            (sent,) = await api.wait_for_sent_async(CHAT)
            for count, answer in enumerate(NO_RED_FLAGS, 2):
                sent = await press(api, sent, answer, count)
            where = sent
            when = await press(api, where, "Outside of the hip", 7)
            guided = await press(api, when, "After runs", 8)
            scheduled = await press(api, guided, "Yes, check in", 9)
            asked = (await api.wait_for_sent_async(CHAT, count=10, timeout=15))[-1]
            referral = await press(api, asked, "Not better", 11)
            rows = store.database.query("SELECT outcome, sent_by FROM checkins")
            return where, when, guided, scheduled, asked, referral, rows

    where, when, guided, scheduled, asked, referral, rows = asyncio.run(scenario())
    assert "Where does it hurt most?" in where["message"]["text"]
    assert "When does it hurt?" in when["message"]["text"]
    text = guided["message"]["text"]
    assert "For pain on the outside of the hip after runs" in text and "Sources:" in text
    assert list(buttons(guided)) == ["Yes, check in", "No thanks"]
    assert list(buttons(guided, row=1)) == ["👍 Helpful", "👎 Not helpful"]
    assert "I'll ask whether your hip has improved" in scheduled["message"]["text"]
    assert "has your hip pain improved" in asked["message"]["text"]
    assert "doctor" in referral["message"]["text"].lower()
    ((outcome, sent_by),) = rows
    assert outcome == "same" and sent_by
    assert not api.failures


def test_a_check_in_due_while_down_is_sent_after_a_restart(api, telegram_settings, runtime):
    settings = telegram_settings.model_copy(update={"checkin_poll_seconds": 0.2})

    async def first_run():
        async with running(settings, runtime):
            api.push_message(CHAT, "the outside of my hip hurts after runs")
            (sent,) = await api.wait_for_sent_async(CHAT)
            for count, answer in enumerate(NO_RED_FLAGS, 2):
                sent = await press(api, sent, answer, count)
            await press(api, sent, "Yes, check in", 7)

    asyncio.run(first_run())
    database = open_database(settings.state_db)
    with database.transaction() as connection:  # fourteen days pass while the bot is down
        connection.execute("UPDATE checkins SET due_at = ?", (time.time() - 1,))
    database.close()

    async def second_run():
        async with running(settings, runtime):
            return (await api.wait_for_sent_async(CHAT, count=8, timeout=15))[-1]

    asked = asyncio.run(second_run())
    assert "has your hip pain improved" in asked["message"]["text"]
    assert len([m for m in api.sent if "has your hip pain" in m["message"]["text"]]) == 1
