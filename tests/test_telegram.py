"""The real telegram.ext.Application against a real HTTP Bot API server on loopback."""

import asyncio
import logging
import socket
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from bot.channels.telegram import (
    ALREADY_ANSWERED,
    NOT_TEXT,
    SLOW_DOWN,
    TelegramFrontEnd,
)
from bot.channels.telegram_render import render_html
from bot.channels.telegram_run import _check_connection, serving
from bot.dialogue import Reply, Segment
from bot.errors import ConfigError, HipbotError
from bot.store import ConversationStore, FloodCounter

CHAT = 4242
GROUP = -100777


@pytest.fixture
def settings(telegram_settings):
    return telegram_settings


@asynccontextmanager
async def running(settings, runtime, *, webhook_port=None, secret=None):
    """Run the bot as `hipbot telegram` does (polling, or a webhook) until the block ends."""
    if webhook_port:
        settings = settings.model_copy(
            update={
                "telegram_mode": "webhook",
                "webhook_listen": "127.0.0.1",
                "webhook_port": webhook_port,
                "webhook_url": f"http://127.0.0.1:{webhook_port}",
                "webhook_secret": SecretStr(secret) if secret else None,
            }
        )
    store = ConversationStore(settings.state_db)
    try:
        async with serving(settings, runtime, store):
            yield store
    finally:
        store.close()


def sent_texts(api, chat_id=CHAT):
    return [message["message"]["text"] for message in api.sent if message["chat_id"] == chat_id]


def test_commands_are_registered(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            pass

    asyncio.run(scenario())
    from bot.dialogue.intents import phrase_tables

    expected = [c.name for c in phrase_tables().commands if c.only != "terminal"]
    assert [c["command"] for c in api.commands] == expected
    assert "quit" not in expected and {"help", "forget", "reset"} <= set(expected)


def test_a_conversation_with_buttons(api, settings, runtime):
    settings = settings.model_copy(update={"telegram_typing_delay": 0.0})

    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "my hip hurts after running")
            (first,) = await api.wait_for_sent_async(CHAT)
            buttons = first["reply_markup"]["inline_keyboard"][0]
            assert [b["text"] for b in buttons] == ["Yes", "No", "Not sure", "Skip"]
            api.push_callback(CHAT, first["message_id"], buttons[1]["callback_data"])
            second = (await api.wait_for_sent_async(CHAT, count=2))[1]
            yes = second["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            api.push_callback(CHAT, second["message_id"], yes)
            return await api.wait_for_sent_async(CHAT, count=3)

    first, second, third = asyncio.run(scenario())
    assert first["parse_mode"] == "HTML"
    assert "safety questions" in first["message"]["text"]
    assert "Sources:" in first["message"]["text"]
    assert "full weight" in second["message"]["text"]
    assert "fever" in third["message"]["text"]
    assert "reply_markup" not in api.message(CHAT, first["message_id"])
    assert len(api.calls_to("answerCallbackQuery")) == 2
    assert any(call["action"] == "typing" for call in api.calls_to("sendChatAction"))
    assert not api.failures


def test_a_double_tap_or_an_old_keyboard_answers_nothing_new(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "my hip hurts after running")
            (first,) = await api.wait_for_sent_async(CHAT)
            no = first["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
            api.push_callback(CHAT, first["message_id"], no)  # pressed twice, at once
            api.push_callback(CHAT, first["message_id"], no)
            sent = await api.wait_for_sent_async(CHAT, count=2)
            await asyncio.sleep(0.5)  # time for a wrong third reply to show up
            return sent, [m for m in api.sent if m["chat_id"] == CHAT]

    (first, second), everything = asyncio.run(scenario())
    assert "No" in first["reply_markup"]["inline_keyboard"][0][1]["text"]
    assert "|" in first["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    assert "full weight" in second["message"]["text"]  # the first press: the next question
    assert len(everything) == 2  # the second press answered nothing
    answers = [call.get("text") for call in api.calls_to("answerCallbackQuery")]
    assert sorted(answers, key=str) == sorted([None, ALREADY_ANSWERED], key=str)


def test_red_flags_stand_out_and_stick(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "I fell on the ice and can't get up")
            await api.wait_for_sent_async(CHAT)
            api.push_message(CHAT, "what stretches help?")
            return await api.wait_for_sent_async(CHAT, count=2)

    first, second = asyncio.run(scenario())
    assert first["message"]["text"].startswith("🚨 Call 999")
    assert first["text"].startswith("<b>🚨 Call 999")
    assert "A&amp;E" in first["text"]  # escaped, and the server parsed it without complaint
    bold = [e for e in first["message"]["entities"] if e["type"] == "bold"]
    assert bold and bold[0]["offset"] == 0
    assert "Earlier you told me about" in second["message"]["text"]
    assert not api.failures


def test_a_restart_in_the_middle_of_a_conversation_continues_it(api, settings, runtime):
    async def first_run():
        async with running(settings, runtime):
            api.push_message(CHAT, "my hip hurts after running")
            (question,) = await api.wait_for_sent_async(CHAT)
            yes = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            api.push_callback(CHAT, question["message_id"], yes)
            await api.wait_for_sent_async(CHAT, count=2)

    async def second_run():
        async with running(settings, runtime):
            api.push_message(CHAT, "No")
            return (await api.wait_for_sent_async(CHAT, count=3))[2]

    asyncio.run(first_run())
    after_restart = asyncio.run(second_run())
    assert after_restart["message"]["text"].startswith("🚨 Call 999")


def test_forget_deletes_what_is_stored(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime) as store:
            api.push_message(CHAT, "I'm on warfarin, what is bursitis?")
            await api.wait_for_sent_async(CHAT)
            assert store.load(f"telegram:{CHAT}").turns == 1
            assert store.load(f"telegram:{CHAT}").facts.blood_thinner
            api.push_message(CHAT, "/forget")
            await api.wait_for_sent_async(CHAT, count=2)
            api.push_message(CHAT, "/forget")
            await api.wait_for_sent_async(CHAT, count=3)
            return store.load(f"telegram:{CHAT}").turns

    turns = asyncio.run(scenario())
    texts = sent_texts(api)
    assert turns == 0
    assert texts[1].startswith("Done: I deleted everything I had stored about this chat")
    assert "blood thinner" in texts[1]
    assert texts[2].startswith("There was nothing stored")


def test_chats_are_isolated(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "I fell and can't get up")
            api.push_message(CHAT + 1, "what is a hip pointer?")
            await api.wait_for_sent_async(CHAT)
            return (await api.wait_for_sent_async(CHAT + 1))[0]

    other = asyncio.run(scenario())
    assert "iliac crest" in other["message"]["text"]
    assert "Call 999" not in other["message"]["text"]


def test_in_groups_the_bot_answers_only_mentions_replies_and_commands(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_message(GROUP, "anyone fancy a run later?", chat_type="group", user_id=1)
            api.push_message(
                GROUP, "@hipbot_test_bot what is a hip pointer?", chat_type="group", user_id=1
            )
            (answer,) = await api.wait_for_sent_async(GROUP)
            api.push_message(
                GROUP,
                "and how do I treat it?",
                chat_type="group",
                user_id=1,
                reply_to_message=answer["message_id"],
            )
            api.push_message(GROUP, "/help@hipbot_test_bot", chat_type="group", user_id=2)
            return await api.wait_for_sent_async(GROUP, count=3)

    answer, *later = [reply["message"]["text"] for reply in asyncio.run(scenario())]
    assert "iliac crest" in answer
    # Two members, two conversations: their replies may come in either order.
    assert sum("Commands:" in text for text in later) == 1
    assert sum("Injections" in text for text in later) == 1  # "treat it" followed the topic
    assert len(sent_texts(api, GROUP)) == 3  # the chatter was ignored


def test_webhook_mode_checks_the_secret(api, settings, runtime):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        async with running(settings, runtime, webhook_port=port, secret="s3cret-Token_1"):
            rejected = api.make_update_message(CHAT, "I fell and can't get up")
            wrong = await asyncio.to_thread(api.post_to_webhook, rejected, secret_token="nope")
            garbled = {"update_id": 10**9, "message": 42}  # a shape nobody can read
            skipped = await asyncio.to_thread(api.post_to_webhook, garbled)
            update = api.make_update_message(CHAT, "what is a hip pointer?")
            right = await asyncio.to_thread(api.post_to_webhook, update)
            replies = await api.wait_for_sent_async(CHAT)
            return wrong, skipped, right, replies

    wrong, skipped, right, replies = asyncio.run(scenario())
    assert (wrong, skipped, right) == (403, 200, 200)  # stored and set aside, not retried
    assert len(replies) == 1 and "iliac crest" in replies[0]["message"]["text"]
    assert api.webhook_info["url"] == f"http://127.0.0.1:{port}/telegram"


def test_media_and_edits_get_polite_answers(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_media(CHAT, "photo")
            api.push_media(CHAT, "sticker")
            await api.wait_for_sent_async(CHAT, count=2)
            message = api.push_message(CHAT, "what is a hip pointer?")
            await api.wait_for_sent_async(CHAT, count=3)
            api.push_edited_message(
                CHAT, message["message"]["message_id"], "I fell and now I can't stand up"
            )
            return await api.wait_for_sent_async(CHAT, count=4)

    replies = asyncio.run(scenario())
    assert [r["message"]["text"] for r in replies[:2]] == [NOT_TEXT, NOT_TEXT]
    edited = replies[3]["message"]["text"]
    assert "Call 999" in edited.splitlines()[0]  # the referral first, the note after it
    assert "(You edited a message" in edited


def test_a_caption_is_screened_and_the_referral_comes_before_any_note(api, settings, runtime):
    async def scenario():
        async with running(settings, runtime):
            api.push_media(
                CHAT, "photo", caption="fell on the ice and can't put any weight on my leg"
            )
            await api.wait_for_sent_async(CHAT, count=1)
            message = api.push_message(CHAT, "what is a hip pointer?")
            await api.wait_for_sent_async(CHAT, count=2)
            api.push_edited_message(
                CHAT, message["message"]["message_id"], "what is a hip pointer? I fell"
            )
            return await api.wait_for_sent_async(CHAT, count=3)

    replies = [r["message"]["text"] for r in asyncio.run(scenario())]
    assert "Call 999" in replies[0].splitlines()[0] and "I've read your caption" in replies[0]
    assert replies[0] != NOT_TEXT
    assert "Call 999" in replies[2].splitlines()[0]  # it sticks; the note follows it
    assert replies[2].index("Call 999") < replies[2].index("(You edited a message")


def test_a_server_without_a_command_menu_is_one_warning_and_the_bot_still_answers(
    api, settings, runtime, caplog
):
    api.fail_next("setMyCommands", error_code=404, description="Not Found: method not found")

    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "/sources what is this")
            return await api.wait_for_sent_async(CHAT, count=1)

    with caplog.at_level(logging.WARNING, logger="hipbot.telegram"):
        replies = asyncio.run(scenario())
    warnings = [r for r in caplog.records if "command menu" in r.getMessage()]
    assert len(warnings) == 1 and "Traceback" not in caplog.text
    # "/sources <anything>" is the sources command, not a question to search.
    assert "haven't quoted any article" in replies[0]["message"]["text"]


def test_flood_control_throttles_but_never_a_red_flag(api, settings, runtime):
    limited = settings.model_copy(update={"flood_messages_per_minute": 3})

    async def scenario():
        async with running(limited, runtime):
            for number in range(5):
                api.push_message(CHAT, f"what is a hip pointer? ({number})")
            await api.wait_for_sent_async(CHAT, count=4)
            api.push_message(CHAT, "I fell and can't get up")
            return await api.wait_for_sent_async(
                lambda sent: "Call 999" in sent["message"]["text"], count=1
            )

    asyncio.run(scenario())
    texts = sent_texts(api)
    assert texts.count(SLOW_DOWN) == 1
    assert sum("iliac crest" in text for text in texts) == 3


def test_errors_get_a_safe_reply_and_logs_hold_no_text_or_token(api, settings, runtime, caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with running(settings, runtime):
            api.push_message(CHAT, "my hip is hot and swollen and I have a fever")
            await api.wait_for_sent_async(CHAT)
            api.fail_next("sendMessage", 400, "Bad Request: something broke")
            api.push_message(CHAT, "secret words about my groin")
            return await api.wait_for_sent_async(CHAT, count=2)

    _, fallback = asyncio.run(scenario())
    assert fallback["message"]["text"].startswith("Sorry, something went wrong")
    assert "call 999" in fallback["message"]["text"].lower()
    assert "update" in caplog.text and "failed in chat" in caplog.text
    assert "secret words" not in caplog.text
    assert "hot and swollen" not in caplog.text
    assert api.token not in caplog.text


def test_a_rejected_or_missing_token_is_one_clear_line(api, settings, runtime):
    wrong = settings.model_copy(update={"telegram_token": SecretStr("999:wrong-token")})
    store = ConversationStore(settings.state_db)
    application = TelegramFrontEnd(wrong, runtime, store).build()
    with pytest.raises(HipbotError, match="Telegram rejected the token"):
        asyncio.run(_check_connection(application))
    missing = settings.model_copy(update={"telegram_token": None})
    with pytest.raises(ConfigError, match="HIPBOT_TELEGRAM_TOKEN"):
        TelegramFrontEnd(missing, runtime, store).build()
    store.close()


def test_long_replies_are_split_at_sentence_boundaries():
    sentence = "Rest & <stretch> gently for a few days before running again. "
    reply = Reply(segments=(Segment("answer", sentence * 150), Segment("urgent", "Get seen.")))
    messages = render_html(reply)
    assert len(messages) >= 3
    assert all(len(message) <= 4096 for message in messages)
    assert all(message.rstrip().endswith((".", "</b>")) for message in messages)
    assert "&amp; &lt;stretch&gt;" in messages[0]
    assert messages[-1].endswith("<b>⚠️ Get seen.</b>")


def test_flood_counts_per_user_and_minute(tmp_path):
    database = ConversationStore(tmp_path / "state.sqlite3").database
    counter, other_replica = FloodCounter(database, limit=2), FloodCounter(database, limit=2)
    assert [counter.allow(1, now) for now in (0, 1)] == [True, True]
    assert other_replica.allow(1, 2) is False  # one count, whichever replica is asked
    assert counter.allow(2, 2) is True
    assert counter.allow(1, 70) is True  # a new minute
    assert database.query("SELECT COUNT(*) FROM flood WHERE user_id = '1'") == [(1,)]
