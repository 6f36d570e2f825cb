import pytest

from bot.evaluation import check_expectations, read_jsonl, replay
from tests.conftest import DATA

SCRIPTS = read_jsonl(DATA / "conversations.jsonl")


def test_there_are_enough_scripted_conversations():
    assert len(SCRIPTS) >= 30
    assert all(len(script["turns"]) >= 2 for script in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=[script["name"] for script in SCRIPTS])
def test_scripted_conversation(script, runtime):
    failures = []
    for number, (turn, reply) in enumerate(replay(runtime.dialogue, script["turns"]), 1):
        failures += [
            f"turn {number} ({turn['say'][:40]!r}): {failure}"
            for failure in check_expectations(reply, turn.get("expect", {}))
        ]
    assert not failures, "\n".join(failures)
