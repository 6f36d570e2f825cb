"""Conversation state per chat in SQLite (JSON rows), shared by the REPL and Telegram.

Each save is its own committed transaction, made before the reply is sent, so a crash or
restart never loses a conversation the person has seen an answer to. Every row carries a
version: a save that lost a race with another writer (a second terminal, a second process)
raises StaleConversation instead of overwriting, and the caller answers again from the new
state. The schema is versioned (`PRAGMA user_version`) and migrated on open. The database
file is created readable by its owner only: it holds health information.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.dialogue import ConversationState
from bot.errors import ConfigError

# One step per schema version, applied in order to databases older than it.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS conversations (
        chat_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    "ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    """
    CREATE TABLE inbox (
        update_id INTEGER PRIMARY KEY,
        chat TEXT NOT NULL,
        payload TEXT,
        reply TEXT,
        parts_sent INTEGER NOT NULL DEFAULT 0,
        received_at REAL NOT NULL,
        done_at REAL
    );
    CREATE INDEX inbox_waiting ON inbox (chat, update_id) WHERE done_at IS NULL;
    """,
)


class StaleConversation(Exception):
    """Someone else saved the conversation since it was loaded: load it and answer again."""


class StateDatabase:
    """The SQLite file: one connection, a lock, migrations, and transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        previous_umask = os.umask(0o077)  # the database and its WAL files: owner only
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=FULL")
            self.connection.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(
                f"cannot open the conversation store {path} ({error}); "
                "check HIPBOT_STATE_DB and the folder's permissions"
            ) from None
        finally:
            os.umask(previous_umask)
        self.lock = threading.RLock()

    def _migrate(self) -> None:
        (version,) = self.connection.execute("PRAGMA user_version").fetchone()
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            self.connection.executescript(
                f"BEGIN IMMEDIATE; {step}; PRAGMA user_version = {number}; COMMIT;"
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements as one committed transaction (rolled back on any error)."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Return all rows of one read."""
        with self.lock:
            return self.connection.execute(sql, parameters).fetchall()

    def reachable(self) -> bool:
        """Tell whether the database answers (for /healthz)."""
        try:
            return self.query("SELECT 1") == [(1,)]
        except sqlite3.Error:
            return False

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.connection.close()


class ConversationStore:
    """Load, save and forget conversation states by chat id."""

    def __init__(self, path: Path) -> None:
        self.database = StateDatabase(path)

    def load(self, chat_id: str) -> ConversationState:
        """Return the chat's state, or a fresh one (also when a stored row is unreadable)."""
        return self.load_versioned(chat_id)[0]

    def load_versioned(self, chat_id: str) -> tuple[ConversationState, int]:
        """Return the chat's state and its version (0: nothing stored yet)."""
        rows = self.database.query(
            "SELECT state, version FROM conversations WHERE chat_id = ?", (chat_id,)
        )
        if not rows:
            return ConversationState(), 0
        text, version = rows[0]
        try:
            return ConversationState.model_validate_json(text), version
        except ValueError:
            return ConversationState(), version

    def save(self, chat_id: str, state: ConversationState, version: int | None = None) -> int:
        """Store the chat's state durably (committed before this returns); return its version.

        With `version` (from load_versioned) the save succeeds only if nobody saved since;
        otherwise StaleConversation is raised and nothing is written.
        """
        with self.database.transaction() as connection:
            return self.write(connection, chat_id, state, version)

    @staticmethod
    def write(
        connection: sqlite3.Connection,
        chat_id: str,
        state: ConversationState,
        version: int | None,
    ) -> int:
        """Write a state inside a caller's transaction (see save); return its new version."""
        text, now = state.model_dump_json(), time.time()
        if version is None:
            return connection.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at, version = conversations.version + 1 "
                "RETURNING version",
                (chat_id, text, now),
            ).fetchone()[0]
        if version == 0:
            cursor = connection.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(chat_id) DO NOTHING",
                (chat_id, text, now),
            )
        else:
            cursor = connection.execute(
                "UPDATE conversations SET state = ?, updated_at = ?, version = version + 1 "
                "WHERE chat_id = ? AND version = ?",
                (text, now, chat_id, version),
            )
        if cursor.rowcount != 1:
            raise StaleConversation(chat_id)
        return version + 1

    def latest(self, prefix: str) -> str | None:
        """Return the most recently saved chat id that starts with a prefix, if any."""
        rows = self.database.query(
            "SELECT chat_id FROM conversations WHERE substr(chat_id, 1, ?) = ? "
            "ORDER BY updated_at DESC LIMIT 1",
            (len(prefix), prefix),
        )
        return rows[0][0] if rows else None

    def forget(self, chat_id: str) -> bool:
        """Delete everything stored about a chat; tell whether there was anything."""
        with self.database.transaction() as connection:
            cursor = connection.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))
        return cursor.rowcount > 0

    def close(self) -> None:
        """Close the database."""
        self.database.close()
