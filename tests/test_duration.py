from datetime import date

import pytest

from bot.safety import Level, default_rulebook, screen

READER = default_rulebook().durations
TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "long"),
    [
        ("hip sore for 3 wks", True),
        ("6wks now", True),
        ("a year and a half of on and off pain", True),
        ("for a month now", True),
        ("sore since january", True),
        ("aching ever since the half in april", True),
        ("since xmas", True),
        ("a couple of weeks", True),
        ("for a fortnight", True),
        ("sore for 3 days", False),
        ("since last week", False),
        ("ten days", False),
        ("two years ago i broke my hip", False),
        ("three weeks later it was fine", False),
        ("since november", True),  # on 30 November: four weeks
        ("since the fall i can't stand", False),  # a fall, not autumn
    ],
)
def test_durations_are_read_the_ways_people_write_them(text, long):
    assert ("for a long while" in READER.mark(text, TODAY)) is long


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("hip sore since january, any ideas", Level.DOCTOR),
        ("3 wks of hip ache, no change", Level.DOCTOR),
        ("sore hip for 2 weeks but getting better every day", Level.SELF_CARE),
        ("been running for 3 years and my hip hurts after today's run", Level.SELF_CARE),
        ("hip sore for 3 days after the marathon", Level.SELF_CARE),
    ],
)
def test_pain_lasting_two_weeks_or_more_is_a_doctor_referral(text, level):
    assert screen(text).level == level
