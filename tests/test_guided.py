"""The guided questions, the two-week check-in and feedback, through the dialogue core."""

import pytest

from bot.choices import ClosedQuestion, Option
from bot.dialogue.guided import checkin_questions
from bot.guide import GuideError, load_guide, parse_guide
from bot.index import build_index
from bot.safety import Level
from tests.conftest import GUIDE, talk

NO_RED_FLAGS = ["no", "yes", "no", "no", "no"]  # fall, full weight, fever, numbness, worse


@pytest.fixture(scope="module")
def dialogue(runtime):
    return runtime.dialogue


# --- the guided questions ----------------------------------------------------------------


def test_a_vague_message_gets_an_answer_then_the_check_then_where_and_when(dialogue):
    replies, state = talk(
        dialogue, "my hip hurts after running, what do i do?", *NO_RED_FLAGS, "2", "after runs"
    )
    assert replies[0].covered and "Did the pain start after a fall" in replies[0].text
    where = replies[5]
    assert "Where does it hurt most?" in where.text
    assert where.quick_replies[1] == "Outside of the hip"
    when = replies[6]
    assert "When does it hurt?" in when.text and "During runs" in when.quick_replies
    assert when.record.guide == "place:outside"
    answer = replies[7]
    assert answer.record.guide == "when:after"
    assert answer.covered and answer.triage == Level.SELF_CARE
    sections = [source.section for source in answer.sources]
    assert sections[0] in ("Bursitis", "Muscle Strains") and "Hip Pointer" in sections
    assert "not a diagnosis" in answer.text and "you have" not in answer.text.lower()
    article = " ".join(passage.text for passage in dialogue.retriever.index.passages)
    bullets = [line[2:].split(": ", 1)[1] for line in answer.text.splitlines() if line[:2] == "- "]
    assert len(bullets) == len(answer.sources)
    assert all(sentence in article for sentence in bullets)  # the articles' own sentences
    assert "check in with you in 14 days" in answer.text  # own pain: the offer follows
    assert state.choosing.question == "checkin_offer"


def test_typed_words_choose_an_option_and_a_message_that_names_the_place_is_not_guided(
    dialogue,
):
    _, state = talk(dialogue, "my hip hurts after running", *NO_RED_FLAGS)
    (reply,), state = talk(dialogue, "the inner thigh mostly", state=state)
    assert reply.record.guide == "place:inner" and "When does it hurt?" in reply.text
    replies, _ = talk(dialogue, "the outside of my hip hurts after running", *NO_RED_FLAGS)
    assert all("Where does it hurt" not in reply.text for reply in replies)


def test_an_option_is_screened_as_the_sentence_it_stands_for(dialogue):
    _, state = talk(dialogue, "my hip hurts after running", *NO_RED_FLAGS, "1")
    (reply,), _ = talk(dialogue, "All the time", state=state)
    # "All the time" alone names no warning sign; "hurts all the time, even at rest" does.
    assert reply.triage >= Level.DOCTOR and reply.red_flags


def test_night_pain_lying_on_that_side_is_not_a_warning_sign_and_at_rest_is(dialogue):
    _, state = talk(dialogue, "my hip hurts after running", *NO_RED_FLAGS, "2")
    (lying,), _ = talk(dialogue, "At night, lying on that side", state=state)
    assert lying.triage == Level.SELF_CARE and lying.sources[0].section == "Bursitis"
    (resting,), _ = talk(dialogue, "At night, even at rest", state=state)
    assert resting.triage == Level.DOCTOR and "malignancy" in resting.red_flags


def test_a_red_flag_in_an_answer_to_a_guided_question_wins(dialogue):
    _, state = talk(dialogue, "my hip hurts after running", *NO_RED_FLAGS)
    (reply,), state = talk(dialogue, "groin, and now i can't put any weight on it", state=state)
    assert reply.triage >= Level.URGENT
    assert state.choosing is None and "When does it hurt" not in reply.text


def test_asking_something_else_lets_the_guided_question_lapse(dialogue):
    _, state = talk(dialogue, "my hip hurts after running", *NO_RED_FLAGS)
    (reply,), state = talk(dialogue, "what is a hip pointer?", state=state)
    assert reply.covered and "Hip Pointer" in [s.section for s in reply.sources]
    assert state.choosing is None


def test_the_guide_names_only_headings_the_articles_have(runtime):
    guide = load_guide(GUIDE.parent)
    guide.check(list(runtime.index.passages))  # the shipped guide fits the shipped article
    stale = GUIDE.read_text().replace('"Hip Pointer"]', '"Hip Pointers"]', 1)
    with pytest.raises(GuideError, match="option 'outside' names the section 'Hip Pointers'"):
        parse_guide(stale).check(list(runtime.index.passages))


def test_a_guide_naming_a_missing_heading_fails_the_index_build(seed_corpus, embedder):
    text = GUIDE.read_text().replace('"Tendonitis"]', '"Tendinopathy"]', 1)
    (seed_corpus.corpus_dir / "guide.toml").write_text(text)
    with pytest.raises(GuideError, match="'Tendinopathy'"):
        build_index(seed_corpus, embedder)
    assert not (seed_corpus.index_dir / "manifest.json").exists()


@pytest.mark.parametrize(
    "broken, message",
    [
        (
            "[[question]]\nkey = 'when'\nask = 'When?'\n[[question.option]]\nkey = 'a'\n"
            "label = 'A'\n[[question.option]]\nkey = 'b'\nlabel = 'B'\n",
            "needs the questions",
        ),
        ("[[question]]\nkey = 'place'\nask = 'Where?'\n[[question.option]]\nkey = 'a'\n", "label"),
        (
            "[[question]]\nkey = 'place'\nask = 'x'\n[[question.option]]\nkey='a'\nlabel='A'\n"
            "says=['(']\n[[question.option]]\nkey='b'\nlabel='B'\n",
            "bad pattern",
        ),
    ],
)
def test_a_malformed_guide_fails_on_load_naming_the_entry(broken, message):
    with pytest.raises(GuideError, match=message):
        parse_guide(broken)


def test_a_closed_question_reads_numbers_labels_and_words():
    question = ClosedQuestion(
        "q",
        "Which?",
        (Option("a", "Apples", None), Option("b", "Pears", None)),
    )
    assert question.choose("2").key == "b" and question.choose("(1)").key == "a"
    assert question.choose("pears!").key == "b"
    assert question.choose("3") is None and question.choose("bananas") is None
    assert question.prompt() == "Which?\n1. Apples\n2. Pears"


# --- the check-in ------------------------------------------------------------------------


def _scheduled(dialogue):
    _, state = talk(dialogue, "the outside of my hip aches when i run, what helps?", *NO_RED_FLAGS)
    (reply,), state = talk(dialogue, "yes please", state=state)
    assert reply.record.checkin == "accepted" and state.checkin == "scheduled"
    return state


def test_own_pain_is_offered_a_check_in_once_and_no_thanks_is_kept(dialogue):
    replies, state = talk(
        dialogue, "the outside of my hip aches when i run, what helps?", *NO_RED_FLAGS
    )
    assert replies[-1].record.checkin == "offered"
    assert replies[-1].quick_replies == ("Yes, check in", "No thanks")
    (reply,), state = talk(dialogue, "No thanks", state=state)
    assert reply.record.checkin == "declined" and state.checkin == "declined"
    replies, _ = talk(dialogue, "my hip aches again today", "skip", state=state)
    assert all(reply.record.checkin is None for reply in replies)


def test_a_due_check_in_asks_and_not_better_gets_the_doctor_referral(dialogue):
    state = _scheduled(dialogue)
    asked = dialogue.check_in(state)
    assert "has your hip pain improved" in asked.reply.text
    assert asked.reply.quick_replies == ("Not better", "Worse", "Better")
    (reply,), state = talk(dialogue, "not really, about the same", state=asked.state)
    assert reply.triage == Level.DOCTOR and "persistent_pain" in reply.red_flags
    assert reply.record.checkin == "same" and state.checkin is None


def test_a_check_in_answered_worse_or_better(dialogue):
    asked = dialogue.check_in(_scheduled(dialogue))
    (worse,), _ = talk(dialogue, "Worse", state=asked.state)
    assert worse.triage >= Level.DOCTOR and worse.record.checkin == "worse"
    (better,), state = talk(dialogue, "3", state=asked.state)
    assert better.triage == Level.SELF_CARE and better.record.checkin == "improved"
    assert "Good to hear" in better.text and state.checkin is None


def test_checkin_off_cancels_and_says_so(dialogue):
    state = _scheduled(dialogue)
    (status, off, again), state = talk(
        dialogue, "/checkin", "/checkin off", "/checkin", state=state
    )
    assert "A check-in is planned" in status.text and status.record.checkin is None
    assert off.record.checkin == "cancelled" and state.checkin is None
    assert "There is no check-in planned" in again.text


def test_a_check_in_is_not_asked_while_a_referral_stands(dialogue):
    state = _scheduled(dialogue)
    _, state = talk(dialogue, "i fell and now i cant walk on it", state=state)
    asked = dialogue.check_in(state)
    assert asked.reply.segments == () and asked.state.checkin is None


def test_the_check_in_questions_read_their_answers():
    checkin = checkin_questions()["checkin"]
    assert checkin.choose("not better").key == "same"
    assert checkin.choose("a bit better but still sore").key == "same"
    assert checkin.choose("way worse now").key == "worse"
    assert checkin.choose("yes much better thanks").key == "improved"


# --- feedback ----------------------------------------------------------------------------


def test_feedback_rates_the_passages_of_the_last_answer(dialogue):
    (answer, good, bad), _ = talk(dialogue, "what is bursitis?", "/good", "not helpful")
    assert answer.rateable
    used = tuple(source.passage_id for source in answer.sources)
    assert good.record.feedback == "helpful" and good.record.rated == used
    assert bad.record.feedback == "not_helpful" and bad.record.rated == used
    assert not good.rateable and "Thanks, noted" in good.text


def test_feedback_before_any_answer_says_there_is_nothing_to_rate(dialogue):
    (reply,), _ = talk(dialogue, "/bad")
    assert reply.record.feedback is None and "no answer to rate" in reply.text


def test_a_question_the_articles_do_not_cover_is_recorded_as_declined(dialogue):
    (covered,), _ = talk(dialogue, "what is bursitis?")
    (declined,), _ = talk(dialogue, "how do i bake sourdough bread?")
    assert not covered.record.declined and declined.record.declined
