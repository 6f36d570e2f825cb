"""Answer content on retired fresh rounds, kept as regression tests with thresholds.

A round's first-run figure is in the README; once retired it was tuned on, so these
thresholds sit a little under what the code reaches on it now (not 100%): they catch a
change that breaks answers, not prove quality. Quality is the next fresh round's first run.
"""

import pytest

from bot.eval_answers import evaluate_answers, missing_facts
from bot.evaluation import read_jsonl
from tests.conftest import DATA

# round: (items passed, follow-ups, not covered declined, answerable declined at most)
RETIRED = {
    "answers-r1": (0.78, 0.85, 0.25, 0.05),
    "answers-r2": (0.70, 0.70, 0.25, 0.06),
    "answers-r3": (0.75, 0.75, 0.45, 0.08),
    "answers-r4": (0.68, 0.55, 0.60, 0.17),
    "answers-r5": (0.80, 0.70, 0.75, 0.05),
    "answers-r6": (0.72, 0.78, 0.40, 0.07),
    "answers-r7": (0.75, 0.76, 0.56, 0.07),
    "answers-r8": (0.85, 0.95, 0.60, 0.03),
    "answers-r9": (0.78, 0.70, 0.39, 0.03),
    "answers-r10": (0.78, 0.80, 0.40, 0.03),
    "answers-r11": (0.78, 0.85, 0.40, 0.03),
    "answers-r12": (0.86, 0.75, 0.76, 0.04),
    # 0.04 -> 0.06 declined: the safety model retrained on rounds 12-25 reads one more
    # benign question here as a red flag (see the README's notes on round 26).
    "answers-r13": (0.85, 0.85, 0.63, 0.06),
    "answers-r14": (0.93, 0.88, 0.88, 0.03),
}


@pytest.mark.parametrize("stem", sorted(RETIRED))
def test_retired_answer_rounds_hold_their_thresholds(stem, runtime):
    items = read_jsonl(DATA / "rounds" / f"{stem}-items.jsonl")
    report = evaluate_answers(runtime.dialogue, items)
    passed, follow_ups, declined, answerable_declined = RETIRED[stem]
    assert report.share() >= passed, report.misses
    assert report.share("followup") >= follow_ups, report.misses
    assert report.share("decline") >= declined, report.misses
    assert report.answerable_declined_share <= answerable_declined, report.misses


def test_a_fact_matches_any_of_its_wordings_across_punctuation():
    reply = "Do ten reps on one side, before flipping over. Hold for 5-10 seconds!"
    assert missing_facts(reply, [["10 reps", "ten reps"], ["5 10 seconds"]]) == []
    assert missing_facts(reply, [["twenty reps"], ["flipping over"]]) == ["twenty reps"]
    assert missing_facts(reply, [["reps on one"]]) == []
    assert missing_facts(reply, [["ten rep"]]) == ["ten rep"]  # whole words only


def test_follow_ups_and_declines_are_scored_on_the_last_reply(runtime):
    items = [
        {
            "id": "t1",
            "kind": "followup",
            "turns": ["how do i do clamshells", "how many reps?"],
            "facts": [["ten reps"]],
            "decline": False,
        },
        {
            "id": "t2",
            "kind": "decline",
            "turns": ["how long does a hip pointer take to heal"],
            "facts": [],
            "decline": True,
        },
    ]
    report = evaluate_answers(runtime.dialogue, items)
    assert report.share("followup") == 1.0 and report.share("decline") == 1.0, report.misses
