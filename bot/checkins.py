"""Two-week check-ins, scheduled in the state database so they survive restarts.

A check-in accepted in a conversation is a row with its due time. Whoever sends check-ins
(the Telegram front end's JobQueue, the REPL at start) claims due rows with one UPDATE that
marks them sent: with several replicas on one PostgreSQL database, a row is claimed by one
replica, once. A row whose sending failed is released to be tried again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.database import StateDatabase

DAY_SECONDS = 86_400
CLAIM_BATCH = 20  # check-ins claimed at a time; the rest wait for the next poll


@dataclass(frozen=True)
class DueCheckIn:
    """A claimed check-in: whose conversation, and where to send the question."""

    checkin_id: int
    chat: str
    address: str


class CheckIns:
    """Schedule, claim, answer and cancel check-ins (ActivityLog.forget deletes them)."""

    def __init__(self, database: StateDatabase) -> None:
        self.database = database

    def schedule(self, chat: str, address: str, days: float, now: float | None = None) -> None:
        """Plan one check-in for a conversation, replacing any still waiting."""
        now = time.time() if now is None else now
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE checkins SET outcome = 'replaced' WHERE chat = ? AND outcome IS NULL",
                (chat,),
            )
            connection.execute(
                "INSERT INTO checkins (chat, address, created_at, due_at) VALUES (?, ?, ?, ?)",
                (chat, address, now, now + days * DAY_SECONDS),
            )

    def claim_due(
        self,
        owner: str,
        now: float | None = None,
        chat_prefix: str = "",
        limit: int = CLAIM_BATCH,
    ) -> list[DueCheckIn]:
        """Mark due check-ins sent by `owner` and return them (each to one claimer only)."""
        now = time.time() if now is None else now
        with self.database.transaction() as connection:
            rows = connection.execute(
                "UPDATE checkins SET sent_at = ?, sent_by = ? WHERE id IN ("
                " SELECT id FROM checkins WHERE sent_at IS NULL AND outcome IS NULL"
                " AND due_at <= ? AND substr(chat, 1, ?) = ? ORDER BY due_at LIMIT ?"
                ") AND sent_at IS NULL RETURNING id, chat, address",
                (now, owner, now, len(chat_prefix), chat_prefix, limit),
            ).fetchall()
        return [DueCheckIn(int(row[0]), row[1], row[2]) for row in rows]

    def release(self, checkin: DueCheckIn) -> None:
        """Put back a claimed check-in whose question could not be sent."""
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE checkins SET sent_at = NULL, sent_by = NULL WHERE id = ?",
                (checkin.checkin_id,),
            )

    def close(self, chat: str, outcome: str) -> None:
        """Record the answer (improved, same, worse) or a cancellation of the open one."""
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE checkins SET outcome = ? WHERE chat = ? AND outcome IS NULL",
                (outcome, chat),
            )
