"""What each turn did, stored for `hipbot report`; what a turn asks to schedule, scheduled.

A row per turn holds the triage level, the red-flag rules, whether the articles covered
the question, the passages used, a check answer, a guided choice or a check-in event:
never the message text, unless the deployment sets `store_question_text`. A question the
articles did not cover also keeps its embedding (384 numbers, not the words) so that the
report can group such questions into topics. Text and embeddings are deleted after
`question_retention_days`, every row after `activity_retention_days`; `/forget` deletes a
chat's rows at once. The front ends call `after_turn` once the turn's state is saved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from bot.checkins import DAY_SECONDS, CheckIns
from bot.config import Settings
from bot.database import StateDatabase
from bot.dialogue import Reply

CHECKIN_OUTCOMES = ("improved", "same", "worse", "cancelled")


class ActivityLog:
    """Writes turn records, feedback and check-in events to the state database."""

    def __init__(
        self,
        database: StateDatabase,
        settings: Settings,
        embed: Callable[[str], list[float]] | None = None,
    ) -> None:
        """`embed` gives a question's embedding (the runtime's query model, cached)."""
        self.database = database
        self.settings = settings
        self.embed = embed
        self.checkins = CheckIns(database)

    def after_turn(
        self, chat: str, address: str, text: str, reply: Reply, now: float | None = None
    ) -> None:
        """Store what a turn did, and act on it: schedule, close or cancel a check-in."""
        now = time.time() if now is None else now
        record = reply.record
        question = text if self.settings.store_question_text and text else None
        embedding = None
        if record.declined and self.embed is not None:
            embedding = json.dumps([round(value, 5) for value in self.embed(text)])
        with self.database.transaction() as connection:
            connection.execute(
                "INSERT INTO activity (chat, at, triage, rules, covered, declined, passages,"
                " check_answer, guide, checkin, question, embedding)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat,
                    now,
                    reply.triage.label,
                    json.dumps(list(reply.red_flags)),
                    int(reply.covered),
                    int(record.declined),
                    json.dumps([source.passage_id for source in reply.sources]),
                    record.check_answer,
                    record.guide,
                    record.checkin,
                    question,
                    embedding,
                ),
            )
            if record.feedback is not None:
                connection.execute(
                    "INSERT INTO feedback (chat, at, helpful, passages) VALUES (?, ?, ?, ?)",
                    (chat, now, int(record.feedback == "helpful"), json.dumps(list(record.rated))),
                )
        if record.checkin == "accepted":
            self.checkins.schedule(chat, address, self.settings.checkin_days, now)
        elif record.checkin in CHECKIN_OUTCOMES:
            self.checkins.close(chat, record.checkin)
        self.purge(now)

    def purge(self, now: float | None = None) -> None:
        """Delete what is older than the retention periods."""
        now = time.time() if now is None else now
        text_cutoff = now - self.settings.question_retention_days * DAY_SECONDS
        row_cutoff = now - self.settings.activity_retention_days * DAY_SECONDS
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE activity SET question = NULL, embedding = NULL WHERE at < ?"
                " AND (question IS NOT NULL OR embedding IS NOT NULL)",
                (text_cutoff,),
            )
            connection.execute("DELETE FROM activity WHERE at < ?", (row_cutoff,))
            connection.execute("DELETE FROM feedback WHERE at < ?", (row_cutoff,))
            connection.execute(
                "DELETE FROM checkins WHERE outcome IS NOT NULL AND created_at < ?", (row_cutoff,)
            )

    def forget(self, chat: str) -> None:
        """Delete everything recorded about a conversation (/forget)."""
        with self.database.transaction() as connection:
            for table in ("activity", "feedback", "checkins"):
                connection.execute(f"DELETE FROM {table} WHERE chat = ?", (chat,))
