"""The durable inbox end to end: accepted updates survive a SIGKILL and are answered once."""

import asyncio
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from bot.channels.telegram_render import render_html
from bot.channels.telegram_run import serving
from bot.dialogue import ConversationState
from bot.inbox import Inbox
from bot.store import ConversationStore
from tests.bot_process import free_port, start_bot, wait_until_healthy
from tests.fake_bot_api import FakeBotAPI

QUESTION = "what is a hip pointer?"
CHATS = 30


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


def taken_but_unrecorded(location, api) -> list[tuple[int, str]]:
    """Reply parts Telegram took in the instant before the kill, before the inbox recorded
    them: the one duplicate the design allows (sendMessage has no idempotency key)."""
    store = ConversationStore(location)
    rows = store.database.query(
        "SELECT chat, reply, parts_sent FROM inbox WHERE done_at IS NULL AND reply IS NOT NULL"
    )
    store.close()
    doubtful = []
    for chat, reply, parts_sent in rows:
        bodies = json.loads(reply)["messages"]
        part = bodies[parts_sent] if parts_sent < len(bodies) else None
        if any(m["chat_id"] == int(chat) and m["text"] == part for m in api.sent):
            doubtful.append((int(chat), part))
    return doubtful


def test_updates_accepted_before_a_sigkill_are_all_answered_once_after_restart(
    api, seed_settings, runtime, tmp_path
):
    parts = len(render_html(runtime.dialogue.respond(ConversationState(), QUESTION).reply))
    port = free_port()
    bot = start_bot(seed_settings, api.token, api.base_url, port, tmp_path)
    try:
        wait_until_healthy(bot, port)
        updates = [api.make_update_message(1000 + n, QUESTION) for n in range(CHATS)]
        statuses: list[int] = []

        def post(update):
            statuses.append(api.post_to_webhook(update))

        threads = [threading.Thread(target=post, args=(u,)) for u in updates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bot.send_signal(signal.SIGKILL)  # mid-way: some answered, most in flight
        bot.wait(10)
        assert statuses == [200] * CHATS  # every one acknowledged: Telegram won't resend
        answered_before = len(api.sent)
        doubtful = taken_but_unrecorded(tmp_path / "state.sqlite3", api)
        bot = start_bot(seed_settings, api.token, api.base_url, port, tmp_path)
        for n in range(CHATS):
            api.wait_for_sent(1000 + n, count=parts, timeout=120)
        time.sleep(1.0)  # time for a duplicate to show up
    finally:
        bot.terminate()
        bot.wait(30)
    per_chat = [len([m for m in api.sent if m["chat_id"] == 1000 + n]) for n in range(CHATS)]
    resent = {chat for chat, _ in doubtful}
    # Each answered exactly once, but for a part caught mid-send by the kill (see above).
    assert per_chat == [parts + (1000 + n in resent) for n in range(CHATS)], per_chat
    assert answered_before < CHATS * parts  # the kill really came with updates in flight
    store = ConversationStore(tmp_path / "state.sqlite3")
    assert Inbox(store).waiting() == 0
    assert all(store.load(f"telegram:{1000 + n}").turns == 1 for n in range(CHATS))
    assert bot.returncode == 0  # SIGTERM: a graceful stop


def test_a_reply_computed_before_a_crash_is_resent_without_replaying_the_turn(
    api, seed_settings, runtime, tmp_path
):
    """The turn was committed with its reply, the process died before sending it."""
    settings = seed_settings.model_copy(
        update={
            "telegram_token": SecretStr(api.token),
            "telegram_base_url": api.base_url,
            "state_db": tmp_path / "state.sqlite3",
        }
    )
    store = ConversationStore(settings.state_db)
    inbox = Inbox(store)
    waiting = api.make_update_message(77, "I fell on the ice and can't get up")
    later = api.make_update_message(77, "what is a hip pointer?")
    turn = runtime.dialogue.respond(ConversationState(), waiting["message"]["text"])
    bodies = render_html(turn.reply)
    inbox.accept(waiting["update_id"], "77", waiting)
    inbox.accept(later["update_id"], "77", later)
    outcome = {"triage": turn.reply.triage.label, "messages": bodies, "keyboard": None}
    inbox.save_turn("telegram:77", turn.state, 0, waiting["update_id"], outcome)

    async def scenario():
        async with serving(settings, runtime, store):
            return await api.wait_for_sent_async(77, count=len(bodies) + 1)

    sent = asyncio.run(scenario())
    assert [m["message"]["text"] for m in sent[: len(bodies)]] == [
        api.message(77, m["message_id"])["text"] for m in sent[: len(bodies)]
    ]
    assert "Call 999" in sent[0]["message"]["text"]  # the stored reply, first, in order
    assert store.load("telegram:77").turns == 2  # replayed once, not answered again
    assert inbox.waiting() == 0
    store.close()


def test_two_replicas_share_postgres_and_a_killed_one_loses_nothing(
    api, seed_settings, runtime, tmp_path, postgres_url
):
    """Each chat's two messages go to different replicas; one replica is then SIGKILLed."""
    first = runtime.dialogue.respond(ConversationState(), "what is bursitis?")
    second = runtime.dialogue.respond(first.state, "how do I treat it?")
    expected = render_html(first.reply) + render_html(second.reply)
    parts = len(expected)
    shared = {
        "HIPBOT_STATE_URL": postgres_url,
        "HIPBOT_INBOX_LEASE_SECONDS": "2",
        "HIPBOT_INBOX_SWEEP_SECONDS": "0.3",
    }
    ports = [free_port(), free_port()]
    replicas = [
        start_bot(seed_settings, api.token, api.base_url, port, tmp_path, **shared)
        for port in ports
    ]
    chats = [2000 + n for n in range(16)]
    try:
        for replica, port in zip(replicas, ports, strict=True):
            wait_until_healthy(replica, port)
        urls = [f"http://127.0.0.1:{port}/telegram" for port in ports]

        def converse(n: int, chat: int) -> list[int]:
            one = api.make_update_message(chat, "what is bursitis?")
            two = api.make_update_message(chat, "how do I treat it?")
            return [
                api.post_to_webhook(one, url=urls[n % 2]),
                api.post_to_webhook(two, url=urls[(n + 1) % 2]),
            ]

        with ThreadPoolExecutor(8) as pool:
            statuses = [s for pair in pool.map(converse, range(len(chats)), chats) for s in pair]
        replicas[0].send_signal(signal.SIGKILL)
        replicas[0].wait(10)
        assert statuses == [200] * 2 * len(chats)
        doubtful = taken_but_unrecorded(postgres_url, api)
        for chat in chats:
            api.wait_for_sent(chat, count=parts, timeout=120)
        time.sleep(1.0)  # time for a duplicate to show up
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(30)
    for chat in chats:
        # Once each, in order, and "treat it" followed the topic the other replica answered.
        got = [m["text"] for m in api.sent if m["chat_id"] == chat]
        for doubtful_chat, part in doubtful:  # caught mid-send by the kill: may come twice
            if doubtful_chat == chat and got.count(part) > expected.count(part):
                got.remove(part)  # (the survivor may have been the one sending it)
        assert got == expected, (chat, [text[:60] for text in got], [t[:60] for t in expected])
    store = ConversationStore(postgres_url)
    assert Inbox(store).waiting() == 0
    assert all(store.load(f"telegram:{chat}").turns == 2 for chat in chats)
