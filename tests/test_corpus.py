import re
import shutil

import pytest

from bot.corpus import (
    is_sales_pitch,
    load_article,
    load_corpus,
    split_article,
)
from bot.errors import CorpusError
from bot.text import split_sentences
from tests.conftest import RAW_SEED, SEED


@pytest.fixture(scope="module")
def seed_passages(embedder):
    article = load_article(SEED, "hip-pain-after-running")
    return split_article(article, embedder.count_tokens, embedder.max_tokens)


def test_seed_article_reads_its_front_matter():
    article = load_article(SEED, "hip-pain-after-running")
    assert article.title == "What Causes Hip Pain After Running?"
    assert "Hywell" in article.source
    assert len(article.content_hash) == 64


def test_seed_passages_follow_the_heading_path(seed_passages):
    paths = {passage.path for passage in seed_passages}
    assert ("Why Your Hips Hurt After Running", "Bursitis") in paths
    assert ("How to Treat Hip Pain After Running", "Injections") in paths
    assert ("When Does Hip Pain Become a Problem?",) in paths
    # The intro under the title is a passage of its own.
    assert ("What Causes Hip Pain After Running?",) in paths


def test_lead_term_items_become_their_own_passages(seed_passages):
    by_section = {passage.section: passage for passage in seed_passages}
    for term in ("Hip Flexors", "Hamstrings", "Adductors", "Trunk Rotation", "Clamshells"):
        assert term in by_section
    assert by_section["Hip Flexors"].path[-2] == "Tendonitis"
    assert by_section["Trunk Rotation"].text.startswith("For this exercise, lie with your back")
    # The parent keeps only its own intro.
    assert "Hamstrings are" not in by_section["Tendonitis"].text


def test_each_faq_question_is_one_passage_with_its_answer(seed_passages):
    faqs = [passage for passage in seed_passages if passage.path[0] == "FAQs"]
    assert [p.section for p in faqs] == [
        "How do I protect my hips when I'm running?",
        "Can hip pain go away on its own?",
        "What is the most common reason for hip pain?",
        "Is it better to sleep or exercise with hip pain?",
    ]
    assert faqs[2].text.startswith("Arthritis is the most common reason")


def test_list_items_without_lead_term_stay_in_their_section(seed_passages):
    problem = next(p for p in seed_passages if p.section == "When Does Hip Pain Become a Problem?")
    assert "- Difficulty putting weight on one leg" in problem.text
    assert "- Pain that moves from your hip to other areas" in problem.text


def test_curated_copy_has_no_advertising_and_no_typos(seed_passages):
    text = " ".join(passage.embedding_text() for passage in seed_passages)
    assert "Hywell" not in text and "socks" not in text.lower()
    assert "RELATED ARTICLES" not in text
    for typo in ("mattwr", "athetic", "Movemets", "boosing", "mucles", "controling", "iliopsad"):
        assert typo not in text


def test_no_passage_exceeds_the_model_window(seed_passages, embedder):
    for passage in seed_passages:
        assert embedder.count_tokens(passage.embedding_text()) <= embedder.max_tokens


def test_long_sections_are_split_to_fit_the_window(tmp_path, embedder):
    sentences = " ".join(
        f"Runners feel pain number {n} in the hip after a long run." for n in range(300)
    )
    article_file = tmp_path / "long.md"
    article_file.write_text(f"# Long\n\n## Endless section\n\n{sentences}\n")
    passages = split_article(
        load_article(article_file, "long"), embedder.count_tokens, embedder.max_tokens
    )
    assert len(passages) > 5
    assert all(embedder.count_tokens(p.embedding_text()) <= embedder.max_tokens for p in passages)
    assert passages[0].passage_id == "long#endless-section"
    assert passages[1].passage_id == "long#endless-section~2"
    # Nothing is lost in the split.
    assert " ".join(p.text for p in passages).count("Runners feel pain") == 300


def test_raw_seed_text_gives_the_same_structure_as_the_curated_copy(tmp_path, seed_passages):
    raw = tmp_path / "hip-pain-after-running.txt"
    shutil.copy(RAW_SEED, raw)
    passages = split_article(load_article(raw, "hip-pain-after-running"))
    assert [p.passage_id for p in passages] == [p.passage_id for p in seed_passages]
    assert [tuple(h.lower() for h in p.path) for p in passages] == [
        tuple(h.lower() for h in p.path) for p in seed_passages
    ]


def test_raw_seed_drops_the_sales_pitch_and_captions(tmp_path):
    raw = tmp_path / "hip-pain-after-running.txt"
    shutil.copy(RAW_SEED, raw)
    passages = split_article(load_article(raw, "raw"))
    text = " ".join(p.embedding_text() for p in passages)
    assert "Hywell" not in text
    assert "socks" not in text.lower()
    assert "A man wearing" not in text
    assert "Get Rid of Hip Pain" not in text
    # ... while the medical content around the pitch survives.
    assert any(p.section == "When Does Hip Pain Become a Problem?" for p in passages)
    assert any(p.section == "Conclusion" for p in passages)


def test_sales_pitch_heuristic():
    assert is_sales_pitch("Visit our store and browse the collection for a discount.")
    assert not is_sales_pitch("Comfortable running shoes can absorb shock and reduce hip stress.")


def test_front_matter_exclude_drops_a_section_and_its_subsections(tmp_path):
    article_file = tmp_path / "a.md"
    article_file.write_text(
        "---\ntitle: A\nexclude: [Our Partners]\n---\n# A\n\nIntro text here.\n\n"
        "## Our Partners\n\nPartner text.\n\n### Partner detail\n\nMore partner text.\n\n"
        "## Stretching\n\nStretch gently.\n"
    )
    passages = split_article(load_article(article_file, "a"))
    assert [p.section for p in passages] == ["A", "Stretching"]


def test_html_article_keeps_main_content_and_headings(tmp_path):
    page = tmp_path / "glute.html"
    page.write_text(
        "<html><head><title>Glute Pain in Runners</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/shop'>Shop</a></nav>"
        "<article><h1>Glute Pain in Runners</h1>"
        "<p>Glute pain is common in runners who increase their mileage quickly and it can "
        "make every step of an easy run feel heavy and sore.</p>"
        "<h2>Causes</h2><p>Weak gluteal muscles overload the tendons around the hip, "
        "especially on long downhill runs and during speed sessions.</p>"
        "<h3>Tendon overload</h3><p>The gluteal tendons attach to the outside of the hip "
        "and become irritated when they are compressed or overloaded.</p>"
        "<h2>Treatment</h2><p>Reduce your running volume for a while and strengthen the "
        "glutes with bridges and side-lying leg raises three times a week.</p>"
        "</article><footer>Copyright 2026. Subscribe to our newsletter.</footer></body></html>"
    )
    passages = split_article(load_article(page, "glute"))
    paths = [p.path for p in passages]
    assert ("Causes", "Tendon overload") in paths
    assert ("Treatment",) in paths
    text = " ".join(p.text for p in passages)
    assert "newsletter" not in text and "Home" not in text


def test_article_without_headings_is_one_passage_under_its_title(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("rest a few days and the hip usually settles. ice helps some runners.\n")
    passages = split_article(load_article(note, "note"))
    assert len(passages) == 1
    assert passages[0].path == ("note",)


def test_sentence_splitting_keeps_abbreviations_and_quotes():
    assert split_sentences('Try e.g. bridges. He said "stop." Then rest!') == [
        "Try e.g. bridges.",
        'He said "stop."',
        "Then rest!",
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "the file is empty"),
        ("blank.txt", b"   \n\n  ", "the file is empty"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary file"),
        ("latin1.txt", "Caf\xe9 hip pain".encode("latin-1"), "not UTF-8"),
        ("only-headings.md", b"# Title\n\n## Section\n", "no article text"),
        ("notes.pdf", b"%PDF-1.4", "reads .md, .txt and .html"),
    ],
)
def test_unusable_files_are_skipped_with_one_clear_line(tmp_path, name, content, reason):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    (corpus / name).write_bytes(content)
    loaded = load_corpus(corpus)
    assert len(loaded.articles) == 1
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert problem.startswith(f"skipped {name}:") and reason in problem
    assert "\n" not in problem


def test_oversized_article_is_refused_with_the_setting_to_change(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    (corpus / "huge.txt").write_text("Hip pain. " * 520_000)  # about 5 MB
    loaded = load_corpus(corpus, max_bytes=2_000_000)
    assert re.search(r"skipped huge.txt: 5\.2 MB .*HIPBOT_MAX_ARTICLE_MB", loaded.problems[0])


def test_missing_corpus_folder(tmp_path):
    with pytest.raises(CorpusError, match=r"does not exist.*HIPBOT_CORPUS_DIR"):
        load_corpus(tmp_path / "nowhere")


def test_empty_corpus_folder(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(CorpusError, match=r"no usable article.*it is empty"):
        load_corpus(tmp_path / "corpus")


def test_two_articles_with_the_same_title(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "one.md")
    shutil.copy(SEED, corpus / "two.md")
    with pytest.raises(CorpusError, match=r"same title \(one.md, two.md\).*title:"):
        load_corpus(corpus)


def test_plain_text_headings_underlined_with_dashes_or_equals_are_headings(tmp_path, embedder):
    article = tmp_path / "gluteal.txt"
    article.write_text(
        "Gluteal Tendinopathy\n====================\n\n"
        "Gluteal tendinopathy is pain on the outside of the hip.\n\n"
        "Treatment\n---------\n\nLoad management and strengthening help most people.\n\n"
        "Side-lying clams\n\nLie on your side with knees bent and lift the top knee.\n\n"
        "Causes\n------\nA sudden rise in running load is a common cause.\n"
    )
    passages = split_article(
        load_article(article, "gluteal"), embedder.count_tokens, embedder.max_tokens
    )
    assert [p.path for p in passages] == [
        ("Gluteal Tendinopathy",),
        ("Treatment",),
        ("Treatment", "Side-lying clams"),
        ("Causes",),
    ]
    assert not any("---" in p.text or "===" in p.text for p in passages)
