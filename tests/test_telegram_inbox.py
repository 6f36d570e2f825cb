"""The durable inbox end to end: accepted updates survive a SIGKILL and are answered once."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.channels.telegram import serving
from bot.channels.telegram_render import render_html
from bot.dialogue import ConversationState
from bot.inbox import Inbox
from bot.store import ConversationStore
from tests.fake_bot_api import FakeBotAPI

QUESTION = "what is a hip pointer?"
CHATS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


def start_bot(settings, api, port: int, folder: Path) -> subprocess.Popen:
    """`hipbot telegram` in webhook mode, as a real process of its own."""
    env = {
        **os.environ,
        "HIPBOT_TELEGRAM_TOKEN": api.token,
        "HIPBOT_TELEGRAM_BASE_URL": api.base_url,
        "HIPBOT_TELEGRAM_MODE": "webhook",
        "HIPBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "HIPBOT_WEBHOOK_PORT": str(port),
        "HIPBOT_STATE_DB": str(folder / "state.sqlite3"),
        "HIPBOT_CORPUS_DIR": str(settings.corpus_dir),
        "HIPBOT_INDEX_DIR": str(settings.index_dir),
        "HIPBOT_SAFETY_MODEL_DIR": str(settings.safety_model_dir),
    }
    hipbot = Path(sys.executable).parent / "hipbot"
    with open(folder / "bot.log", "a") as log:  # the child keeps its own copy of the file
        # cwd: away from any developer .env
        return subprocess.Popen([str(hipbot), "telegram"], cwd=folder, env=env, stderr=log)


def wait_until_healthy(process: subprocess.Popen, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        assert process.poll() is None, "the bot exited during start-up"
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if json.loads(response.read()) == {"database": True, "index": True}:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the bot never became healthy")


def test_updates_accepted_before_a_sigkill_are_all_answered_once_after_restart(
    api, seed_settings, runtime, tmp_path
):
    parts = len(render_html(runtime.dialogue.respond(ConversationState(), QUESTION).reply))
    port = free_port()
    bot = start_bot(seed_settings, api, port, tmp_path)
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
        bot = start_bot(seed_settings, api, port, tmp_path)
        for n in range(CHATS):
            api.wait_for_sent(1000 + n, count=parts, timeout=120)
        time.sleep(1.0)  # time for a duplicate to show up
    finally:
        bot.terminate()
        bot.wait(30)
    per_chat = [len([m for m in api.sent if m["chat_id"] == 1000 + n]) for n in range(CHATS)]
    assert per_chat == [parts] * CHATS, (answered_before, per_chat)
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
