"""The durable inbox: every Telegram update is committed here before Telegram is told "got it".

An update is accepted (stored, then acknowledged: the webhook's 200, or the next polling
offset), processed from here in update order per chat, and marked done once its reply has
been sent. A restart replays what is not done. The reply a turn computed is stored in the
same transaction as the conversation state it produced (`ConversationStore.write`), so a
replay resends that reply instead of answering the message a second time; each part is
marked when Telegram has taken it. The one duplicate left possible is a part Telegram took
in the instant before the process died, before the mark was committed.

A done row keeps only its update id (to ignore Telegram's redeliveries) and its times: the
message text and the reply are deleted as soon as the reply is sent.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from bot.dialogue import ConversationState
from bot.store import ConversationStore

KEEP_DONE_SECONDS = 24 * 3600  # Telegram redelivers for at most a day


@dataclass(frozen=True)
class InboxItem:
    """An accepted update not yet done, with the reply computed for it, if any."""

    update_id: int
    chat: str
    payload: dict
    reply: dict | None  # {"triage", "messages", "keyboard"}
    parts_sent: int


class Inbox:
    """Accepted updates in the state database, beside the conversations.

    Several replicas may share one (PostgreSQL) database: a replica handles a chat only
    while it holds that chat's lease, which it renews while it works; a lease left by a
    replica that died expires after `lease_seconds`, and another replica takes the chat over.
    """

    def __init__(self, store: ConversationStore, lease_seconds: float = 30.0) -> None:
        self.database = store.database
        self.lease_seconds = lease_seconds
        self.owner = uuid.uuid4().hex  # this process

    def take(self, chat: str) -> bool:
        """Take (or renew) the chat's lease; False while another replica holds it.

        A SQLite file is served by one process, whose per-chat workers already keep order:
        no lease is written there.
        """
        if not self.database.shared:
            return True
        now = time.time()
        with self.database.transaction() as connection:
            row = connection.execute(
                "INSERT INTO chat_leases (chat, owner, expires) VALUES (?, ?, ?) "
                "ON CONFLICT(chat) DO UPDATE SET owner = excluded.owner, "
                "expires = excluded.expires "
                "WHERE chat_leases.expires < ? OR chat_leases.owner = ? RETURNING owner",
                (chat, self.owner, now + self.lease_seconds, now, self.owner),
            ).fetchone()
        return row is not None

    def release(self, chat: str) -> None:
        """Give the chat's lease back."""
        if not self.database.shared:
            return
        with self.database.transaction() as connection:
            connection.execute(
                "DELETE FROM chat_leases WHERE chat = ? AND owner = ?", (chat, self.owner)
            )

    def accept(self, update_id: int, chat: str, payload: dict) -> bool:
        """Store an update (committed before this returns); False if it was already here."""
        with self.database.transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO inbox (update_id, chat, payload, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(update_id) DO NOTHING",
                (update_id, chat, json.dumps(payload), time.time()),
            )
        return cursor.rowcount == 1

    def waiting_chats(self) -> list[str]:
        """Chats with updates not done, oldest first (what a restart replays)."""
        rows = self.database.query(
            "SELECT chat, MIN(update_id) AS first FROM inbox WHERE done_at IS NULL "
            "GROUP BY chat ORDER BY first"
        )
        return [chat for chat, _ in rows]

    def waiting(self) -> int:
        """Count the updates not done."""
        return self.database.query("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")[0][0]

    def next_for(self, chat: str) -> InboxItem | None:
        """Return the chat's oldest update that is not done."""
        return self._first(
            "WHERE chat = ? AND done_at IS NULL ORDER BY update_id LIMIT 1", (chat,)
        )

    def get(self, update_id: int) -> InboxItem | None:
        """Return an update that is not done, by id."""
        return self._first("WHERE update_id = ? AND done_at IS NULL", (update_id,))

    def _first(self, where: str, parameters: tuple) -> InboxItem | None:
        rows = self.database.query(
            f"SELECT update_id, chat, payload, reply, parts_sent FROM inbox {where}", parameters
        )
        if not rows:
            return None
        update_id, chat, payload, reply, parts_sent = rows[0]
        return InboxItem(
            update_id, chat, json.loads(payload), json.loads(reply) if reply else None, parts_sent
        )

    def save_turn(
        self,
        chat_id: str,
        state: ConversationState,
        version: int,
        update_id: int,
        reply: list[dict],
    ) -> None:
        """Commit a turn's new state and the reply it computed together (or neither).

        Raises StaleConversation when another writer saved the conversation meanwhile.
        """
        with self.database.transaction() as connection:
            ConversationStore.write(connection, chat_id, state, version)
            connection.execute(
                "UPDATE inbox SET reply = ? WHERE update_id = ?", (json.dumps(reply), update_id)
            )

    def part_sent(self, update_id: int, parts: int, last: bool) -> None:
        """Record that the first `parts` messages of the stored reply reached Telegram.

        After the last part the update is done, in the same commit (one disk sync less).
        """
        if last:
            self.done(update_id)
            return
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE inbox SET parts_sent = ? WHERE update_id = ?", (parts, update_id)
            )

    def done(self, update_id: int) -> None:
        """Mark an update handled: its text and reply are deleted, its id kept a day.

        Marking one already done writes nothing (no disk sync): the last part of a reply
        marks its update done itself (see part_sent), and the dispatcher marks it again.
        """
        now = time.time()
        with self.database.transaction() as connection:
            connection.execute(
                "UPDATE inbox SET done_at = ?, payload = NULL, reply = NULL "
                "WHERE update_id = ? AND done_at IS NULL",
                (now, update_id),
            )
            connection.execute(
                "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?",
                (now - KEEP_DONE_SECONDS,),
            )
