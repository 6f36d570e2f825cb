"""The data tables are checked on load: a mistake names the file and the entry."""

import re

import pytest

from bot.aspects import AspectTableError, aspect_of, aspects, parse_aspects
from bot.dialogue.intents import (
    Intent,
    PhraseTableError,
    classify,
    corrects_earlier,
    parse_phrase_tables,
    phrase_tables,
)
from bot.dialogue.texts import parse_texts, reply_texts
from bot.errors import HipbotError
from bot.unmentioned import UnmentionedTableError, parse_question_phrases


def test_the_shipped_tables_load():
    assert {a.name for a in aspects()} >= {"definition", "cause", "how_to", "doctor", "dose"}
    assert {c.name for c in phrase_tables().commands} >= {"help", "quit", "forget", "reset"}
    assert "{offer}" in reply_texts().greeting


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[aspect]]\nname = "x"\nasks = ["("]', "aspect 'x', asks: bad pattern"),
        ('[[aspect]]\nname = "x"\nasks = ["a"]\nneeds = "b"', "needs without missing"),
        ('[[aspect]]\nname = "x"\nasks = ["a"]\nfollow_up = "no topic"', "lacks {topic}"),
        ('[[aspect]]\nname = "x"\nasks = ["a"]\nwhen = "b"', "unknown ['when']"),
        ("[[aspect]", "aspects.toml:"),
    ],
)
def test_a_broken_aspect_table_names_the_mistake(text, message):
    with pytest.raises(AspectTableError, match=re.escape(message)):
        parse_aspects(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pain = "("', "pain: bad pattern"),
        ('pain = "a"\ndescribes = ["no word"]', "lacks {word}"),
        ('pain = "a"\npain_sites = ["(\\\\w+) pain"]', "lacks (?P<site>)"),
        ('pain = "a"\nsites = []', "unknown ['sites']"),
    ],
)
def test_a_broken_question_phrase_table_names_the_mistake(text, message):
    with pytest.raises(UnmentionedTableError, match=re.escape(message)):
        parse_question_phrases(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[intent]]\nname = "hello"\nwhole = ["hi"]', "unknown intent 'hello'"),
        ('[[intent]]\nname = "help"\nwhole = ["("]', "intent 'help': bad pattern"),
        ('[[command]]\nname = "x"\nabout = "y"', "an intent, or only"),
        ('[[answer]]\nname = "maybe"\nstarts = ["m"]', "answer 'maybe' is unknown"),
    ],
)
def test_a_broken_phrase_table_names_the_mistake(text, message):
    with pytest.raises(PhraseTableError, match=re.escape(message)):
        parse_phrase_tables(text)


def test_a_reply_texts_table_must_give_every_text_and_nothing_else():
    with pytest.raises(HipbotError, match=r"texts\.toml"):
        parse_texts('disclaimer = "x"')


def test_questions_get_the_aspect_they_ask():
    assert aspect_of("how many reps?").name == "repetitions"
    assert aspect_of("how long do i hold it").name == "hold_time"
    assert aspect_of("how long does a hip pointer take to heal").name == "healing_time"
    assert aspect_of("how many mg of ibuprofen").name == "dose"
    # How long an effect lasts is not how long it takes to start.
    assert aspect_of("how long does a cortisone shot last before it wears off").name == "lasting"
    assert aspect_of("how long till a cortisone shot starts working").name == "healing_time"
    assert aspect_of("how long should i rest? ran a marathon last week").name != "lasting"
    assert aspect_of("is treadmill running easier on the hips than road").name == "comparison"
    assert aspect_of("why is it worse at night").name == "cause"
    assert aspect_of("whats the knee pull-in plank, how do u set up for it").name != "repetitions"
    assert aspect_of("i strained my glute med doing speed work") is None
    assert aspect_of("which hip exercises should i do?").lists
    assert not aspect_of("how do i do the floor bridge").lists


def test_commands_and_corrections_are_read_from_the_tables():
    assert classify("/help") == Intent.HELP and classify("/start@hipbot") == Intent.GREETING
    assert classify("/frobnicate") == Intent.UNKNOWN_COMMAND
    assert corrects_earlier("sorry, I meant my friend fell") and corrects_earlier("wait no")
    assert not corrects_earlier("I fell on my run and I'm sorry to bother you")
    assert corrects_earlier("but no, i didn't land on my hip, it was my shoulder")
    assert not corrects_earlier("but it hurts when I walk, no idea why")
