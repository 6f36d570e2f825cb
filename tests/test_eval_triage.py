"""Retired fresh rounds as regression tests: thresholds a little under today's figures.

The learned layer is trained on each machine and differs a little from one CPU to another
(see the README), so a threshold leaves room for about one item of that drift.

Each round's first run is recorded in the README; these thresholds only guard against a
change that makes things worse. Rounds 1-25 are in the learned layer's training data
(rounds 6-11 since round 18, 12-24 since round 25, 25 since round 26), so their figures here are
figures on training data; the first runs in the README are the measurements. Rounds 26 to
28 are not in the training data (the README's notes on rounds 27 and 28 say why).
"""

import pytest

from bot.eval_triage import evaluate_triage, reply_level
from bot.evaluation import read_jsonl
from bot.safety import Level
from tests.conftest import DATA

ROUNDS = DATA / "rounds"
# round: (emergency exact, urgent-or-worse, doctor-or-worse, benign over-triage at most,
#         conversations at the right level)
THRESHOLDS = {
    "safety-r1": (0.94, 0.95, 0.93, 0.12, 0.80),
    "safety-r2": (0.94, 0.95, 0.90, 0.11, 0.85),
    "safety-r3": (0.94, 0.96, 0.93, 0.05, 0.80),
    "safety-r4": (0.94, 0.96, 0.94, 0.11, 0.72),
    "safety-r5": (0.94, 0.96, 0.92, 0.11, 0.80),
    "safety-r6": (0.96, 0.95, 0.95, 0.14, 0.92),
    "safety-r7": (0.96, 0.95, 0.92, 0.10, 0.62),
    "safety-r8": (0.90, 0.95, 0.90, 0.14, 0.75),
    "safety-r9": (0.95, 0.95, 0.93, 0.10, 0.65),
    "safety-r10": (0.93, 0.95, 0.95, 0.14, 0.78),
    "safety-r11": (0.94, 0.97, 0.93, 0.08, 0.60),
    "safety-r12": (0.94, 0.96, 0.93, 0.12, 0.78),
    "safety-r13": (0.96, 0.97, 0.93, 0.09, 0.85),
    "safety-r14": (0.93, 0.95, 0.95, 0.05, 0.84),
    "safety-r15": (0.93, 0.97, 0.95, 0.05, 0.90),
    "safety-r16": (0.96, 0.96, 0.97, 0.10, 0.88),
    "safety-r17": (0.96, 0.96, 0.95, 0.08, 0.84),
    # 0.08 -> 0.10 benign: the model retrained after round 22 reads two more long benign
    # round-18 stories as serious (see the README's notes on round 22).
    "safety-r18": (0.97, 0.95, 0.96, 0.10, 0.87),
    "safety-r19": (0.94, 0.98, 0.92, 0.09, 0.89),
    "safety-r20": (0.96, 0.97, 0.91, 0.03, 0.85),
    "safety-r21": (0.96, 0.97, 0.97, 0.05, 0.92),
    "safety-r22": (0.96, 0.98, 0.98, 0.03, 0.90),
    "safety-r23": (0.96, 0.97, 0.97, 0.09, 0.92),
    "safety-r24": (0.93, 0.97, 0.97, 0.05, 0.91),
    "safety-r25": (0.97, 0.98, 0.95, 0.05, 0.96),
    "safety-r26": (0.97, 0.98, 0.97, 0.02, 0.93),
    "safety-r27": (0.97, 0.98, 0.96, 0.14, 0.92),
    "safety-r28": (0.97, 0.98, 0.95, 0.07, 0.96),
}


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_retired_round_holds_its_thresholds(name, runtime):
    messages = read_jsonl(ROUNDS / f"{name}-messages.jsonl")
    conversations = read_jsonl(ROUNDS / f"{name}-conversations.jsonl")
    report = evaluate_triage(runtime.dialogue, messages, conversations)
    emergency, urgent, doctor, benign, talks = THRESHOLDS[name]
    assert report.emergency_exact >= emergency, report.misses
    assert report.urgent_or_worse >= urgent, report.misses
    assert report.doctor_or_worse >= doctor, report.misses
    assert report.benign_over_triage <= benign, report.misses
    assert report.conversations_right >= talks, report.misses


def test_rounds_are_shaped_as_the_brief_asks():
    for name in THRESHOLDS:
        messages = read_jsonl(ROUNDS / f"{name}-messages.jsonl")
        levels = [m["level"] for m in messages]
        assert len(messages) >= 150
        assert all(levels.count(level.label) >= 30 for level in Level)
        assert sum(m["kind"] == "long_story" for m in messages) >= 25
        assert len(read_jsonl(ROUNDS / f"{name}-conversations.jsonl")) >= 20


def test_a_fact_told_earlier_makes_a_later_question_a_referral(runtime):
    turns = ["I'm on warfarin for my heart", "my hip is sore after runs", "can I take ibuprofen?"]
    assert reply_level(runtime.dialogue, turns) == Level.DOCTOR
    assert reply_level(runtime.dialogue, turns[1:]) == Level.SELF_CARE


def test_a_fall_told_earlier_and_a_leg_that_will_not_move_now_is_an_emergency(runtime):
    turns = ["slipped on the ice on my run this morning", "now I can't move my leg at all"]
    assert reply_level(runtime.dialogue, turns) == Level.EMERGENCY


def test_an_emergency_reply_holds_one_urgency(runtime):
    from bot.dialogue import ConversationState

    text = "fell off my bike, can't stand, and my hip has been hot and swollen with a fever"
    reply = runtime.dialogue.respond(ConversationState(), text).reply
    assert reply.triage == Level.EMERGENCY
    assert reply.text.startswith("Call")
    assert "get seen today" not in reply.text.lower()


def test_the_safety_model_was_trained_on_the_current_training_data(runtime):
    from bot.safety.training import data_hash, training_files

    model = runtime.safety.learned.model
    current = data_hash(training_files(root=DATA.parent.parent))
    assert model.manifest["data_hash"] == current, "run `make safety-model`"
    assert model.level_weights.shape[0] == len(Level)
    assert set(model.rules) <= {rule.rule_id for rule in runtime.safety.book.rules}
    thresholds = model.thresholds
    assert 0 < thresholds["ask"] <= thresholds["urgent"] < 1


def test_a_warning_sign_past_the_ten_thousandth_character_is_found(runtime):
    from bot.dialogue import ConversationState

    text = (
        "I love running and my hip is fine. " * 400 + "Since this morning I can't stand on my leg."
    )
    assert len(text) > 12_000
    reply = runtime.dialogue.respond(ConversationState(), text).reply
    assert reply.triage >= Level.URGENT
    question = runtime.dialogue.respond(ConversationState(), text.replace("can't", "can")).reply
    assert "searched the articles with its beginning only" in question.text
