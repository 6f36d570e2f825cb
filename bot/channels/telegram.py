"""The Telegram front end (python-telegram-bot v22): it only renders the dialogue core's replies.

Each chat's conversation state lives in the SQLite store and is saved before the reply is
sent. Messages of one chat are handled one at a time (a lock per chat), chats in parallel.
Message text never reaches the logs unless HIPBOT_LOG_MESSAGE_TEXT is set, and httpx's
request logs, whose URLs carry the token, are silenced at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import logging
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageLimit, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Settings
from bot.dialogue import Reply, Segment
from bot.dialogue.intents import commands_for
from bot.errors import ConfigError, HipbotError
from bot.runtime import Runtime
from bot.safety import Level
from bot.store import ConversationStore
from bot.text import split_sentences

logger = logging.getLogger("hipbot.telegram")

ABOUT = (
    "hipbot answers runners' questions about hip pain from trusted articles and screens "
    "every message for warning signs. It does not diagnose. Your conversation state is "
    "stored so that a chat can continue after a restart, with facts you told it that change "
    "its safety advice (a fall, a child, blood thinners, pregnancy...); /forget deletes all "
    "of it. Message text is not stored or written to logs."
)
NOT_TEXT = (
    "I can only read text messages. Please type your question, for example: "
    '"why does the outside of my hip hurt after running?"'
)
EDITED_NOTE = "(You edited a message; I've read the new version.)"
CAPTION_NOTE = "(I can't see photos or files, but I've read your caption.)"
_REFERRAL_KINDS = {"emergency", "urgent", "doctor"}
_KEY_END = "|"
ALREADY_ANSWERED = "That question was already answered."
SLOW_DOWN = "You're sending messages very quickly; please wait a moment before the next one."
FALLBACK = "Sorry, something went wrong on my side. Please try again in a moment."
PREFIX = {"emergency": "🚨 ", "urgent": "⚠️ ", "doctor": "🩺 "}


@dataclass
class FloodGate:
    """Per-user sliding window: at most `limit` messages a minute."""

    limit: int
    window: float = 60.0
    _seen: dict[int, deque] = field(default_factory=lambda: defaultdict(deque))

    def allow(self, user_id: int, now: float | None = None) -> bool:
        """Record a message; tell whether it is within the limit."""
        now = time.monotonic() if now is None else now
        seen = self._seen[user_id]
        while seen and now - seen[0] > self.window:
            seen.popleft()
        seen.append(now)
        return len(seen) <= self.limit


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


def render_html(reply: Reply) -> list[str]:
    """Render a reply as Telegram HTML messages of at most 4,096 characters each.

    Everything from articles or users is escaped; referrals are bold with a marker so
    that they stand out; long segments are split at sentence boundaries.
    """
    blocks = []
    for segment in reply.segments:
        for piece in _pieces(segment.text, MessageLimit.MAX_TEXT_LENGTH - 200):
            text = html.escape(piece)
            if segment.kind in PREFIX:
                text = f"<b>{PREFIX[segment.kind]}{text}</b>"
            elif segment.kind in ("caveat", "disclaimer"):
                text = f"<i>{text}</i>"
            blocks.append(text)
    if reply.sources:
        lines = [f"• {html.escape(' > '.join((s.article, *s.path)))}" for s in reply.sources]
        blocks.append("<i>Sources:</i>\n" + "\n".join(lines))
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + 2 + len(block) <= MessageLimit.MAX_TEXT_LENGTH:
            messages[-1] += "\n\n" + block
        else:
            messages.append(block)
    return messages or ["…"]


def _pieces(text: str, limit: int) -> list[str]:
    """Split text at sentence boundaries into pieces that stay under the limit once escaped."""
    if len(html.escape(text)) <= limit:
        return [text]
    pieces, current = [], ""
    for sentence in split_sentences(text):
        while len(html.escape(sentence)) > limit:  # one endless sentence: cut it
            cut = limit // 2
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        if current and len(html.escape(current + " " + sentence)) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def with_note(reply: Reply, note: str) -> Reply:
    """Add a note about how the message came (an edit, a caption) after any referral.

    The referral stays the first line: nothing may come before what to do and how fast.
    """
    segments = list(reply.segments)
    at = next((n for n, s in enumerate(segments) if s.kind not in _REFERRAL_KINDS), len(segments))
    segments.insert(at, Segment("info", note))
    return dataclasses.replace(reply, segments=tuple(segments))


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Offer the quick replies as inline buttons whose presses continue the conversation.

    A check question's buttons carry its key ("fall.3|No"): a press is applied only while
    that very question is pending, so a double tap or an old keyboard changes nothing.
    """
    if not reply.quick_replies:
        return None
    prefix = f"{reply.question}{_KEY_END}" if reply.question else ""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text, callback_data=f"{prefix}{text}".encode()[:64].decode(errors="ignore")
                )
                for text in reply.quick_replies
            ]
        ]
    )


class TelegramFrontEnd:
    """Turns Telegram updates into dialogue turns and replies into Telegram messages."""

    def __init__(self, settings: Settings, runtime: Runtime, store: ConversationStore) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.flood = FloodGate(settings.flood_messages_per_minute)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
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
            .concurrent_updates(True)
            .post_init(self._post_init)
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
        return application

    async def _post_init(self, application: Application) -> None:
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
        key, _, label = query.data.rpartition(_KEY_END)
        if isinstance(query.message, Message) and query.message.reply_markup is not None:
            with contextlib.suppress(BadRequest):  # pressed twice: the keyboard is gone
                await query.edit_message_reply_markup(reply_markup=None)
        await self._converse(update, context, label, press=(query, key or None))

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Delete everything stored about this conversation, then say so."""
        chat_key = self._chat_key(update)
        async with self._locks[chat_key]:
            state = await asyncio.to_thread(self.store.load, chat_key)
            existed = await asyncio.to_thread(self.store.forget, chat_key)
        text = (
            "Done: I deleted everything I had stored about this chat: the conversation and "
            f"the facts that change my safety advice ({state.facts.describe()})."
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
        if user is not None and not self.flood.allow(user.id):
            screening = await asyncio.to_thread(self.runtime.safety.screen_with_learned, text)
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
                state = await asyncio.to_thread(self.store.load, chat_key)
                if press is not None:
                    query, key = press
                    if key is not None and key != state.question_key():
                        await query.answer(ALREADY_ANSWERED)  # stale: nothing changes
                        return
                    await query.answer()
                turn = await asyncio.to_thread(self.runtime.dialogue.respond, state, text)
                # Saved before sending: a restart never loses a turn the person has seen.
                await asyncio.to_thread(self.store.save, chat_key, turn.state)
            finally:
                typing.cancel()
            reply = turn.reply
            if note:  # rendered with the reply, so the 4,096-character split still holds
                reply = with_note(reply, note)
            messages = render_html(reply)
            for number, body in enumerate(messages):
                last = number == len(messages) - 1
                await context.bot.send_message(
                    chat.id,
                    body,
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard(reply) if last else None,
                )
        if self.settings.log_message_text:
            logger.info("chat %s said %r", chat.id, text)
        logger.info(
            "chat %s: %s reply in %.0f ms",
            chat.id,
            turn.reply.triage.label,
            (time.perf_counter() - started) * 1000,
        )

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


def run_bot(settings: Settings) -> None:
    """Run the bot until interrupted: polling by default, a webhook when configured."""
    runtime = Runtime(settings)
    runtime.index  # noqa: B018 - fail now, with a clear message, if there is no index
    store = ConversationStore(settings.state_db)
    application = TelegramFrontEnd(settings, runtime, store).build()
    try:
        asyncio.run(_check_connection(application, settings))
        if settings.telegram_mode == "webhook":
            if not settings.webhook_url:
                raise ConfigError("webhook mode needs HIPBOT_WEBHOOK_URL (the public https URL)")
            secret = (
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            )
            application.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=settings.webhook_path,
                webhook_url=settings.webhook_url.rstrip("/") + "/" + settings.webhook_path,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    finally:
        store.close()


async def _check_connection(application: Application, settings: Settings) -> None:
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
