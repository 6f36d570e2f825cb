"""The Telegram front end (python-telegram-bot v22): it only renders the dialogue core's replies.

Updates come in through the durable inbox (bot/channels/intake.py): stored before Telegram is
told they arrived, handled per chat in order, replayed after a crash. A turn's new state and
the reply it computed are committed together before the reply is sent, so a replay resends
that reply instead of answering twice. Message text never reaches the logs unless
HIPBOT_LOG_MESSAGE_TEXT is set, and httpx's request logs, whose URLs carry the token, are
silenced at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from telegram import BotCommand, CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.activity import ActivityLog
from bot.channels.telegram_render import (
    KEY_END,
    RATING,
    keyboard,
    render_html,
    with_note,
    without_rating,
)
from bot.checkins import DueCheckIn
from bot.config import Settings
from bot.dialogue.intents import commands_for
from bot.errors import ConfigError, HipbotError
from bot.inbox import Inbox
from bot.runtime import Runtime
from bot.safety import Level
from bot.store import SAVE_ATTEMPTS, ConversationStore, FloodCounter, StaleConversation

logger = logging.getLogger("hipbot.telegram")
T = TypeVar("T")

ABOUT = (
    "hipbot answers runners' questions about hip pain from trusted articles and screens "
    "every message for warning signs. It does not diagnose. Your conversation state is "
    "stored so that a chat can continue after a restart, with facts you told it that change "
    "its safety advice (a fall, a child, blood thinners, pregnancy...), with a check-in you "
    "asked for and a record of what each answer did (levels, article sections used, your "
    "ratings) for the people who keep the articles up to date; /forget deletes all of it. "
    "Your message's text is kept only until it has been answered (so that a restart cannot "
    "lose it) and is never written to logs, unless this bot's operator chose to keep "
    "questions for a limited time to improve the articles."
)
NOT_TEXT = (
    "I can only read text messages. Please type your question, for example: "
    '"why does the outside of my hip hurt after running?"'
)
EDITED_NOTE = "(You edited a message; I've read the new version.)"
CAPTION_NOTE = "(I can't see photos or files, but I've read your caption.)"
ALREADY_ANSWERED = "That question was already answered."
SLOW_DOWN = "You're sending messages very quickly; please wait a moment before the next one."
FALLBACK = "Sorry, something went wrong on my side. Please try again in a moment."
COMPUTE_THREADS = 4
SEND_ATTEMPTS = 4  # a network hiccup while sending is retried before giving up


def quiet_library_logs(settings: Settings) -> None:
    """Keep the token and message text out of library logs.

    httpx logs every request URL, and Telegram URLs carry the token; python-telegram-bot's
    debug logs show every update and reply, so they stay off unless text logging is on.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not settings.log_message_text:
        telegram_logger = logging.getLogger("telegram")
        telegram_logger.setLevel(max(telegram_logger.getEffectiveLevel(), logging.INFO))


class TelegramFrontEnd:
    """Turns Telegram updates into dialogue turns and replies into Telegram messages."""

    def __init__(self, settings: Settings, runtime: Runtime, store: ConversationStore) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.inbox = Inbox(store, settings.inbox_lease_seconds)
        self.flood = FloodCounter(store.database, settings.flood_messages_per_minute)
        self.activity = ActivityLog(
            store.database,
            settings,
            lambda text: runtime.embedder.embed_queries([text])[0].tolist(),
        )
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Replies are computed on threads of their own, so that the short database writes
        # (asyncio's default threads) never queue behind them: the moment between Telegram
        # taking a reply and the inbox recording it stays a few milliseconds.
        self._computing = ThreadPoolExecutor(COMPUTE_THREADS, thread_name_prefix="reply")
        self._warned: set[int] = set()

    def build(self) -> Application:
        """Build the Application with every handler registered."""
        quiet_library_logs(self.settings)
        token = self.settings.telegram_token
        if token is None or not token.get_secret_value().strip():
            raise ConfigError(
                "no Telegram token: create a bot with @BotFather and set HIPBOT_TELEGRAM_TOKEN "
                "(or put it in .env)"
            )
        builder = (
            Application.builder()
            .token(token.get_secret_value().strip())
            .base_url(self.settings.telegram_base_url)
            .base_file_url(self.settings.telegram_base_file_url)
            .rate_limiter(
                AIORateLimiter(overall_max_rate=self.settings.telegram_rate_limit, max_retries=2)
            )
            .updater(None)  # updates come through the durable inbox (intake.py)
        )
        try:
            application = builder.build()
        except InvalidToken:
            raise ConfigError(
                "the Telegram token is malformed: copy it again from @BotFather into "
                "HIPBOT_TELEGRAM_TOKEN"
            ) from None
        application.add_handler(CommandHandler("forget", self.on_forget))
        application.add_handler(CommandHandler("about", self.on_about))
        # Every other command goes to the dialogue, which knows the table (and says
        # "unknown command" with the list for one it does not).
        application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, self.on_message)
        )
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_handler(
            MessageHandler(
                filters.UpdateType.EDITED_MESSAGE & (filters.TEXT | filters.CAPTION),
                self.on_edited,
            )
        )
        application.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, self.on_message
            )
        )
        application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & ~filters.TEXT & _MEDIA, self.on_media)
        )
        application.add_error_handler(self.on_error)
        if application.job_queue is not None and self.settings.checkin_days > 0:
            application.job_queue.run_repeating(
                self.send_due_checkins, interval=self.settings.checkin_poll_seconds, first=1.0
            )
        return application

    async def prepare(self, application: Application) -> None:
        """Register the command menu and load the models, before any update is handled."""
        commands = [BotCommand(c.name, c.about) for c in commands_for("telegram")]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as error:  # a Bot API server without it still serves chats
            logger.warning("could not register the command menu (%s); going on", error)
        await asyncio.to_thread(self.runtime.warm_up)  # first replies come fast

    # --- handlers ---------------------------------------------------------------------------

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a text message or a command the dialogue core understands."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        text = self._addressed_text(message, context.bot.username)
        if text is None:
            return  # a group message that is not for the bot
        await self._converse(update, context, text)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Read an edited message again: an edit may add a warning sign."""
        message = update.effective_message
        if message is None:
            return
        text = self._addressed_text(message, context.bot.username)
        if not text and message.caption and message.chat.type == ChatType.PRIVATE:
            text = message.caption  # an edited caption is screened again too
        if text is not None:
            await self._converse(update, context, text, note=EDITED_NOTE)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Treat a quick-reply press as the person typing it; remove the pressed keyboard."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        key, _, label = query.data.rpartition(KEY_END)
        if isinstance(query.message, Message) and query.message.reply_markup is not None:
            rating = label in {data for _, data in RATING}
            kept = without_rating(query.message.reply_markup) if rating else None
            with contextlib.suppress(BadRequest):  # pressed twice: the keyboard is gone
                await query.edit_message_reply_markup(reply_markup=kept)
        await self._converse(update, context, label, press=(query, key or None))

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Delete everything stored about this conversation, then say so."""
        chat_key = self._chat_key(update)
        async with self._locks[chat_key]:
            state = await asyncio.to_thread(self.store.load, chat_key)
            existed = await asyncio.to_thread(self.store.forget, chat_key)
            await asyncio.to_thread(self.activity.forget, chat_key)
        text = (
            "Done: I deleted everything I had stored about this chat: the conversation, "
            f"the facts that change my safety advice ({state.facts.describe()}), any "
            "check-in, your ratings and the record of my answers."
            if existed
            else "There was nothing stored about this chat; nothing to delete."
        )
        await update.effective_message.reply_text(text)
        if context.args:  # "/forget I fell..." still gets read and screened
            await self._converse(update, context, " ".join(context.args))

    async def on_about(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Say what hipbot is and how it treats data."""
        await update.effective_message.reply_text(ABOUT)

    async def on_media(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice, documents...: read and screen a caption like text.

        Without a caption, ask for text, politely (in private chats; groups are not nagged).
        """
        message = update.effective_message
        if message.caption and message.chat.type == ChatType.PRIVATE:
            await self._converse(update, context, message.caption, note=CAPTION_NOTE)
        elif message.chat.type == ChatType.PRIVATE:
            await message.reply_text(NOT_TEXT)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure (never the text or token) and give the person a safe reply."""
        chat = update.effective_chat if isinstance(update, Update) else None
        logger.error(
            "update %s failed in chat %s",
            getattr(update, "update_id", "?"),
            getattr(chat, "id", "?"),
            exc_info=context.error,
        )
        if chat is None:
            return
        text = FALLBACK
        state = await asyncio.to_thread(self.store.load, self._chat_key(update))
        if state.escalation in (Level.EMERGENCY.label, Level.URGENT.label):
            text = (
                f"{FALLBACK} Remember: you told me about a warning sign. Please get help now: "
                f"call {self.settings.emergency_number} or go to "
                f"{self.settings.emergency_department}."
            )
        try:
            await context.bot.send_message(chat.id, text)
        except Exception:  # the network itself may be what failed; logged above
            logger.warning("could not send the fallback reply to chat %s", chat.id)

    # --- the conversation ------------------------------------------------------------------

    async def _converse(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        text: str,
        note: str = "",
        press: tuple[CallbackQuery, str | None] | None = None,
    ) -> None:
        """Reply to one input; `press` is a button press and the question key it carries."""
        chat = update.effective_chat
        user = update.effective_user
        chat_key = self._chat_key(update)
        if user is not None and not await asyncio.to_thread(self.flood.allow, user.id):
            screening = await self._compute(self.runtime.safety.screen_with_learned, text)
            if screening.level < Level.URGENT:  # a warning sign is never throttled
                if user.id not in self._warned:
                    self._warned.add(user.id)
                    await context.bot.send_message(chat.id, SLOW_DOWN)
                return
        elif user is not None:
            self._warned.discard(user.id)
        started = time.perf_counter()
        async with self._locks[chat_key]:
            # The typing indicator only shows if the reply takes noticeable time to compute.
            typing = asyncio.create_task(
                self._typing_after(context, chat.id, self.settings.telegram_typing_delay)
            )
            try:
                outcome = await self._outcome(update, chat_key, text, note, press)
            finally:
                typing.cancel()
            if outcome is not None:
                await self._deliver(context, chat.id, update.update_id, outcome)
        if outcome is None:
            return
        if self.settings.log_message_text:
            logger.info("chat %s said %r", chat.id, text)
        logger.info(
            "chat %s: %s reply in %.0f ms",
            chat.id,
            outcome["triage"],
            (time.perf_counter() - started) * 1000,
        )

    async def _outcome(
        self,
        update: Update,
        chat_key: str,
        text: str,
        note: str,
        press: tuple[CallbackQuery, str | None] | None,
    ) -> dict | None:
        """Return the reply to send for this update: computed once, stored with the state.

        A replayed update gets the reply stored before the crash (its turn is not played
        twice); None means a stale button press, acknowledged and changing nothing.
        """
        stored = await asyncio.to_thread(self.inbox.get, update.update_id)
        if stored is not None and stored.reply is not None:
            return {**stored.reply, "parts_sent": stored.parts_sent}
        for attempt in range(SAVE_ATTEMPTS):
            state, version = await asyncio.to_thread(self.store.load_versioned, chat_key)
            if press is not None and attempt == 0:
                query, key = press
                if key is not None and key != state.question_key():
                    with contextlib.suppress(BadRequest):  # too old to acknowledge
                        await query.answer(ALREADY_ANSWERED)  # stale: nothing changes
                    return None
                with contextlib.suppress(BadRequest):
                    await query.answer()
            turn = await self._compute(self.runtime.dialogue.respond, state, text)
            reply = with_note(turn.reply, note) if note else turn.reply
            markup = keyboard(reply)
            bodies = render_html(reply)
            outcome = {
                "triage": reply.triage.label,
                "messages": bodies,
                "keyboard": markup.to_dict() if markup else None,
            }
            try:
                # Committed with the state, before sending: nothing seen is ever lost.
                await asyncio.to_thread(
                    self.inbox.save_turn, chat_key, turn.state, version, update.update_id, outcome
                )
            except StaleConversation:
                continue  # another writer was first: answer from the state it left
            address = str(update.effective_chat.id)
            await asyncio.to_thread(self.activity.after_turn, chat_key, address, text, reply)
            return {**outcome, "parts_sent": 0}
        raise HipbotError(f"the conversation {chat_key} kept changing while being answered")

    async def _deliver(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, update_id: int, outcome: dict
    ) -> None:
        """Send the parts not sent yet, recording each; the buttons go with the last."""
        bodies = outcome["messages"]
        markup = (
            InlineKeyboardMarkup.de_json(outcome["keyboard"], context.bot)
            if outcome["keyboard"]
            else None
        )
        for number in range(outcome["parts_sent"], len(bodies)):
            last = number == len(bodies) - 1
            await self._send(context, chat_id, bodies[number], markup if last else None)
            # Recorded at once, on this thread: a hop to a worker thread could wait behind
            # other work, and a crash in that moment would send this part again.
            self.inbox.part_sent(update_id, number + 1, last)

    @staticmethod
    async def _send(
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        body: str,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        """Send one message, retrying network hiccups (not refusals) with a growing pause."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                await context.bot.send_message(
                    chat_id, body, parse_mode=ParseMode.HTML, reply_markup=markup
                )
                return
            except (BadRequest, Forbidden):
                raise
            except NetworkError:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(2**attempt)

    # --- check-ins ---------------------------------------------------------------------------

    async def send_due_checkins(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """JobQueue: ask the check-ins that are due (claimed in the database: sent once)."""
        checkins = self.activity.checkins
        due = await asyncio.to_thread(checkins.claim_due, self.inbox.owner, None, "telegram:")
        for checkin in due:
            try:
                await self._ask_checkin(context, checkin)
            except Forbidden:  # the person blocked the bot: nobody to ask
                await asyncio.to_thread(checkins.close, checkin.chat, "unreachable")
            except TelegramError as error:
                logger.warning(
                    "check-in for chat %s not sent (%s); retrying later", checkin.chat, error
                )
                await asyncio.to_thread(checkins.release, checkin)

    async def _ask_checkin(self, context: ContextTypes.DEFAULT_TYPE, checkin: DueCheckIn) -> None:
        async with self._locks[checkin.chat]:
            for _ in range(SAVE_ATTEMPTS):
                state, version = await asyncio.to_thread(self.store.load_versioned, checkin.chat)
                turn = await self._compute(self.runtime.dialogue.check_in, state)
                try:
                    await asyncio.to_thread(self.store.save, checkin.chat, turn.state, version)
                    break
                except StaleConversation:
                    continue
            else:
                raise HipbotError(f"the conversation {checkin.chat} kept changing")
            if not turn.reply.segments:  # a referral or the safety check came first
                await asyncio.to_thread(self.activity.checkins.close, checkin.chat, "skipped")
                return
            bodies, markup = render_html(turn.reply), keyboard(turn.reply)
            for number, body in enumerate(bodies):
                last = number == len(bodies) - 1
                await self._send(context, int(checkin.address), body, markup if last else None)
            await asyncio.to_thread(
                self.activity.after_turn, checkin.chat, checkin.address, "", turn.reply
            )
        logger.info("chat %s: check-in asked", checkin.address)

    async def _compute(self, function: Callable[..., T], *args: object) -> T:
        """Run CPU work (screening, answering) on the reply threads."""
        return await asyncio.get_running_loop().run_in_executor(self._computing, function, *args)

    @staticmethod
    async def _typing_after(
        context: ContextTypes.DEFAULT_TYPE, chat_id: int, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)

    def _chat_key(self, update: Update) -> str:
        """Private chats are keyed by chat; in groups each member has their own conversation."""
        chat = update.effective_chat
        user = update.effective_user
        if chat.type == ChatType.PRIVATE or user is None:
            return f"telegram:{chat.id}"
        return f"telegram:{chat.id}:{user.id}"

    @staticmethod
    def _addressed_text(message: Message, username: str | None) -> str | None:
        """Return the text meant for the bot; in groups only mentions and replies to it."""
        text = message.text or ""
        if message.chat.type == ChatType.PRIVATE:
            return text
        mention = f"@{username}" if username else None
        if text.startswith("/"):
            return text.replace(mention, "") if mention else text
        replied = message.reply_to_message
        if replied is not None and replied.from_user and replied.from_user.username == username:
            return text
        if mention and mention.lower() in text.lower():
            return re.sub(re.escape(mention), "", text, flags=re.IGNORECASE).strip()
        return None


_MEDIA = (
    filters.PHOTO
    | filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.LOCATION
    | filters.Document.ALL
    | filters.CONTACT
    | filters.ANIMATION
)
