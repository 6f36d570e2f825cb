"""Conversation state per chat in SQLite (JSON rows), shared by the REPL and Telegram.

Each save is its own committed transaction, made before the reply is sent, so a crash or
restart never loses a conversation the person has seen an answer to. The database file is
created readable by its owner only: it holds health information.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from bot.dialogue import ConversationState
from bot.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    chat_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""


class ConversationStore:
    """Load, save and forget conversation states by chat id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        previous_umask = os.umask(0o077)  # the database and its WAL files: owner only
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(
                f"cannot open the conversation store {path} ({error}); "
                "check HIPBOT_STATE_DB and the folder's permissions"
            ) from None
        finally:
            os.umask(previous_umask)
        self._lock = threading.Lock()

    def load(self, chat_id: str) -> ConversationState:
        """Return the chat's state, or a fresh one (also when a stored row is unreadable)."""
        with self._lock:
            row = self._connection.execute(
                "SELECT state FROM conversations WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        if row is None:
            return ConversationState()
        try:
            return ConversationState.model_validate_json(row[0])
        except ValueError:
            return ConversationState()

    def save(self, chat_id: str, state: ConversationState) -> None:
        """Store the chat's state durably (committed before this returns)."""
        with self._lock:
            self._connection.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (chat_id, state.model_dump_json(), time.time()),
            )

    def latest(self, prefix: str) -> str | None:
        """Return the most recently saved chat id that starts with a prefix, if any."""
        with self._lock:
            row = self._connection.execute(
                "SELECT chat_id FROM conversations WHERE substr(chat_id, 1, ?) = ? "
                "ORDER BY updated_at DESC LIMIT 1",
                (len(prefix), prefix),
            ).fetchone()
        return row[0] if row else None

    def forget(self, chat_id: str) -> bool:
        """Delete everything stored about a chat; tell whether there was anything."""
        with self._lock:
            cursor = self._connection.execute(
                "DELETE FROM conversations WHERE chat_id = ?", (chat_id,)
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()
