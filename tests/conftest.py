"""Shared fixtures: the real model, loaded once, and a real index of the seed article."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest

from bot.config import Settings
from bot.embedder import Embedder
from bot.index import build_index
from bot.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "hip-pain-after-running.md"
GUIDE = ROOT / "corpus" / "guide.toml"
RAW_SEED = ROOT / "tests" / "fixtures" / "hip-pain-after-running.raw.txt"
DATA = ROOT / "tests" / "data"


def make_settings(folder: Path, **overrides) -> Settings:
    """Settings confined to a temporary folder, ignoring any .env of the developer."""
    return Settings(
        _env_file=None,
        corpus_dir=folder / "corpus",
        index_dir=folder / "index",
        state_db=folder / "state" / "hipbot.sqlite3",
        safety_model_dir=ROOT / "index" / "safety",
        **overrides,
    )


def talk(dialogue, *messages, state=None):
    """Play messages from a state (fresh by default); return every reply and the last state."""
    from bot.dialogue import ConversationState

    state = state or ConversationState()
    replies = []
    for message in messages:
        turn = dialogue.respond(state, message)
        replies.append(turn.reply)
        state = turn.state
    return replies, state


def make_corpus(folder: Path, *articles: Path) -> Path:
    """Create folder/corpus holding copies of the given articles."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for article in articles:
        shutil.copy(article, corpus / article.name)
    return corpus


@pytest.fixture(scope="session")
def embedder(tmp_path_factory) -> Embedder:
    model = Embedder(make_settings(tmp_path_factory.mktemp("model")))
    model.load()
    return model


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, embedder) -> Settings:
    folder = tmp_path_factory.mktemp("seed")
    make_corpus(folder, SEED, GUIDE)
    settings = make_settings(folder)
    build_index(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def runtime(seed_settings) -> Runtime:
    """What users run: questions embedded by the index's ONNX export, no torch."""
    return Runtime(seed_settings)


@pytest.fixture
def seed_corpus(tmp_path) -> Settings:
    """A fresh copy of the seed corpus with no index yet."""
    make_corpus(tmp_path, SEED)
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback for the whole session."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh, empty database on the session's server."""
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + uuid.uuid4().hex[:8]
    return postgres_server.new_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def state_location(request, tmp_path):
    """Where a store lives: a SQLite file, then a PostgreSQL database (same tests, both)."""
    if request.param == "sqlite":
        return tmp_path / "state" / "db.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def api():
    """A real HTTP Bot API server on loopback (tests/fake_bot_api.py)."""
    from tests.fake_bot_api import FakeBotAPI

    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def telegram_settings(seed_settings, api, tmp_path) -> Settings:
    """The seed index, the loopback Bot API and a state database of the test's own."""
    from pydantic import SecretStr

    return seed_settings.model_copy(
        update={
            "telegram_token": SecretStr(api.token),
            "telegram_base_url": api.base_url,
            "state_db": tmp_path / "telegram.sqlite3",
        }
    )
