"""Load test: many simultaneous Telegram chats through a local Bot API server.

Usage: python scripts/load_telegram.py [--chats 50] [--messages 6] [--think 2] [--rate-limit N]
Each simulated person sends a message, waits for hipbot's reply, reads it for a moment
(--think), then sends the next, as people do; --think 0 is a stress test. Prints answered,
lost, and reply latency (message pushed to sendMessage received) median and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.telegram import serving  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.store import ConversationStore  # noqa: E402
from tests.fake_bot_api import FakeBotAPI  # noqa: E402

SCRIPTS = [
    ["hi", "what is bursitis?", "how do I treat it?", "tell me more", "/sources", "thanks"],
    ["my hip hurts after long runs", "No", "Yes", "No", "No", "No"],
    [
        "can I take ibuprofen for my hip?",
        "I'm on warfarin",
        "what about naproxen?",
        "what stretches help?",
        "/redflags",
        "bye",
    ],
    [
        "I fell on ice and can't get up",
        "what should I do?",
        "ok",
        "/reset",
        "what is a hip pointer?",
        "thanks",
    ],
]


async def person(
    api: FakeBotAPI,
    chat_id: int,
    messages: list[str],
    latencies: list[float],
    lost: list[int],
    timeout: float,
    think: float,
) -> None:
    """Send a message, wait for the reply, read it for about `think` seconds, repeat."""
    rng = random.Random(chat_id)
    for number, text in enumerate(messages, 1):
        if think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        pushed = time.perf_counter()
        api.push_message(chat_id, text)
        try:
            await api.wait_for_sent_async(chat_id, count=number, timeout=timeout)
        except AssertionError:
            lost.append(chat_id)
            return
        latencies.append(time.perf_counter() - pushed)


async def run(
    chats: int, messages: int, timeout: float, rate_limit: float, think: float
) -> tuple[int, list[float], list[int], float]:
    with tempfile.TemporaryDirectory() as folder, FakeBotAPI() as api:
        settings = Settings(
            telegram_token=SecretStr(api.token),
            telegram_base_url=api.base_url,
            state_db=Path(folder) / "load.sqlite3",
            flood_messages_per_minute=1000,
            telegram_rate_limit=rate_limit,
        )
        runtime = Runtime(settings)
        store = ConversationStore(settings.state_db)
        latencies: list[float] = []
        lost: list[int] = []
        async with serving(settings, runtime, store):
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    person(
                        api,
                        10_000 + n,
                        SCRIPTS[n % len(SCRIPTS)][:messages],
                        latencies,
                        lost,
                        timeout,
                        think,
                    )
                    for n in range(chats)
                )
            )
            elapsed = time.perf_counter() - started
        store.close()
        return chats * messages, latencies, lost, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--messages", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="Mean seconds a person takes to read a reply and type the next message "
        "(0 = answer instantly: a stress test).",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=1000.0,
        help="Outgoing requests a second (Telegram's cloud allows about 30).",
    )
    args = parser.parse_args()
    sent, latencies, lost, elapsed = asyncio.run(
        run(args.chats, args.messages, args.timeout, args.rate_limit, args.think)
    )
    ordered = sorted(latencies)
    table = Table(
        title=f"Telegram load: {args.chats} simultaneous chats, "
        f"{args.messages} messages each (local Bot API server)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("messages sent", str(sent), "")
    table.add_row("answered", str(len(latencies)), str(sent))
    table.add_row("lost (no reply within the timeout)", str(sent - len(latencies)), "0")
    table.add_row("chats that stalled", str(len(set(lost))), "0")
    table.add_row("reply latency median", f"{statistics.median(ordered) * 1000:.0f} ms", "")
    table.add_row(
        "reply latency p99",
        f"{ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms",
        "<= 300 ms",
    )
    table.add_row("throughput", f"{len(latencies) / elapsed:.0f} replies/s", "")
    Console().print(table)


if __name__ == "__main__":
    main()
