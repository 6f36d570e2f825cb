"""The dialogue core: plain Python that needs neither Telegram nor a terminal.

Split by concern: `intents` (what a message asks of the bot, phrase tables as data),
`policy` (the one ordered decision of what a reply says), `answering` (what the articles
say, and partial coverage), `topics` (which topic a follow-up is about), `check` (the
scripted safety questions), `referral` (what to do and how fast), `texts` (every fixed
sentence, as data), `state` and `reply`.
"""

from bot.dialogue.intents import Intent, classify, parse_check_answer
from bot.dialogue.policy import DialogueManager
from bot.dialogue.referral import referral_segments, respond_before_model
from bot.dialogue.reply import Reply, Segment, Turn
from bot.dialogue.state import CheckProgress, ConversationState
from bot.text import clean_message

__all__ = [
    "CheckProgress",
    "ConversationState",
    "DialogueManager",
    "Intent",
    "Reply",
    "Segment",
    "Turn",
    "classify",
    "clean_message",
    "parse_check_answer",
    "referral_segments",
    "respond_before_model",
]
