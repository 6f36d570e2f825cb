import pytest

from bot.evaluation import evaluate_retrieval, read_jsonl
from bot.targets import TARGETS
from tests.conftest import DATA


@pytest.fixture(scope="module")
def labelled():
    return read_jsonl(DATA / "retrieval_questions.jsonl")


def test_labelled_questions_are_enough_and_cover_every_section(labelled, runtime):
    in_scope = [q for q in labelled if q["sections"]]
    assert len(in_scope) >= 80
    assert len(labelled) - len(in_scope) >= 20
    labelled_sections = {s for q in in_scope for s in q["sections"]}
    assert {p.section for p in runtime.index.passages} <= labelled_sections


def test_retrieval_meets_the_design_targets(labelled, runtime):
    report = evaluate_retrieval(runtime.retriever, labelled)
    assert report.recall[3] >= TARGETS.recall_at_3, report.misses
    assert report.mrr >= TARGETS.mrr
    assert report.out_of_scope_rejected >= TARGETS.out_of_scope_rejected, report.misses
    assert report.in_scope_rejected <= TARGETS.in_scope_rejected, report.misses


def test_ranking_holds_on_held_out_questions(runtime):
    report = evaluate_retrieval(runtime.retriever, read_jsonl(DATA / "retrieval_heldout.jsonl"))
    assert report.recall[3] >= TARGETS.recall_at_3, report.misses
    assert report.mrr >= TARGETS.mrr


def test_hybrid_search_finds_exact_terms_and_paraphrases(runtime):
    exact = runtime.retriever.search("hyaluronic acid injections")
    assert exact.hits[0].passage.section == "Injections"
    paraphrase = runtime.retriever.search("my hip clunks and clicks when i move")
    assert paraphrase.hits[0].passage.section == "Labral Cartilage Tears"
    assert exact.covered and paraphrase.covered


@pytest.mark.parametrize(
    "question",
    ["what's the capital of peru", "how do i treat shin splints", "best marathon plan for me"],
)
def test_questions_the_articles_do_not_answer_are_not_covered(runtime, question):
    assert not runtime.retriever.search(question).covered


def test_limit_and_the_embedding_cache(runtime):
    result = runtime.retriever.search("foam roller", limit=2)
    assert len(result.hits) == 2
    assert result.hits[0].passage.section == "Use a Foam Roller"
    first = runtime.embedder.embed_queries(["foam roller", "heat pad"])
    again = runtime.embedder.embed_queries(["heat pad", "foam roller"])
    assert (first[0] == again[1]).all() and (first[1] == again[0]).all()
