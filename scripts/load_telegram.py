"""Load test: many simultaneous Telegram chats against real `hipbot telegram` processes.

Usage: python scripts/load_telegram.py [--chats 50] [--messages 6] [--think 2] [--skip-crash]

Each run starts the bot as it is deployed (webhook mode, its own process) against a local Bot
API server, using the project's index:
- one replica with SQLite;
- two replicas sharing one PostgreSQL server (started here on loopback), each person's
  messages going to either replica in turn, as a load balancer would send them;
- the crash run: 30 messages posted at once, the replica SIGKILLed as soon as all are
  acknowledged, then restarted: how many were accepted, answered after the restart, twice.
Each simulated person sends a message, waits for the reply, reads it for a moment (--think),
then sends the next. Prints sent/answered/lost, reply latency (POST to sendMessage received)
median and p99, and replies a second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from tests.bot_process import free_port, start_bot, wait_until_healthy  # noqa: E402
from tests.fake_bot_api import FakeBotAPI  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

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
CRASH_MESSAGES = 30


def messages_to(api: FakeBotAPI, chat_id: int) -> int:
    """Count the messages the bot sent to a chat."""
    return sum(m["chat_id"] == chat_id for m in api.sent)


async def person(
    api: FakeBotAPI,
    urls: list[str],
    chat_id: int,
    messages: list[str],
    latencies: list[float],
    lost: list[int],
    timeout: float,
    think: float,
) -> None:
    """Send a message, wait for the reply, read it for about `think` seconds, repeat."""
    rng = random.Random(chat_id)
    for number, text in enumerate(messages):
        if think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        before = messages_to(api, chat_id)
        update = api.make_update_message(chat_id, text)
        pushed = time.perf_counter()
        url = urls[(chat_id + number) % len(urls)]
        await asyncio.to_thread(api.post_to_webhook, update, url=url)
        try:
            await api.wait_for_sent_async(chat_id, count=before + 1, timeout=timeout)
        except AssertionError:
            lost.append(chat_id)
            return
        latencies.append(time.perf_counter() - pushed)
        await asyncio.sleep(0.05)  # the rest of a multi-part reply


def run_load(
    settings: Settings, replicas: int, chats: int, messages: int, think: float, timeout: float
) -> dict:
    """One load run; return its measures."""
    with tempfile.TemporaryDirectory() as folder, FakeBotAPI() as api:
        database = PostgresServer(durable=True).start() if replicas > 1 else None
        extra = {"HIPBOT_STATE_URL": database.new_database("load")} if database else {}
        ports = [free_port() for _ in range(replicas)]
        processes = [
            start_bot(settings, api.token, api.base_url, port, Path(folder), **extra)
            for port in ports
        ]
        try:
            for process, port in zip(processes, ports, strict=True):
                wait_until_healthy(process, port)
            urls = [f"http://127.0.0.1:{port}/telegram" for port in ports]
            latencies: list[float] = []
            lost: list[int] = []
            started = time.perf_counter()

            async def everyone() -> None:
                await asyncio.gather(
                    *(
                        person(
                            api,
                            urls,
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

            asyncio.run(everyone())
            elapsed = time.perf_counter() - started
            peaks = [peak_memory_mb(process.pid) for process in processes]
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)
            if database is not None:
                database.stop()
    return {
        "sent": chats * messages,
        "latencies": latencies,
        "lost": lost,
        "elapsed": elapsed,
        "peak_mb": max(peaks),
    }


def peak_memory_mb(pid: int) -> int:
    """Return a running process's peak resident memory so far (Linux's VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


def run_crash(settings: Settings) -> dict:
    """Post CRASH_MESSAGES at once, SIGKILL when all are acknowledged, restart, count."""
    question = "what is a hip pointer?"
    with tempfile.TemporaryDirectory() as folder, FakeBotAPI() as api:
        port = free_port()
        process = start_bot(settings, api.token, api.base_url, port, Path(folder))
        try:
            wait_until_healthy(process, port)
            updates = [api.make_update_message(20_000 + n, question) for n in range(30)]
            with ThreadPoolExecutor(CRASH_MESSAGES) as pool:
                statuses = list(pool.map(api.post_to_webhook, updates))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            chats = [u["message"]["chat"]["id"] for u in updates]
            answered_before = sum(messages_to(api, chat) > 0 for chat in chats)
            process = start_bot(settings, api.token, api.base_url, port, Path(folder))
            wait_until_healthy(process, port)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(messages_to(api, c) == 0 for c in chats):
                time.sleep(0.2)
            time.sleep(1.0)  # time for a duplicate to show up
        finally:
            process.terminate()
            process.wait(30)
        counts = [messages_to(api, chat) for chat in chats]
        parts = statistics.mode(counts)  # the same question, the same reply, in every chat
    return {
        "accepted": sum(status == 200 for status in statuses),
        "answered_before": answered_before,
        "answered": sum(count > 0 for count in counts),
        "duplicates": sum(count > parts for count in counts),
    }


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
    parser.add_argument("--skip-crash", action="store_true", help="Skip the SIGKILL run.")
    args = parser.parse_args()
    settings = Settings()
    table = Table(
        title=f"Telegram load: {args.chats} simultaneous chats, {args.messages} messages each "
        "(webhook, local Bot API server)"
    )
    table.add_column("measure")
    for column in ("1 replica (SQLite)", "2 replicas (PostgreSQL)", "target"):
        table.add_column(column, justify="right")
    runs = [
        run_load(settings, replicas, args.chats, args.messages, args.think, args.timeout)
        for replicas in (1, 2)
    ]

    def row(measure: str, values: list[str], target: str = "") -> None:
        table.add_row(measure, *values, target)

    row("messages sent", [str(r["sent"]) for r in runs])
    row("answered", [str(len(r["latencies"])) for r in runs], "all")
    row(
        "lost (no reply within the timeout)",
        [str(r["sent"] - len(r["latencies"])) for r in runs],
        "0",
    )
    row(
        "reply latency median",
        [f"{statistics.median(r['latencies']) * 1000:.0f} ms" for r in runs],
    )
    row(
        "reply latency p99",
        [
            f"{sorted(r['latencies'])[int(0.99 * (len(r['latencies']) - 1))] * 1000:.0f} ms"
            for r in runs
        ],
        "<= 300 ms",
    )
    row("replies a second", [f"{len(r['latencies']) / r['elapsed']:.0f}" for r in runs])
    row("peak memory of a replica", [f"{r['peak_mb']} MB" for r in runs])
    Console().print(table)
    if args.skip_crash:
        return
    crash = run_crash(settings)
    result = Table(title=f"Crash run: {CRASH_MESSAGES} messages at once, SIGKILL, restart")
    result.add_column("measure")
    result.add_column("value", justify="right")
    result.add_column("target", justify="right")
    result.add_row("accepted (200) before the kill", str(crash["accepted"]), str(CRASH_MESSAGES))
    result.add_row("answered before the kill", str(crash["answered_before"]), "")
    result.add_row("answered after the restart", str(crash["answered"]), str(crash["accepted"]))
    result.add_row("answered twice", str(crash["duplicates"]), "0")
    Console().print(result)


if __name__ == "__main__":
    main()
