"""How Telegram updates come in: stored in the inbox first, then handled, per chat in order.

python-telegram-bot's own webhook answers 200 as soon as it has queued an update in memory,
and its polling moves the offset on as soon as it has fetched a batch: a crash then loses
what Telegram believes delivered. Here both ways of receiving write each update to the
durable inbox (bot/inbox.py) first: the webhook answers 200 after the commit, and polling
asks for the next offset only after the batch is committed. A Dispatcher then feeds the
stored updates to the Application's handlers, one at a time per chat and chats in parallel,
and marks each done when its handling has finished. Updates left by a crash are replayed at
start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.inbox import Inbox

logger = logging.getLogger("hipbot.telegram")

POLL_TIMEOUT = 10  # seconds of long polling per getUpdates
HEALTH_PATH = "healthz"


def order_key(update: Update) -> str:
    """The key whose updates must be handled in order: the chat (else the user)."""
    if update.effective_chat is not None:
        return str(update.effective_chat.id)
    if update.effective_user is not None:
        return f"user:{update.effective_user.id}"
    return "other"


class Dispatcher:
    """Handles the inbox's updates: per chat one at a time and in order, chats in parallel."""

    def __init__(self, inbox: Inbox, application: Application) -> None:
        self.inbox = inbox
        self.application = application
        self._running: dict[str, asyncio.Task] = {}
        self._more: set[str] = set()

    async def submit(self, data: dict) -> bool:
        """Store one raw update, then schedule it; False if it was a redelivery."""
        try:
            chat = order_key(Update.de_json(data, self.application.bot))
        except Exception:  # a shape this library cannot read: stored all the same
            chat = "other"
        accepted = await asyncio.to_thread(self.inbox.accept, data["update_id"], chat, data)
        if accepted:
            self.schedule(chat)
        return accepted

    async def replay(self) -> int:
        """Schedule every chat with updates left undone and no worker here; count them."""
        chats = await asyncio.to_thread(self.inbox.waiting_chats)
        idle = [chat for chat in chats if chat not in self._running]
        for chat in idle:
            self.schedule(chat)
        return len(idle)

    def schedule(self, chat: str) -> None:
        """Make sure the chat's worker runs and looks at the inbox again."""
        self._more.add(chat)
        if chat not in self._running:
            self._running[chat] = asyncio.create_task(self._work(chat), name=f"inbox:{chat}")

    async def _work(self, chat: str) -> None:
        try:
            while chat in self._more:
                self._more.discard(chat)
                if not await asyncio.to_thread(self.inbox.take, chat):
                    return  # another replica is on this chat; the sweep looks again
                heartbeat = asyncio.create_task(self._hold(chat))
                try:
                    await self._drain(chat)
                finally:
                    heartbeat.cancel()
                    await asyncio.to_thread(self.inbox.release, chat)
        except Exception:  # the database failed: what is stored is replayed later
            logger.exception("the inbox of chat %s stopped; the sweep retries it", chat)
        finally:
            self._running.pop(chat, None)

    async def _drain(self, chat: str) -> None:
        """Handle the chat's stored updates in order."""
        while (item := await asyncio.to_thread(self.inbox.next_for, chat)) is not None:
            self._more.discard(chat)
            try:
                update = Update.de_json(item.payload, self.application.bot)
            except Exception:  # never readable: set aside, not retried for ever
                logger.error("update %s cannot be read; skipped", item.update_id)
            else:
                await self.application.process_update(update)  # errors go to on_error
            await asyncio.to_thread(self.inbox.done, item.update_id)

    async def _hold(self, chat: str) -> None:
        """Renew the chat's lease while its updates are handled, however long that takes.

        It lapses only when this process stops: a slow reply is never taken over.
        """
        while True:
            await asyncio.sleep(self.inbox.lease_seconds / 3)
            await asyncio.to_thread(self.inbox.take, chat)

    async def sweep(self, interval: float) -> None:
        """Pick up, every `interval` seconds, chats with updates waiting and no worker here.

        These are chats another replica left: it died, or let go just as this one stored more.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                await self.replay()
            except Exception:
                logger.exception("the inbox sweep failed; trying again")

    async def finish(self, timeout: float) -> None:
        """Wait for the updates being handled (graceful shutdown); the rest stay stored."""
        tasks = list(self._running.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()


async def poll(application: Application, dispatcher: Dispatcher) -> None:
    """Long-poll getUpdates; a batch is committed before the next offset confirms it."""
    bot = application.bot
    await bot.delete_webhook()
    offset: int | None = None
    pause = 1.0
    while True:
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES
            )
        except RetryAfter as error:
            await asyncio.sleep(_seconds(error.retry_after))
            continue
        except (TimedOut, NetworkError) as error:
            logger.warning("getUpdates failed (%s); retrying in %.0f s", error, pause)
            pause = await _back_off(pause)
            continue
        try:
            for update in updates:
                await dispatcher.submit(update.to_dict())
        except Exception:  # not stored: the offset stays, and the batch is fetched again
            logger.exception("could not store updates; retrying in %.0f s", pause)
            pause = await _back_off(pause)
            continue
        pause = 1.0
        if updates:
            offset = updates[-1].update_id + 1


async def _back_off(pause: float) -> float:
    """Wait `pause` seconds; return the next pause, twice as long (at most 30 s)."""
    await asyncio.sleep(pause)
    return min(pause * 2, 30.0)


def _seconds(value: object) -> float:
    """RetryAfter gives seconds or a timedelta depending on the library's settings."""
    return float(getattr(value, "total_seconds", lambda: value)())


class _WebhookHandler(tornado.web.RequestHandler):
    """POST /<path>: check the secret, store the update, and only then answer 200."""

    def initialize(self, dispatcher: Dispatcher, secret: str | None) -> None:
        self.dispatcher = dispatcher
        self.secret = secret

    async def post(self) -> None:
        if self.secret is not None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                self.send_error(403)
                return
        try:
            data = json.loads(self.request.body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError:
            self.send_error(400)
            return
        try:
            await self.dispatcher.submit(data)
        except Exception:  # not stored: Telegram must send it again
            logger.exception("could not store update %s", data.get("update_id"))
            self.send_error(500)
            return
        self.set_status(200)

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[no-untyped-def]
        logger.error("webhook request failed: %s", typ.__name__ if typ else "?")


class _HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 when the database answers and the index is loaded, else 503."""

    def initialize(self, checks: dict) -> None:
        self.checks = checks

    async def get(self) -> None:
        results = {}
        for name, check in self.checks.items():
            results[name] = bool(await asyncio.to_thread(check))
        self.set_status(200 if all(results.values()) else 503)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(results))


def webhook_server(
    dispatcher: Dispatcher, path: str, secret: str | None, health: dict
) -> tornado.httpserver.HTTPServer:
    """The webhook endpoint and /healthz, as a tornado server (not yet listening)."""
    hook = {"dispatcher": dispatcher, "secret": secret}
    app = tornado.web.Application(
        [
            (rf"/{path.strip('/')}", _WebhookHandler, hook),
            (rf"/{HEALTH_PATH}", _HealthHandler, {"checks": health}),
        ],
        log_function=lambda handler: None,  # request logs would carry nothing useful
    )
    return tornado.httpserver.HTTPServer(app, xheaders=True)


async def stop_server(server: tornado.httpserver.HTTPServer) -> None:
    """Stop accepting connections, then let the requests in flight finish."""
    server.stop()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.close_all_connections(), timeout=5)
