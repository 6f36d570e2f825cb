"""The dialogue's fixed sentences, read from texts.toml and checked on load."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import HipbotError
from bot.tables import parse_table


class ReplyTexts(BaseModel):
    """One field per fixed sentence; texts.toml must give each, and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    disclaimer: str
    reminder: str
    escalated: str
    injection: str
    long_message: str
    empty: str
    greeting: str
    thanks: str
    goodbye: str
    reset: str
    not_english: str
    bare_answer: str
    offer: str
    not_covered: str
    not_mentioned: str
    aspect_missing: str
    all_said: str
    if_ever: str
    check_start: str
    check_resume: str
    check_one: str
    check_reassured: str
    check_skipped: str
    check_not_sure: str
    check_clear: str
    no_sources: str
    unknown_command: str
    help: str
    guide_start: str
    guide_answer: str
    guide_section: str
    guide_nothing: str
    guide_more: str
    checkin_scheduled: str
    checkin_declined: str
    checkin_cancelled: str
    checkin_none: str
    checkin_status: str
    checkin_better: str
    checkin_same: str
    feedback_thanks: str
    feedback_nothing: str


def parse_texts(text: str) -> ReplyTexts:
    """Parse and check a texts table; a missing or unknown key raises HipbotError."""
    data = parse_table(text, "texts.toml", HipbotError)
    try:
        return ReplyTexts.model_validate(data)
    except ValidationError as error:
        raise HipbotError(f"texts.toml: {error}") from None


@cache
def reply_texts() -> ReplyTexts:
    """Return the checked texts shipped with hipbot."""
    return parse_texts(files("bot.dialogue").joinpath("texts.toml").read_text(encoding="utf-8"))
