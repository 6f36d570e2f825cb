"""Telegram rendering of the dialogue core's replies: HTML messages and quick-reply buttons."""

from __future__ import annotations

import dataclasses
import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot.dialogue import Reply, Segment
from bot.text import split_sentences

_REFERRAL_KINDS = {"emergency", "urgent", "doctor"}
KEY_END = "|"
PREFIX = {"emergency": "🚨 ", "urgent": "⚠️ ", "doctor": "🩺 "}
# The rating buttons under an answer from the articles: a press is the command typed.
RATING = (("👍 Helpful", "/good"), ("👎 Not helpful", "/bad"))


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

    A question's buttons carry its key ("fall.3|No"): a press is applied only while that
    very question is pending, so a double tap or an old keyboard changes nothing. An answer
    from the articles gets a row of its own to rate it (`/good`, `/bad`).
    """
    rows = []
    if reply.quick_replies:
        prefix = f"{reply.question}{KEY_END}" if reply.question else ""
        rows.append(
            [
                InlineKeyboardButton(
                    text, callback_data=f"{prefix}{text}".encode()[:64].decode(errors="ignore")
                )
                for text in reply.quick_replies
            ]
        )
    if reply.rateable:
        rows.append([InlineKeyboardButton(text, callback_data=data) for text, data in RATING])
    return InlineKeyboardMarkup(rows) if rows else None


def without_rating(markup: InlineKeyboardMarkup) -> InlineKeyboardMarkup | None:
    """Return a keyboard without its rating row (pressed: the other buttons stay)."""
    ratings = {data for _, data in RATING}
    rows = [
        row
        for row in markup.inline_keyboard
        if not all(button.callback_data in ratings for button in row)
    ]
    return InlineKeyboardMarkup(rows) if rows else None
