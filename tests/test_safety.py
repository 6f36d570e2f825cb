from importlib.resources import files

import pytest

from bot.config import Settings
from bot.evaluation import evaluate_safety, read_jsonl
from bot.safety import Level, caveat_texts, default_rulebook, referral_text, screen
from bot.safety.rules import RuleBookError, load_rulebook
from tests.conftest import DATA

BOOK = default_rulebook()
REDFLAGS_RULES = {
    "fracture_after_trauma",
    "cannot_bear_weight",
    "severe_unrelenting",
    "stress_fracture",
    "septic_arthritis",
    "slipped_epiphysis",
    "avulsion",
    "cauda_equina",
    "dvt",
    "pulmonary_embolism",
    "avascular_necrosis",
    "malignancy",
    "radiating_pain",
    "nerve_symptoms",
    "persistent_pain",
    "labral_tear",
    "medication_risk",
}


@pytest.fixture(scope="module")
def full_screen(runtime):
    return runtime.safety


SHIPPED_RULES = files("bot.safety").joinpath("rules.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("learned_sureness = 0.375\n", "", "needs asks_when with learned_sureness"),
        ("learned_sureness = 0.375", "learned_sureness = 1.5", "in [0, 1)"),
        ('check_red = "yes"', 'check_red = "maybe"', "unknown level or check_red"),
        ('{ all = ["trauma", "cannot_stand"] }', '{ all = ["trauma", "cant_stand"] }', "unknown"),
        ("negative_form = true", "negative_forms = true", "unknown key 'negative_forms'"),
    ],
)
def test_a_mistake_in_the_rule_book_names_its_line(old, new, message):
    broken = SHIPPED_RULES.replace(old, new, 1)
    assert broken != SHIPPED_RULES
    with pytest.raises(RuleBookError, match=r"rules\.toml line \d+: .*") as error:
        load_rulebook(broken)
    assert message in str(error.value)
    named = int(str(error.value).split("line ")[1].split(":")[0])
    changed = SHIPPED_RULES[: SHIPPED_RULES.index(old)].count("\n") + 1
    assert changed - 45 <= named <= changed  # the rule's or concept's own lines


def fired(text):
    return {finding.rule_id for finding in screen(text).fired}


def test_every_reference_rule_is_a_reviewed_record():
    assert {rule.rule_id for rule in BOOK.rules} == REDFLAGS_RULES
    for rule in BOOK.rules:
        assert rule.referral and rule.source and rule.title
        assert len(rule.examples) >= 2 and rule.not_examples
        assert rule.triggers


@pytest.mark.parametrize(
    ("rule_id", "example"),
    [(rule.rule_id, example) for rule in BOOK.rules for example in rule.examples],
)
def test_rules_catch_their_own_examples(rule_id, example):
    assert rule_id in fired(example)


@pytest.mark.parametrize(
    ("rule_id", "example"),
    [(rule.rule_id, example) for rule in BOOK.rules for example in rule.not_examples],
)
def test_rules_ignore_their_negative_examples(rule_id, example):
    assert screen(example).level == Level.SELF_CARE


def test_learned_layer_leaves_most_negative_examples_alone(full_screen):
    examples = [example for rule in BOOK.rules for example in rule.not_examples]
    raised = [e for e in examples if full_screen.screen_with_learned(e).level > Level.SELF_CARE]
    assert len(raised) <= 0.05 * len(examples), raised


@pytest.mark.parametrize(
    ("text", "level", "context"),
    [
        # 1. negated, and 4. negation scope ends at "but" or a full stop
        ("no fever, no redness, hip just achy", Level.SELF_CARE, None),
        ("no fever but my hip is hot and swollen", Level.URGENT, "present"),
        ("I don't have a temperature. The hip is red and hot to touch", Level.URGENT, "present"),
        ("without any swelling or warmth in my calf", Level.SELF_CARE, None),
        # 2. reassurance with no negation word
        ("I can walk fine and I'm peeing normally", Level.SELF_CARE, None),
        # 3. the symptom is itself a negative
        ("can't put weight on it since this morning", Level.URGENT, "present"),
        ("I can't feel anything down there when I wipe", Level.EMERGENCY, "present"),
        ("hip is not improving after three weeks of rest", Level.DOCTOR, "present"),
        ("no better after a fortnight of ibuprofen", Level.DOCTOR, "present"),
        # 5. hedged counts for emergency and urgent rules
        ("maybe a temperature? and the hip is hot and swollen", Level.URGENT, "hedged"),
        ("I think my leg looks shorter since I fell", Level.EMERGENCY, "hedged"),
        # 6. someone else: not the user's flag, unless they are with the user now
        ("my friend had a stress fracture last year", Level.SELF_CARE, None),
        ("my son can't walk on it since this morning", Level.URGENT, "with_person"),
        ("my mate is on the ground after a fall and can't get up", Level.EMERGENCY, "with_person"),
        ("my sister's hip clicks and locks", Level.SELF_CARE, None),
        # ... nor when the writer sets that story apart from their own
        ("my mate fell and can't stand. for me: best stretch?", Level.SELF_CARE, None),
        ("my mate fell and can't stand on his leg. what do i do?", Level.EMERGENCY, "with_person"),
        ("dad fell, can't get up, he's next to me. as for me: what now?", Level.EMERGENCY, None),
        # confusion said as a negative is not negated by its own "not"
        ("fever, hip hot and swollen, flatmate says im not making sense", Level.EMERGENCY, None),
        # 7. past and healed, hypothetical
        ("broke my hip ten years ago, fully healed", Level.SELF_CARE, None),
        ("broke my hip skiing 10 years ago and have been fine ever since", Level.SELF_CARE, None),
        # "ever since" goes on now; "more than it used to" is a change up to now
        ("groin aches at night ever since i upped my mileage", Level.URGENT, "present"),
        ("my son is 11, he limps and his foot turns out more than it used to", Level.URGENT, None),
        ("what if I get numbness in my groin?", Level.SELF_CARE, None),
        # an "if" that sets no condition, or tells how they get about now
        ("if im honest i drink a lot, deep ache in my groin for a few weeks", Level.DOCTOR, None),
        ("tripped today, can only shuffle if i hold onto the furniture", Level.EMERGENCY, None),
        # holding on asked about for an exercise, not how they get about
        ("side leg raises, do i need to hold onto something?", Level.SELF_CARE, None),
        ("i need to hold onto the walls to get to the loo", Level.URGENT, "present"),
        # a new time starts a new clause: "all clear" closes the cancer, not the ache
        ("had cancer years ago, all clear, and the last 3 weeks my hip aches", Level.DOCTOR, None),
        ("is it normal if I can't put weight on it?", Level.URGENT, "present"),
        # a question about a sign in general, naming nobody who has it
        ("is numbness in the groin a bad sign for runners?", Level.SELF_CARE, None),
        ("is it bad that I can't walk?", Level.URGENT, "present"),
        ("my groin is numb. is numbness serious?", Level.EMERGENCY, "present"),
        ("is a clicking hip a worry? it's been clicking for weeks", Level.DOCTOR, "present"),
        # 8. typos and slang
        ("cant put wieght on my leg", Level.URGENT, "present"),
        ("got a feaver and my hip is hot n swolen", Level.URGENT, "present"),
        ("numbnes round my privates", Level.EMERGENCY, "present"),
        # 9. idioms
        ("my hip is killing me after hill reps", Level.SELF_CARE, None),
        ("crashed on the sofa after my long run, hip stiff", Level.SELF_CARE, None),
        ("i cant stand treadmill running, is road better?", Level.SELF_CARE, None),
        ("dying to get back out there", Level.SELF_CARE, None),
        ("broke my PB today, hips a bit tight", Level.SELF_CARE, None),
        # 10. the bursitis look-alike vs pain at rest every night
        ("outer hip hurts at night only when I lie on that side", Level.SELF_CARE, None),
        ("my hip hurts every night even lying still on my back", Level.DOCTOR, "present"),
        ("hip aches in bed whichever way i lie", Level.DOCTOR, "present"),
        # a comparative is still the sign; a child who cannot even with help is an emergency
        ("one thigh is fatter n warmer than the other since the flight", Level.URGENT, "present"),
        ("my son (11) cant put his foot down even with us holding him up", Level.EMERGENCY, None),
        ("it clicks and catches on half my runs", Level.DOCTOR, "present"),
        ("is it a tear? it's been catching since june", Level.DOCTOR, "present"),
        # the writer's own question answered no; an age in years is the past
        ("did i fall? no. cant put weight on it", Level.URGENT, "present"),
        ("when I was 23 I crashed and dislocated it, fine for years", Level.SELF_CARE, None),
        # the course: worse with an adverb, reached walking, or better again
        ("my hip has been getting gradually worse since may", Level.DOCTOR, "present"),
        ("at first only on runs, now it hurts even when i walk", Level.DOCTOR, "present"),
        ("couldn't do stairs on monday but it's getting better every day", Level.SELF_CARE, None),
        ("groin aches at night since i upped my miles, it didn't use to", Level.URGENT, "present"),
        # advice asked for the writer's own state now is not a hypothetical
        ("can i race if my hip is red and swollen? i have a fever", Level.URGENT, "present"),
        ("should i go to a&e if my hip ever gets hot and red?", Level.SELF_CARE, None),
        # a deformity said with an adverb, with no fall
        ("no fall but my leg suddenly looks shorter than the other", Level.EMERGENCY, "present"),
        # slang for a fall; "not sure if" hedges; "pain-free for a year" is no lasting pain
        ("stacked it on the ice and can barely move my leg", Level.EMERGENCY, "present"),
        ("one calf swollen, not sure if i'm breathless", Level.EMERGENCY, "hedged"),
        ("stress fracture two years ago, pain-free for over a year now", Level.SELF_CARE, None),
        ("went from 20 to 60 km a week, groin hurts with every step", Level.URGENT, "present"),
        ("does it mean anything if it hurts to hop on my left leg?", Level.URGENT, "present"),
        ("no temp but my hip's gone hot, swollen and red since monday", Level.URGENT, "present"),
        # a medicine given up is not taken; "on and off" it still is
        ("off blood thinners since 2020, legs fine, can i take advil?", Level.SELF_CARE, None),
        ("on and off steroids for years, deep groin ache for a month", Level.DOCTOR, "present"),
        # numbness "down there" said every way; "niggling" is not "tingling"
        ("my crotch has sort of gone to sleep since my back went", Level.EMERGENCY, "hedged"),
        ("pins and needles round my nether regions, back sore", Level.EMERGENCY, "present"),
        ("i don't really feel when i need a wee anymore", Level.EMERGENCY, "present"),
        ("deep groin pain thats been niggling for a week when i run", Level.SELF_CARE, None),
        ("peeing fine, nothing numb down below, back a bit stiff", Level.SELF_CARE, None),
        # a period that stopped last year is still stopped; tired legs are no deformity
        ("periods stopped last year, now my groin hurts when i run", Level.URGENT, "present"),
        ("legs turned to jelly at the end of the race, fine now", Level.SELF_CARE, None),
        ("limped for an hour after the race, walking fine today", Level.SELF_CARE, None),
    ],
)
def test_context_pitfalls(text, level, context):
    result = screen(text)
    assert result.level == level, [(f.rule_id, f.context) for f in result.findings]
    if context:
        assert {finding.context for finding in result.fired} == {context}


def test_hypothetical_and_negated_mentions_are_kept_for_the_safety_net():
    result = screen("what if I get numbness in my groin?")
    assert result.level == Level.SELF_CARE
    assert [(f.rule_id, f.context) for f in result.mentioned] == [("cauda_equina", "hypothetical")]


def test_findings_name_the_words_that_fired():
    finding = screen("I slipped on ice and heard a crack in my hip").fired[0]
    assert finding.rule_id == "fracture_after_trauma"
    assert "slipped" in finding.words and "heard a crack" in finding.words


def test_emergency_wins_over_lower_levels_in_the_same_message():
    result = screen("I'm on warfarin and I fell and now I can't stand up")
    assert result.level == Level.EMERGENCY
    assert {"fracture_after_trauma", "cannot_bear_weight"} <= {f.rule_id for f in result.fired}


@pytest.mark.parametrize(
    ("text", "caveats", "level"),
    [
        ("can I take ibuprofen for my hip?", ("nsaid",), Level.SELF_CARE),
        ("how much paracetamol can I take", ("paracetamol",), Level.SELF_CARE),
        ("I'm on apixaban, is naproxen ok?", ("nsaid",), Level.DOCTOR),
        ("I'm pregnant, can I take ibuprofen?", ("nsaid",), Level.DOCTOR),
        ("can my 12 year old have aspirin for her hip?", ("aspirin",), Level.DOCTOR),
        ("I have asthma, is advil ok?", ("nsaid",), Level.DOCTOR),
        ("I have asthma. is nurofen ok for a day or two?", ("nsaid",), Level.DOCTOR),
        ("I had a stomach ulcer last year, can I take nurofen?", ("nsaid",), Level.DOCTOR),
        ("got ckd. if not nurofen could i take aspirin?", ("nsaid", "aspirin"), Level.DOCTOR),
        ("came off warfarin in 2019, is ibuprofen ok now?", ("nsaid",), Level.SELF_CARE),
        # two anti-inflammatories at once: one taken every day, another asked about
        ("on diclofenac daily for my back, can i add ibuprofen?", ("nsaid",), Level.DOCTOR),
        ("can I take ibuprofen every day after long runs?", ("nsaid",), Level.SELF_CARE),
        ("is a cortisone injection worth it?", ("injection",), Level.SELF_CARE),
    ],
)
def test_medication_questions_get_caveats_and_risks_go_to_a_doctor(text, caveats, level):
    result = screen(text)
    assert result.caveats == caveats
    assert result.level == level
    texts = caveat_texts(result.caveats)
    assert texts[-1].startswith("Check with a pharmacist or doctor")


def test_emergency_wording_comes_from_settings():
    rule = BOOK.rule("cauda_equina")
    default = referral_text(rule, Settings(_env_file=None))
    assert "999" in default and "112" in default and "911" in default
    custom = referral_text(
        rule, Settings(_env_file=None, emergency_number="000", emergency_department="the ED")
    )
    assert "000" in custom and "the ED" in custom and "999" not in custom


def test_learned_layer_catches_a_paraphrase_the_rules_miss(full_screen):
    text = "I went down on the ice and my leg is bent the wrong way"
    assert screen(text).level == Level.SELF_CARE
    result = full_screen.screen_with_learned(text)
    assert result.level >= Level.URGENT
    assert any(finding.source == "learned" for finding in result.fired)


def test_learned_layer_only_ever_raises(full_screen):
    for item in read_jsonl(DATA / "safety_messages.jsonl"):
        rules_only = screen(item["text"])
        combined = full_screen.screen_with_learned(item["text"])
        assert combined.level >= rules_only.level
        assert set(rules_only.findings) <= set(combined.findings)


def test_learned_layer_reads_reassurance(full_screen):
    result = full_screen.screen_with_learned("I can walk fine, no numbness anywhere")
    assert result.level == Level.SELF_CARE


def test_learned_layer_raises_a_red_flag_the_rules_weighed_only_when_sure(full_screen):
    # The rules read "can't walk on it" as urgent; the model leans to an emergency (P 0.24,
    # just past its threshold): not sure enough to overrule the rules' reading of that sign.
    text = "i dont think i can walk on it? been hobbling holding the walls round the flat"
    rules_only = screen(text)
    assert rules_only.level == Level.URGENT
    reading = max(full_screen.learned.read(text), key=lambda r: r.level)
    assert reading.level == Level.EMERGENCY
    assert full_screen.screen_with_learned(text).level == Level.URGENT


def test_learned_layer_needs_sureness_for_a_story_set_apart(full_screen):
    text = "my sisters boy (13) has been limping, shes taking him to the doc. for me, stretches?"
    told_alone = text.split(" for me")[0]
    assert full_screen.screen_with_learned(told_alone).level == Level.URGENT
    assert full_screen.screen_with_learned(text).level == Level.SELF_CARE


def test_learned_layer_asks_when_the_rules_read_the_sign_as_hypothetical(full_screen):
    result = full_screen.screen_with_learned("what if I fall and can't get up?")
    assert result.level == Level.SELF_CARE


@pytest.fixture(scope="module")
def labelled_messages():
    return read_jsonl(DATA / "safety_messages.jsonl")


def test_labelled_messages_cover_every_rule_and_pitfall(labelled_messages):
    assert len(labelled_messages) >= 200
    assert sum(1 for m in labelled_messages if m["kind"] == "benign") >= 60
    positives = {rule for m in labelled_messages for rule in m["rules"]}
    assert positives == REDFLAGS_RULES
    kinds = {m["kind"] for m in labelled_messages}
    assert {"negated", "hypothetical", "third_party", "past", "idiom", "lookalike"} <= kinds


def test_safety_meets_the_design_targets(labelled_messages, full_screen):
    # The project's first labelled set: the rules were widened on it and the learned layer
    # trained on it, so this is a regression threshold, not a measure of quality. Benign
    # over-triage leaves one message of room (9 of 178 since rounds 6-11 joined training).
    report = evaluate_safety(full_screen, labelled_messages)
    assert report.sensitivity["emergency"] >= 0.97, report.misses
    assert report.sensitivity["urgent"] >= 0.97, report.misses
    assert report.benign_over_triage <= 0.06, report.misses
    assert report.under_triage <= 0.03, report.misses


def test_rules_alone_keep_their_level_on_the_first_labelled_set(labelled_messages):
    wrong = [
        m["text"] for m in labelled_messages if screen(m["text"]).level != Level.parse(m["level"])
    ]
    assert len(wrong) <= 0.03 * len(labelled_messages), wrong


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "👍🏃‍♂️🔥" * 50,
        "Привет, как дела? Я бегаю каждый день.",
        "我今天跑了十公里",
        "\x00\x07\x1b[31mhello\x1b[0m",
        "asdfghjkl qwertyuiop",
        "a" * 10_000,
        ("my hip is a bit sore after running. " * 300)[:10_000],
    ],
)
def test_noise_and_huge_input_fire_nothing(text, full_screen):
    assert screen(text).fired == ()
    assert full_screen.screen_with_learned(text).level == Level.SELF_CARE


def test_a_red_flag_buried_in_a_huge_message_is_still_caught():
    text = (
        "I love running. " * 500
        + "Since yesterday I can't put any weight on my leg. "
        + ("Anyway, shoes? " * 100)
    )
    assert screen(text).level == Level.URGENT
