"""The state database: SQLite (embedded, the default) or PostgreSQL (for several replicas).

The stores (bot/store.py, bot/inbox.py) write one SQL dialect: `?` placeholders, `ON
CONFLICT`, `RETURNING`, which both engines speak; this module opens the engine, applies its
versioned migrations, and runs transactions. SQLite keeps one connection behind a lock;
PostgreSQL uses psycopg 3 with a small connection pool, so that several replicas share the
conversations, the inbox and the flood counters.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from bot.errors import ConfigError


def _activity_schema(key: str, time: str) -> str:
    """The activity log's tables in an engine's types for a generated key and a time."""
    return f"""
    CREATE TABLE activity (
        id {key},
        chat TEXT NOT NULL,
        at {time} NOT NULL,
        triage TEXT NOT NULL,
        rules TEXT NOT NULL,
        covered INTEGER NOT NULL,
        declined INTEGER NOT NULL,
        passages TEXT NOT NULL,
        check_answer TEXT,
        guide TEXT,
        checkin TEXT,
        question TEXT,
        embedding TEXT
    );
    CREATE INDEX activity_at ON activity (at);
    CREATE INDEX activity_chat ON activity (chat);
    CREATE TABLE feedback (
        id {key},
        chat TEXT NOT NULL,
        at {time} NOT NULL,
        helpful INTEGER NOT NULL,
        passages TEXT NOT NULL
    );
    CREATE INDEX feedback_chat ON feedback (chat);
    CREATE TABLE checkins (
        id {key},
        chat TEXT NOT NULL,
        address TEXT NOT NULL,
        created_at {time} NOT NULL,
        due_at {time} NOT NULL,
        sent_at {time},
        sent_by TEXT,
        outcome TEXT
    );
    CREATE INDEX checkins_due ON checkins (due_at) WHERE sent_at IS NULL AND outcome IS NULL;
    CREATE INDEX checkins_chat ON checkins (chat);
    """


# Each engine's schema, one step per version, applied in order to databases older than it.
# Only PostgreSQL has chat leases: a SQLite file is served by one process.
# Times are seconds since the epoch (a double: REAL in SQLite, DOUBLE PRECISION in Postgres).
SQLITE_MIGRATIONS: tuple[str, ...] = (
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
    """
    CREATE TABLE flood (
        user_id TEXT NOT NULL, minute INTEGER NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (user_id, minute)
    );
    """,
    # The activity log, feedback and check-ins (bot/activity.py, bot/checkins.py).
    _activity_schema("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
)
POSTGRES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        chat_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE inbox (
        update_id BIGINT PRIMARY KEY,
        chat TEXT NOT NULL,
        payload TEXT,
        reply TEXT,
        parts_sent INTEGER NOT NULL DEFAULT 0,
        received_at DOUBLE PRECISION NOT NULL,
        done_at DOUBLE PRECISION
    );
    CREATE INDEX inbox_waiting ON inbox (chat, update_id) WHERE done_at IS NULL;
    CREATE TABLE chat_leases (
        chat TEXT PRIMARY KEY, owner TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE flood (
        user_id TEXT NOT NULL, minute BIGINT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (user_id, minute)
    );
    """,
    _activity_schema("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "DOUBLE PRECISION"),
)
_MIGRATION_LOCK = 7_263_001  # the advisory lock replicas take to migrate one at a time


class Cursor(Protocol):
    """What a statement returns, in both engines."""

    rowcount: int

    def fetchone(self) -> Any:
        """Return the next row, or None."""

    def fetchall(self) -> list[Any]:
        """Return the remaining rows."""


class Transaction(Protocol):
    """Statements inside one transaction."""

    def execute(self, sql: str, parameters: tuple = ()) -> Cursor:
        """Run one statement of the shared dialect."""


class StateDatabase(Protocol):
    """An open state database of either engine."""

    shared: bool  # several processes may serve from it at once

    def transaction(self) -> Any:
        """Return a context manager giving a Transaction, committed on exit."""

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Return all rows of one read."""

    def reachable(self) -> bool:
        """Tell whether the database answers."""

    def close(self) -> None:
        """Release the connections."""


def open_database(location: Path | str) -> StateDatabase:
    """Open `postgresql://...` with PostgreSQL, anything else as a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    return SqliteDatabase(Path(location))


class SqliteDatabase:
    """One SQLite file: one connection behind a lock, WAL, full sync, owner-only files."""

    shared = False

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
        for number, step in enumerate(SQLITE_MIGRATIONS[version:], start=version + 1):
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


class _PostgresTransaction:
    """Runs the shared dialect on a psycopg connection (`?` becomes `%s`)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: tuple = ()) -> Cursor:
        return self.connection.execute(sql.replace("?", "%s"), parameters)


class PostgresDatabase:
    """PostgreSQL through a psycopg connection pool; migrations under an advisory lock."""

    shared = True

    def __init__(self, url: str, pool_size: int = 4) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._errors = (psycopg.Error, OSError)
        try:
            self.pool = ConnectionPool(
                url, min_size=1, max_size=pool_size, open=True, timeout=10, name="hipbot"
            )
            self.pool.wait(timeout=10)
            self._migrate()
        except Exception as error:  # psycopg's, the pool's timeout, a bad URL's ValueError
            raise ConfigError(
                f"cannot open the PostgreSQL state database ({type(error).__name__}: "
                f"{_without_password(str(error), url)}); check HIPBOT_STATE_URL and that the "
                "server is running"
            ) from None

    def _migrate(self) -> None:
        with self.pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                connection.execute("INSERT INTO schema_version VALUES (0)")
            for number, step in enumerate(POSTGRES_MIGRATIONS[version:], start=version + 1):
                connection.execute(step)
                connection.execute("UPDATE schema_version SET version = %s", (number,))

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        """Run statements as one committed transaction (rolled back on any error)."""
        with self.pool.connection() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Return all rows of one read."""
        with self.pool.connection() as connection:
            return connection.execute(sql.replace("?", "%s"), parameters).fetchall()

    def reachable(self) -> bool:
        """Tell whether the database answers (for /healthz)."""
        try:
            return self.query("SELECT 1") == [(1,)]
        except self._errors:
            return False

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()


def _without_password(message: str, url: str) -> str:
    """Keep a password in the URL out of an error message."""
    from urllib.parse import urlsplit

    password = urlsplit(url).password
    return message.replace(password, "***") if password else message
