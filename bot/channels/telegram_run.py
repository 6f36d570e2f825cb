"""Running the Telegram bot: start-up checks, the inbox intake, graceful shutdown.

`serving` is what `hipbot telegram` runs (and what the tests and the load script run): it
replays what an earlier crash left in the inbox, then takes updates by polling or through
the webhook server until it is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.channels.intake import Dispatcher, poll, stop_server, webhook_server
from bot.channels.telegram import TelegramFrontEnd
from bot.config import Settings
from bot.errors import ConfigError, HipbotError
from bot.runtime import Runtime
from bot.store import ConversationStore

logger = logging.getLogger("hipbot.telegram")


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, runtime: Runtime, store: ConversationStore
) -> AsyncIterator[Dispatcher]:
    """Run the bot (polling, or the webhook server) until the block ends.

    Updates left in the inbox by an earlier crash are replayed first. On the way out no new
    update is taken, and those being handled get the grace period to finish; anything
    unfinished stays in the inbox for the next start.
    """
    front = TelegramFrontEnd(settings, runtime, store)
    application = front.build()
    await _check_connection(application)
    async with application:
        await front.prepare(application)
        await application.start()
        dispatcher = Dispatcher(front.inbox, application)
        server, poller = None, None
        sweeper = asyncio.create_task(dispatcher.sweep(settings.inbox_sweep_seconds))
        try:
            replayed = await dispatcher.replay()
            if replayed:
                logger.info("replaying the updates of %d chats left from the last run", replayed)
            if settings.telegram_mode == "webhook":
                server = await _start_webhook(settings, runtime, store, application, dispatcher)
            else:
                poller = asyncio.create_task(poll(application, dispatcher), name="getUpdates")
            yield dispatcher
        finally:
            if server is not None:
                await stop_server(server)
            for task in (poller, sweeper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await dispatcher.finish(settings.telegram_shutdown_grace)
            await application.stop()


async def _start_webhook(
    settings: Settings,
    runtime: Runtime,
    store: ConversationStore,
    application: Application,
    dispatcher: Dispatcher,
) -> object:
    """Listen for Telegram's POSTs (and /healthz), then tell Telegram where to send them."""
    if not settings.webhook_url:
        raise ConfigError("webhook mode needs HIPBOT_WEBHOOK_URL (the public https URL)")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    health = {
        "database": store.database.reachable,
        "index": lambda: "index" in runtime.__dict__,  # loaded by prepare()
    }
    server = webhook_server(dispatcher, settings.webhook_path, secret, health)
    try:
        server.listen(settings.webhook_port, settings.webhook_listen)
    except OSError as error:
        raise ConfigError(
            f"cannot listen on {settings.webhook_listen}:{settings.webhook_port} ({error}); "
            "check HIPBOT_WEBHOOK_LISTEN and HIPBOT_WEBHOOK_PORT"
        ) from None
    try:
        await application.bot.set_webhook(
            url=settings.webhook_url.rstrip("/") + "/" + settings.webhook_path.strip("/"),
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    except TelegramError as error:
        server.stop()
        raise HipbotError(
            f"Telegram refused the webhook ({error.message}); check HIPBOT_WEBHOOK_URL "
            "(a public https address) and HIPBOT_WEBHOOK_SECRET (letters, digits, _ and -)"
        ) from None
    return server


def run_bot(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM: polling by default, a webhook when configured."""
    runtime = Runtime(settings)
    runtime.index  # noqa: B018 - fail now, with a clear message, if there is no index
    store = ConversationStore(settings.state_location())
    try:
        asyncio.run(_run_until_signalled(settings, runtime, store))
    finally:
        store.close()


async def _run_until_signalled(
    settings: Settings, runtime: Runtime, store: ConversationStore
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    async with serving(settings, runtime, store):
        logger.info("hipbot is serving Telegram (%s); Ctrl-C stops it", settings.telegram_mode)
        await stop.wait()
        logger.info("stopping: finishing the messages in hand")


async def _check_connection(application: Application) -> None:
    """Call getMe once, so that a bad token or no network is one clear line, not a trace."""
    try:
        async with application.bot:
            pass
    except InvalidToken:
        raise HipbotError(
            "Telegram rejected the token: check HIPBOT_TELEGRAM_TOKEN (from @BotFather)"
        ) from None
    except NetworkError as error:
        raise HipbotError(
            f"cannot reach the Telegram Bot API ({error.message}); check the network or "
            "HIPBOT_TELEGRAM_BASE_URL"
        ) from None
