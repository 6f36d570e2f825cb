"""Questions that name something the articles never use are declined, saying what."""

from bot.dialogue import ConversationState
from bot.unmentioned import article_words, unmentioned_terms


def known_words(runtime) -> frozenset[str]:
    return article_words(p.embedding_text() for p in runtime.index.passages)


def test_words_no_article_uses_are_found(runtime):
    known = known_words(runtime)
    assert unmentioned_terms("is piriformis syndrome a cause of hip pain?", known) == [
        "piriformis",
        "syndrome",
    ]
    assert unmentioned_terms("should i take glucosamine for hip arthritis", known) == [
        "glucosamine"
    ]


def test_a_noun_the_articles_never_use_names_what_is_asked(runtime):
    known = known_words(runtime)
    # Common words that can only be nouns: things, however little they move the question.
    assert unmentioned_terms("do compression shorts help with hip pain", known) == ["compression"]
    assert unmentioned_terms("whats a good running cadence to stop hip pain", known) == ["cadence"]
    # Not one said of the topic, one that measures what follows, or an article word's form.
    assert unmentioned_terms("does heat actually help hip pain or is that a myth", known) == []
    assert unmentioned_terms("can bits of cartilage break off in the hip", known) == []
    assert unmentioned_terms("how would someone know if they tore their labrum", known) == []


def test_a_place_the_articles_never_say_hurts_is_unmentioned(runtime):
    search = runtime.retriever.search
    assert search("why do my knees hurt after running").unmentioned == ("knees",)
    assert search("my shins hurt at the front when i run, why").unmentioned == ("shins",)
    # The articles say where hips, groins and thighs hurt.
    assert search("why does my hip hurt after running").unmentioned == ()
    assert search("pain in my inner thigh after long runs, what is it").unmentioned == ()


def test_typos_ordinary_words_and_long_stories_are_not_unmentioned(runtime):
    known = known_words(runtime)
    assert unmentioned_terms("wat is bursitus", known) == []  # a typo of an article word
    assert unmentioned_terms("does foam rolling do anything or is it a gimmick", known) == []
    assert unmentioned_terms("can bits of cartilage actualy snap off", known) == []
    story = (
        "started doing parkrun 3x a week a couple months ago and my hips feel tight n achey "
        "afterwards, which stretch should i do? i do like 5 mins walking first"
    )
    assert unmentioned_terms(story, known) == []


def test_a_near_miss_is_not_covered_and_the_reply_says_what_is_not_mentioned(runtime):
    reply = runtime.dialogue.respond(
        ConversationState(), "does turmeric help with hip inflammation"
    ).reply
    assert not reply.covered
    assert 'don\'t mention "turmeric"' in reply.text and "closest they come" in reply.text
    assert reply.sources  # the nearest passage is shown, and named


def test_a_covered_story_is_answered_though_its_question_names_an_unknown_word(runtime):
    story = (
        "outer hip pain, right on the bony bit at the side. at night if i roll onto that side "
        "it wakes me up. a guy at parkrun said trochanteric bursitis??"
    )
    reply = runtime.dialogue.respond(ConversationState(), story).reply
    assert reply.covered and reply.sources[0].section == "Bursitis"


def test_an_ordinary_word_is_unmentioned_when_the_question_is_about_it(runtime):
    search = runtime.retriever.search
    assert search("how long should i ice my hip after running").unmentioned == ("ice",)
    assert search("is yoga good for runners with hip pain").unmentioned == ("yoga",)
    assert search("are prp injections any good for hip tendonitis").unmentioned == ("prp",)
    # Chat words the articles never use do not carry the question away from them.
    assert search("does foam rolling actually do anything or is it a gimmick").unmentioned == ()
    assert search("why should runners bother with strength training").unmentioned == ()
    # Nor does the plural or a synonym of a word they use ("shot" for an injection).
    assert search("how many steroid shots can you get in your hip").unmentioned == ()


def test_a_word_that_asks_the_aspect_is_not_reported_as_unmentioned(runtime):
    reply = runtime.dialogue.respond(ConversationState(), "how often should i foam roll").reply
    assert not reply.covered
    assert "don't give how often" in reply.text and '"often"' not in reply.text
