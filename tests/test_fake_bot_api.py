"""The fake Bot API server, exercised by the real python-telegram-bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from tests.fake_bot_api import FakeBotAPI, parse_html

CHAT = 5551001


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


def make_bot(api: FakeBotAPI, token: str | None = None) -> Bot:
    return Bot(token or api.token, base_url=api.base_url, base_file_url=api.base_file_url)


def raw_call(api: FakeBotAPI, path: str, fields: dict | None = None) -> tuple[int, dict]:
    """POST form fields with urllib, bypassing PTB, and return (status, decoded JSON)."""
    data = urllib.parse.urlencode(fields or {}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{api.port}{path}", data=data)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_get_me_describes_the_bot(api):
    async def scenario():
        async with make_bot(api) as bot:  # initialize() itself calls getMe
            return await bot.get_me()

    me = asyncio.run(scenario())
    assert (me.id, me.username, me.first_name, me.is_bot) == (
        123456,
        "hipbot_test_bot",
        "hipbot",
        True,
    )
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False
    assert [call.method for call in api.calls] == ["getMe", "getMe"]


def test_send_message_records_html_and_keyboard(api):
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="yes"),
                InlineKeyboardButton("No", callback_data="no"),
            ]
        ]
    )

    async def scenario():
        async with make_bot(api) as bot:
            first = await bot.send_message(
                CHAT,
                "<b>Rest</b> &amp; ice, 🏃 <i>then</i> run",
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
            second = await bot.send_message(CHAT, "plain")
            return first, second

    first, second = asyncio.run(scenario())
    assert first.text == "Rest & ice, 🏃 then run"
    # offsets are in UTF-16 code units, where 🏃 counts 2
    assert [(e.type, e.offset, e.length) for e in first.entities] == [
        ("bold", 0, 4),
        ("italic", 15, 4),
    ]
    assert first.reply_markup == keyboard
    assert first.from_user.id == 123456 and first.chat.id == CHAT and first.chat.type == "private"
    assert second.message_id == first.message_id + 1

    sent = api.sent
    assert [s["message_id"] for s in sent] == [first.message_id, second.message_id]
    assert sent[0]["chat_id"] == CHAT
    assert sent[0]["parse_mode"] == "HTML"
    assert sent[0]["text"] == "<b>Rest</b> &amp; ice, 🏃 <i>then</i> run"
    assert sent[0]["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]
        ]
    }
    assert "reply_markup" not in sent[1] and "parse_mode" not in sent[1]
    assert sent[0]["time"] <= sent[1]["time"]
    assert api.wait_for_sent(CHAT, count=2, timeout=0.1) == sent


def test_telegram_rejections_are_reproduced(api):
    async def scenario():
        async with make_bot(api) as bot:
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(CHAT, "pain < 3 days", parse_mode=ParseMode.HTML)
            with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
                await bot.send_message(CHAT, "line<br>line", parse_mode=ParseMode.HTML)
            with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
                too_long = InlineKeyboardButton("x", callback_data="é" * 64)  # 128 bytes
                await bot.send_message(CHAT, "hi", reply_markup=InlineKeyboardMarkup([[too_long]]))
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(CHAT, "a" * 4097)
            with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
                await bot.send_message(CHAT, "hi", reply_to_message_id=999)

    asyncio.run(scenario())
    assert api.sent == []
    assert len(api.failures) == 5


def test_parse_html_entities_and_trimming():
    text, entities = parse_html(
        '<a href="https://x.org">x</a> <pre><code class="language-py">p</code></pre>'
    )
    assert text == "x p"
    assert entities == [
        {"type": "text_link", "offset": 0, "length": 1, "url": "https://x.org"},
        {"type": "pre", "offset": 2, "length": 1, "language": "py"},
    ]


def test_commands_webhook_and_chat_action(api):
    async def scenario():
        async with make_bot(api) as bot:
            assert await bot.set_my_commands(
                [BotCommand("start", "Begin"), BotCommand("forget", "Erase")]
            )
            commands = await bot.get_my_commands()
            assert await bot.send_chat_action(CHAT, ChatAction.TYPING)
            assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cret_T0ken")
            info = await bot.get_webhook_info()
            with pytest.raises(Conflict):
                await bot.get_updates()
            assert await bot.delete_webhook(drop_pending_updates=True)
            emptied = await bot.get_updates()
            assert await bot.delete_my_commands()
            return commands, info, emptied

    api.push_message(CHAT, "queued while the webhook was set")
    commands, info, emptied = asyncio.run(scenario())
    assert [(c.command, c.description) for c in commands] == [
        ("start", "Begin"),
        ("forget", "Erase"),
    ]
    assert info.url == "http://127.0.0.1:9/hook" and info.pending_update_count == 1
    assert emptied == ()
    assert api.commands == []
    assert api.calls_to("setMyCommands")[0]["commands"] == [
        {"command": "start", "description": "Begin"},
        {"command": "forget", "description": "Erase"},
    ]
    assert api.calls_to("sendChatAction") == [{"chat_id": CHAT, "action": "typing"}]
    assert api.calls_to("setWebhook")[0]["secret_token"] == "s3cret_T0ken"
    assert api.webhook_info == {"url": ""}


def test_certificate_upload_arrives_as_multipart(api):
    async def scenario():
        async with make_bot(api) as bot:
            certificate = InputFile(b"-----BEGIN CERT-----\r\n\x00\xff", filename="cert.pem")
            await bot.set_webhook(
                "http://127.0.0.1:9/hook", certificate=certificate, max_connections=5
            )

    asyncio.run(scenario())
    params = api.calls_to("setWebhook")[0]
    assert params["url"] == "http://127.0.0.1:9/hook" and params["max_connections"] == 5
    assert params["certificate"]["filename"] == "cert.pem"
    assert params["certificate"]["data"] == b"-----BEGIN CERT-----\r\n\x00\xff"
    assert api.webhook_info["has_custom_certificate"] is True


def test_callback_answer_and_edit(api):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more")]])

    async def scenario():
        async with make_bot(api) as bot:
            sent = await bot.send_message(CHAT, "Ice it.", reply_markup=keyboard)
            pushed = api.push_callback(CHAT, sent.message_id, "more")
            (update,) = await bot.get_updates()
            query = update.callback_query
            assert update.update_id == pushed["update_id"]
            assert (query.data, query.from_user.id, query.message.message_id) == (
                "more",
                CHAT,
                sent.message_id,
            )
            assert query.message.from_user.id == 123456 and query.message.text == "Ice it."
            assert await bot.answer_callback_query(query.id, text="Noted")
            edited = await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=None)
            with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
                await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=None)
            retexted = await bot.edit_message_text(
                "Ice it, <b>then</b> rest.", CHAT, sent.message_id, parse_mode=ParseMode.HTML
            )
            with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
                await bot.answer_callback_query("12345")
            return edited, retexted

    edited, retexted = asyncio.run(scenario())
    assert edited.reply_markup is None and edited.edit_date is not None
    assert retexted.text == "Ice it, then rest." and retexted.entities[0].type == "bold"
    assert api.calls_to("answerCallbackQuery")[0]["text"] == "Noted"
    assert api.calls_to("editMessageReplyMarkup")[0] == {
        "chat_id": CHAT,
        "message_id": edited.message_id,
    }
    assert "reply_markup" not in api.message(CHAT, edited.message_id)
    with pytest.raises(ValueError, match="no button"):
        api.push_callback(CHAT, edited.message_id, "more")  # the button is gone


def test_get_updates_offset_semantics(api):
    ids = [api.push_message(CHAT, f"m{n}")["update_id"] for n in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4

    async def scenario():
        async with make_bot(api) as bot:
            everything = await bot.get_updates()
            again = await bot.get_updates()
            limited = await bot.get_updates(offset=ids[1], limit=2)
            after_confirm = await bot.get_updates()
            last = await bot.get_updates(offset=-1)
            none = await bot.get_updates(offset=ids[-1] + 1)
            return everything, again, limited, after_confirm, last, none

    everything, again, limited, after_confirm, last, none = asyncio.run(scenario())
    assert [u.update_id for u in everything] == ids == [u.update_id for u in again]
    assert [u.message.text for u in everything] == ["m0", "m1", "m2", "m3"]
    assert [u.update_id for u in limited] == ids[1:3]
    assert [u.update_id for u in after_confirm] == ids[1:]  # ids[0] was confirmed by the offset
    assert [u.update_id for u in last] == ids[-1:]
    assert none == () and api.pending_updates == []
    message = everything[0].message
    assert (message.chat.id, message.from_user.id, message.from_user.is_bot) == (CHAT, CHAT, False)
    assert message.from_user.first_name == "Runner" and message.message_id == 1


def test_long_poll_wakes_early_and_times_out(api):
    async def scenario():
        async with make_bot(api) as bot:
            started = time.monotonic()
            empty = await bot.get_updates(timeout=1)
            waited = time.monotonic() - started

            async def push_soon():
                await asyncio.sleep(0.2)
                api.push_message(CHAT, "wake up")

            started = time.monotonic()
            updates, _ = await asyncio.gather(bot.get_updates(timeout=8), push_soon())
            return empty, waited, updates, time.monotonic() - started

    empty, waited, updates, woke = asyncio.run(scenario())
    assert empty == () and 0.9 <= waited < 2.5
    assert [u.message.text for u in updates] == ["wake up"] and woke < 1.5


def test_many_concurrent_long_polls_and_pushes(api):
    results: list[tuple[int, dict]] = []

    def poll():
        results.append(raw_call(api, f"/bot{api.token}/getUpdates", {"timeout": "8"}))

    def push_many(n: int) -> None:
        for i in range(50):
            api.push_message(CHAT + n, f"{n}.{i}")

    pollers = [threading.Thread(target=poll) for _ in range(40)]
    pushers = [threading.Thread(target=push_many, args=(n,)) for n in range(4)]
    for thread in pollers:
        thread.start()
    api.wait_for_call("getUpdates", count=40, timeout=5)
    started = time.monotonic()
    for thread in pushers:
        thread.start()
    for thread in pushers + pollers:
        thread.join(timeout=10)
    assert time.monotonic() - started < 3
    assert len(results) == 40 and all(status == 200 and body["result"] for status, body in results)
    queued = api.pending_updates
    assert len(queued) == 200 and len({u["update_id"] for u in queued}) == 200
    for n in range(4):  # message ids grow per chat
        assert [
            u["message"]["message_id"] for u in queued if u["message"]["chat"]["id"] == CHAT + n
        ] == list(range(1, 51))


def test_wrong_token_and_unknown_method(api):
    async def scenario():
        with pytest.raises(InvalidToken):
            async with make_bot(api, token="999:wrong") as bot:
                await bot.get_me()

    asyncio.run(scenario())
    assert raw_call(api, "/bot999:wrong/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_call(api, f"/bot{api.token}/sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert raw_call(api, f"/bot{api.token}/getme")[1]["result"]["id"] == 123456  # case-insensitive
    assert api.calls[0].method == "sendTelepathy"


def test_injected_failures(api, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else PTB 22 warns when it builds RetryAfter
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    api.fail_next("sendMessage", retry_after=7)

    async def scenario():
        async with make_bot(api) as bot:
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(CHAT, "one")
            with pytest.raises(RetryAfter, match="Retry in 0:00:07"):
                await bot.send_message(CHAT, "two")
            await bot.send_message(CHAT, "three")

    asyncio.run(scenario())
    assert [s["text"] for s in api.sent] == ["three"]


def test_file_download(api):
    stored = api.add_file(b"%PDF-1.4 tiny", file_path="documents/plan.pdf")

    async def scenario():
        async with make_bot(api) as bot:
            file = await bot.get_file(stored["file_id"])
            return file, bytes(await file.download_as_bytearray())

    file, data = asyncio.run(scenario())
    assert file.file_path == f"{api.base_file_url}{api.token}/documents/plan.pdf"
    assert data == b"%PDF-1.4 tiny"


async def echo(update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"echo: {update.message.text}")


def test_application_polls_and_answers(api):
    group = -1001234

    async def scenario():
        application = Application.builder().token(api.token).base_url(api.base_url).build()
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            api.push_message(CHAT, "my hip hurts")
            asked = api.push_message(group, "after long runs", chat_type="supergroup", user_id=77)
            replies = await api.wait_for_sent_async(None, count=2, timeout=10)
            await application.updater.stop()
            await application.stop()
        return asked, replies

    asked, replies = asyncio.run(scenario())
    by_chat = {reply["chat_id"]: reply for reply in replies}
    assert by_chat[CHAT]["text"] == "echo: my hip hurts"
    assert by_chat[group]["text"] == "echo: after long runs"
    # in groups PTB quotes by default; the fake resolved the quoted message
    assert by_chat[group]["reply_parameters"]["message_id"] == asked["message"]["message_id"]
    assert by_chat[group]["message"]["reply_to_message"]["text"] == "after long runs"
    assert api.pending_updates == []  # the updater's last getUpdates confirmed both
    assert api.calls[0].method == "getMe" and "deleteWebhook" in [c.method for c in api.calls]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def pressed(update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(reply_markup=None)
    await context.bot.send_message(
        update.effective_chat.id, f"you chose {update.callback_query.data}"
    )


def test_application_over_a_webhook(api):
    port = free_port()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stretch", callback_data="stretch")]])

    async def scenario():
        application = Application.builder().token(api.token).base_url(api.base_url).build()
        application.add_handler(MessageHandler(filters.TEXT, echo))
        application.add_handler(CallbackQueryHandler(pressed))
        async with application:
            await application.start()
            await application.updater.start_webhook(
                listen="127.0.0.1",
                port=port,
                url_path="hook",
                webhook_url=f"http://127.0.0.1:{port}/hook",
                secret_token="s3cret",
            )
            update = api.make_update_message(CHAT, "hello webhook")
            assert await asyncio.to_thread(api.post_to_webhook, update) == 200
            assert await asyncio.to_thread(api.post_to_webhook, update, secret_token="bad") == 403
            await api.wait_for_sent_async(CHAT, count=1)
            sent = await application.bot.send_message(CHAT, "Pick one", reply_markup=keyboard)
            press = api.make_update_callback(CHAT, sent.message_id, "stretch")
            assert await asyncio.to_thread(api.post_to_webhook, press) == 200
            replies = await api.wait_for_sent_async(CHAT, count=3)
            await application.updater.stop()
            await application.stop()
        return replies

    replies = asyncio.run(scenario())
    assert [r["text"] for r in replies] == ["echo: hello webhook", "Pick one", "you chose stretch"]
    assert api.webhook_info["url"] == f"http://127.0.0.1:{port}/hook"
    assert api.webhook_info["secret_token"] == "s3cret"
    assert len(api.calls_to("answerCallbackQuery")) == 1
    assert "reply_markup" not in api.message(CHAT, replies[1]["message_id"])


def test_wait_for_sent_times_out_clearly(api):
    api.push_message(CHAT, "nobody answers")
    with pytest.raises(
        AssertionError, match=r"waiting for 1 sendMessage call\(s\) to chat 5551001; got 0"
    ):
        api.wait_for_sent(CHAT, timeout=0.2)


def test_stop_ends_pending_long_polls_quickly():
    server = FakeBotAPI().start()
    outcomes: list[object] = []

    def poll():
        try:
            outcomes.append(raw_call(server, f"/bot{server.token}/getUpdates", {"timeout": "30"}))
        except (OSError, http.client.HTTPException, ValueError) as error:
            outcomes.append(error)  # the connection may close before, or while, it is read

    poller = threading.Thread(target=poll)
    poller.start()
    server.wait_for_call("getUpdates", timeout=5)
    started = time.monotonic()
    server.stop()
    poller.join(timeout=5)
    assert time.monotonic() - started < 2 and not poller.is_alive() and len(outcomes) == 1
    server.stop()  # stopping twice is harmless
