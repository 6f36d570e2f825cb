"""The `hipbot` command: chat, ask, search, index, eval, report and telegram."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from bot.config import Settings
from bot.errors import HipbotError

DATA_DIR = Path("tests/data")


def _friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print hipbot's own errors as one line (no traceback) and exit with status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HipbotError as error:
            click.echo(f"hipbot: {error}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("hipbot: interrupted", err=True)
            sys.exit(130)

    return wrapper


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as error:  # pydantic's ValidationError lists every bad setting
        raise HipbotError(f"invalid settings: {error}") from None


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL, and Telegram URLs carry the bot token.
    for noisy in ("httpx", "httpcore", "sentence_transformers", "faiss", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group()
@click.version_option(package_name="hipbot")
def main() -> None:
    """Hip pain help for runners, answered from trusted articles."""


@main.command()
@click.option("--resume", is_flag=True, help="Continue the last REPL conversation.")
@_friendly_errors
def chat(resume: bool) -> None:
    """Chat in the terminal (works with piped input too)."""
    from bot.channels.repl import run_repl

    settings = _settings()
    _configure_logging(settings)
    sys.exit(run_repl(settings, resume=resume))


@main.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README).")
@click.option(
    "--jsonl", is_flag=True, help="Read conversations from stdin, one per line; write JSON lines."
)
@_friendly_errors
def ask(text: str | None, as_json: bool, jsonl: bool) -> None:
    """Print hipbot's reply to TEXT for a fresh conversation."""
    import json

    from bot.dialogue import ConversationState
    from bot.runtime import Runtime

    if jsonl == (text is not None):
        raise HipbotError('give either a question (hipbot ask "...") or --jsonl, not both')
    runtime = Runtime(_settings())
    runtime.load_in_background()
    dialogue = runtime.dialogue
    if not jsonl:
        reply = dialogue.respond(ConversationState(), text or "").reply
        if as_json:
            click.echo(json.dumps(reply.as_dict(), ensure_ascii=False))
        else:
            click.echo(reply.text)
            for source in reply.sources:
                click.echo(f"- {source.article} > {' > '.join(source.path)}")
        return
    for number, line in enumerate(sys.stdin, 1):
        try:
            messages = _conversation(line)
        except ValueError as error:
            click.echo(json.dumps({"error": f"line {number}: {error}"}))
            continue
        state = ConversationState()
        for message in messages:
            turn = dialogue.respond(state, message)
            state = turn.state
        click.echo(json.dumps(turn.reply.as_dict(), ensure_ascii=False))


def _conversation(line: str) -> list[str]:
    """Read one --jsonl line: plain text, or a JSON array of the user's messages."""
    import json

    stripped = line.strip()
    if stripped.startswith("{"):
        raise ValueError("a JSON line must be an array of strings, not an object")
    if not stripped.startswith("["):
        return [stripped]
    messages = json.loads(stripped)
    if not messages or not all(isinstance(m, str) for m in messages):
        raise ValueError("a JSON line must be a non-empty array of strings")
    return messages


@main.command()
@_friendly_errors
def telegram() -> None:
    """Run the Telegram bot (polling, or a webhook when HIPBOT_TELEGRAM_MODE=webhook)."""
    from bot.channels.telegram_run import run_bot

    settings = _settings()
    _configure_logging(settings)
    run_bot(settings)


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML page.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=90.0,
    show_default=True,
    help="How far back to look.",
)
@_friendly_errors
def report(out: Path, days: float) -> None:
    """Write the maintainers' report (HTML with charts) and print a short summary."""
    from bot.database import open_database
    from bot.errors import IndexMismatchError, IndexNotBuiltError
    from bot.index import KnowledgeIndex
    from bot.report import collect, render_html, summary_lines
    from bot.safety.rules import default_rulebook

    settings = _settings()
    database = open_database(settings.state_location())
    try:
        index = KnowledgeIndex.load(settings)
    except (IndexNotBuiltError, IndexMismatchError):
        index = None  # sections are then named by their passage ids
    try:
        data = collect(
            database,
            default_rulebook(),
            index,
            days=days,
            text_stored=settings.store_question_text,
        )
    finally:
        database.close()
    try:
        out.write_text(render_html(data), encoding="utf-8")
    except OSError as error:
        raise HipbotError(f"cannot write the report to {out} ({error.strerror})") from None
    for line in summary_lines(data):
        click.echo(line)
    click.echo(f"report written to {out}")


@main.group()
def index() -> None:
    """Build and inspect the search index of the articles in corpus/."""


@index.command("build")
@click.option("--force", is_flag=True, help="Re-embed every passage, ignoring the last build.")
@_friendly_errors
def index_build(force: bool) -> None:
    """Build the index, embedding only new or changed passages."""
    from rich.console import Console
    from rich.progress import Progress

    from bot.embedder import Embedder
    from bot.index import build_index

    settings = _settings()
    _configure_logging(settings)
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        task = None

        def show(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task("Embedding passages", total=total)
            progress.update(task, completed=done)

        report = build_index(settings, Embedder(settings), force=force, progress=show)
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    if report.up_to_date:
        click.echo(
            f"Index is up to date: {report.articles} articles, {report.passages} passages "
            f"({report.seconds:.2f} s)."
        )
        return
    click.echo(
        f"Built index: {report.articles} articles, {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused), FAISS {report.index_type}, "
        f"{report.seconds:.1f} s."
    )
    for label, ids in (
        ("added", report.added),
        ("changed", report.changed),
        ("removed", report.removed),
    ):
        if ids:
            click.echo(f"  {label}: {', '.join(ids)}")


@index.command("info")
@_friendly_errors
def index_info() -> None:
    """Describe the current index: model, articles, passages, build time."""
    from bot.index import describe, read_manifest

    click.echo(describe(read_manifest(_settings().index_dir)))


@main.group()
def safety() -> None:
    """Build the learned layer of the red-flag screen."""


@safety.command("train")
@_friendly_errors
def safety_train() -> None:
    """Fine-tune the learned layer on bot/safety/training/ into HIPBOT_SAFETY_MODEL_DIR."""
    from bot.safety.training import train

    settings = _settings()
    _configure_logging(settings)
    if settings.hub_offline:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    click.echo("Fine-tuning the safety model (5 to 20 minutes on 2 cores)...", err=True)
    manifest = train(settings.model_location(), settings.safety_model_dir)
    units = ", ".join(f"{count} {level}" for level, count in manifest["units"].items())
    click.echo(
        f"Trained the safety model on {manifest['messages']} messages ({units} units) "
        f"in {manifest['training_seconds']} s; thresholds chosen on "
        f"{manifest['held_out_messages']} held-out messages."
    )
    for name, threshold in manifest["thresholds"].items():
        recall = manifest["held_out_recall"][name]
        click.echo(f"  {name}: threshold {threshold:.3f}, held-out recall {recall:.1%}")


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "--top", default=5, show_default=True, help="How many passages to show.")
@_friendly_errors
def search(query: tuple[str, ...], top: int) -> None:
    """Show the passages that best match QUERY, with heading path and scores."""
    from bot.runtime import Runtime

    runtime = Runtime(_settings())
    result = runtime.retriever.search(" ".join(query), limit=top)
    verdict = "covered" if result.covered else "NOT covered"
    click.echo(f"{verdict} (confidence {result.confidence:.3f})")
    dense_weight = runtime.settings.dense_weight
    lexical_weight = 1 - dense_weight
    for rank, hit in enumerate(result.hits, 1):
        click.echo(
            f"{rank}. [{hit.score:.3f} = {dense_weight:.2f} x dense {hit.dense:.3f} "
            f"+ {lexical_weight:.2f} x bm25 {hit.lexical:.3f}] "
            f"{hit.passage.article_title} > {' > '.join(hit.passage.path)}"
        )
        click.echo(f"   {hit.passage.text[:200].replace(chr(10), ' ')}")


@main.command("eval")
@click.argument(
    "part",
    type=click.Choice(["all", "retrieval", "safety", "answers", "conversation"]),
    default="all",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DATA_DIR,
    show_default=True,
    help="Folder of the labelled data.",
)
@click.option("--misses", is_flag=True, help="List every miss (safety misses always are).")
@click.option(
    "--round",
    "only_round",
    help="Score only this fresh round (for example answers-r2), e.g. for its first run.",
)
@_friendly_errors
def evaluate(part: str, data: Path, misses: bool, only_round: str | None) -> None:
    """Measure quality on the labelled data and print tables, then one summary."""
    from rich.console import Console
    from rich.table import Table

    from bot.eval_answers import evaluate_answers
    from bot.eval_triage import evaluate_triage
    from bot.evaluation import (
        evaluate_conversations,
        evaluate_retrieval,
        evaluate_safety,
        read_jsonl,
    )
    from bot.runtime import Runtime

    console = Console()
    runtime = Runtime(_settings())
    evaluations = {
        "retrieval": (
            "retrieval_*.jsonl",
            lambda path: evaluate_retrieval(runtime.retriever, read_jsonl(path)),
        ),
        "safety": (
            "safety_*.jsonl",
            lambda path: evaluate_safety(runtime.safety, read_jsonl(path)),
        ),
        "conversation": (
            "conversations*.jsonl",
            lambda path: evaluate_conversations(runtime.dialogue, read_jsonl(path)),
        ),
    }
    summary = Table(title="hipbot eval: summary")
    for column in ("data", "measure", "value", "target"):
        summary.add_column(column, justify="left" if column in ("data", "measure") else "right")
    found = False
    reports = []
    for name, (pattern, evaluate_rows) in evaluations.items():
        if part in ("all", name):
            reports += [
                (name, p.name, lambda p=p, f=evaluate_rows: f(p))
                for p in sorted(data.glob(pattern))
            ]
    if part in ("all", "safety"):
        reports += [
            (
                "safety",
                f"round {stem}",
                lambda stem=stem: evaluate_triage(
                    runtime.dialogue, *_round_files(data / "rounds", stem)
                ),
            )
            for stem in _round_stems(data / "rounds", "safety")
        ]
    if part in ("all", "answers"):
        reports += [
            (
                "answers",
                f"round {path.name.removesuffix('-items.jsonl')}",
                lambda path=path: evaluate_answers(runtime.dialogue, read_jsonl(path)),
            )
            for path in sorted((data / "rounds").glob("answers-*-items.jsonl"))
        ]
    if only_round:
        reports = [r for r in reports if r[1] == f"round {only_round}"]
    for name, label, run in reports:
        found = True
        report = run()
        for table in report.tables(label):
            console.print(table)
        if misses or name == "safety":  # every triage miss is worth reading
            for line in report.misses:
                console.print(f"  {line}", markup=False, highlight=False)
        for number, row in enumerate(report.summary_rows()):
            summary.add_row(label if number == 0 else "", *row)
    if not found:
        raise HipbotError(f"no labelled data in {data}: point --data at a folder of .jsonl files")
    console.print(summary)


def _round_stems(folder: Path, kind: str) -> list[str]:
    """Name the rounds of a kind in a folder (`safety-r1` for safety-r1-messages.jsonl)."""
    return sorted(
        p.name.removesuffix("-messages.jsonl") for p in folder.glob(f"{kind}-*-messages.jsonl")
    )


def _round_files(folder: Path, stem: str) -> tuple[list[dict], list[dict]]:
    """Read a round's messages and (if present) conversations."""
    from bot.evaluation import read_jsonl

    conversations = folder / f"{stem}-conversations.jsonl"
    return (
        read_jsonl(folder / f"{stem}-messages.jsonl"),
        read_jsonl(conversations) if conversations.exists() else [],
    )
