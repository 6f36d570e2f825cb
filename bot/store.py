"""Conversation state per chat (JSON rows), shared by the REPL and Telegram.

Each save is its own committed transaction, made before the reply is sent, so a crash or
restart never loses a conversation the person has seen an answer to. Every row carries a
version: a save that lost a race with another writer (a second terminal, a second process)
raises StaleConversation instead of overwriting, and the caller answers again from the new
state. The database (bot/database.py) is SQLite by default, PostgreSQL for several replicas.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.database import StateDatabase, Transaction, open_database
from bot.dialogue import ConversationState

# A turn whose save lost a race is answered again from the new state, this many times at most.
SAVE_ATTEMPTS = 3


class StaleConversation(Exception):
    """Someone else saved the conversation since it was loaded: load it and answer again."""


class ConversationStore:
    """Load, save and forget conversation states by chat id."""

    def __init__(self, location: Path | str) -> None:
        """Open a SQLite file, or PostgreSQL when given a postgresql:// URL."""
        self.database: StateDatabase = open_database(location)

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
        connection: Transaction,
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


class FloodCounter:
    """Messages per user per clock minute, counted in the state database.

    Kept in the database, not in memory, so that replicas behind one address share one
    count: a person is throttled the same whichever replica gets their messages.
    """

    def __init__(self, database: StateDatabase, limit: int) -> None:
        self.database = database
        self.limit = limit

    def allow(self, user_id: int | str, now: float | None = None) -> bool:
        """Count a message; tell whether it is within this minute's limit."""
        minute = int((time.time() if now is None else now) // 60)
        with self.database.transaction() as connection:
            (count,) = connection.execute(
                "INSERT INTO flood (user_id, minute, count) VALUES (?, ?, 1) "
                "ON CONFLICT (user_id, minute) DO UPDATE SET count = flood.count + 1 "
                "RETURNING count",
                (str(user_id), minute),
            ).fetchone()
            if count == 1:  # a new minute for this person: drop their old counts
                connection.execute(
                    "DELETE FROM flood WHERE user_id = ? AND minute < ?", (str(user_id), minute)
                )
        return count <= self.limit
