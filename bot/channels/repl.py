"""The terminal front end: line editing, history and colour; it only renders the core's replies.

The prompt appears at once; the model and index load in a background thread while the
person types, and the first reply waits for them only if it has to.
"""

from __future__ import annotations

import sys
import termios
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.text import Text

from bot.activity import ActivityLog
from bot.config import Settings
from bot.dialogue import ConversationState, Reply, Turn, respond_before_model
from bot.errors import HipbotError
from bot.runtime import Runtime
from bot.store import SAVE_ATTEMPTS, ConversationStore, StaleConversation

# Each terminal session is a conversation of its own ("repl-<random>"), so two chats open
# at once never share one; --resume continues the one saved last.
CHAT_PREFIX = "repl"
STYLES = {
    "emergency": "bold white on red",
    "urgent": "bold red",
    "doctor": "bold yellow",
    "answer": "",
    "caveat": "italic",
    "info": "",
    "question": "bold green",
    "disclaimer": "dim",
}
QUIT = {"/quit", "/exit", "/q"}


class _Loader(threading.Thread):
    """Warms the runtime up in the background and keeps any error for the first reply."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(daemon=True, name="hipbot-loader")
        self.runtime = runtime
        self.error: HipbotError | None = None

    def run(self) -> None:
        try:
            self.runtime.warm_up()
        except HipbotError as error:
            self.error = error


def render(reply: Reply, console: Console) -> None:
    """Print a reply: referrals stand out, sources and options come last."""
    for segment in reply.segments:
        console.print(Text(segment.text, style=STYLES[segment.kind]))
        console.print()
    if reply.sources:
        console.print(Text("Sources:", style="cyan"))
        for source in reply.sources:
            console.print(
                Text(f"  {source.article} > {' > '.join(source.path)}", style="dim cyan")
            )
        console.print()
    if reply.quick_replies:
        options = "  ".join(f"{n}. {text}" for n, text in enumerate(reply.quick_replies, 1))
        console.print(Text(f"Options (type one, or its number): {options}", style="green"))
        console.print()
    elif reply.rateable:
        console.print(Text("Helpful? /good or /bad", style="dim"))
        console.print()


def chosen_reply(line: str, last: Reply | None) -> str:
    """Read a number typed for one of the last reply's options as that option."""
    stripped = line.strip()
    if last is not None and stripped.isdigit() and 1 <= int(stripped) <= len(last.quick_replies):
        return last.quick_replies[int(stripped) - 1]
    return line


def run_repl(
    settings: Settings,
    *,
    resume: bool = False,
    runtime: Runtime | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the chat loop until /quit, Ctrl-D or Ctrl-C; return the exit status."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    console = Console(
        file=stdout,
        no_color=not interactive,
        highlight=False,
        emoji=False,
        force_terminal=interactive,
        soft_wrap=not interactive,
    )
    store = ConversationStore(settings.state_location())
    runtime = runtime or Runtime(settings)
    activity = ActivityLog(
        store.database, settings, lambda text: runtime.embedder.embed_queries([text])[0].tolist()
    )
    # A check-in that has come due reopens its conversation, whatever was asked for.
    due = activity.checkins.claim_due(uuid.uuid4().hex, chat_prefix=CHAT_PREFIX, limit=1)
    resumed = due[0].chat if due else store.latest(CHAT_PREFIX) if resume else None
    chat_id = resumed or f"{CHAT_PREFIX}-{uuid.uuid4().hex[:12]}"
    state, version = store.load_versioned(chat_id) if resumed else (ConversationState(), 0)
    loader = _Loader(runtime)
    loader.start()
    if interactive:
        console.print(
            Text(
                "hipbot: hip pain help for runners. Ask a question, /help for more, "
                "/quit to leave.",
                style="bold",
            )
        )
        if resume and state.turns:
            console.print(
                Text("(continuing your last conversation; /reset starts over)", style="dim")
            )
    last: Reply | None = None
    if due:
        loader.join()
        if loader.error is None:
            turn, version = _answer_and_save(
                store, chat_id, state, version, runtime.dialogue.check_in
            )
            state, last = turn.state, turn.reply
            if last.segments:
                activity.after_turn(chat_id, chat_id, "", last)
                render(last, console)
            else:  # a referral or the safety check is under way: not the time to ask
                activity.checkins.close(chat_id, "skipped")
    elif resume and (state.check is not None or state.choosing is not None):
        loader.join()
        last = runtime.dialogue.pending(state) if loader.error is None else None
        if last is not None:  # the question the conversation was waiting on, asked again
            render(last, console)
    read = _prompt_reader(console) if interactive else _line_reader(stdin)
    while True:
        try:
            line = read()
        except (EOFError, KeyboardInterrupt):
            break
        if line is None:
            break
        if line.strip().lower() in QUIT:
            break
        line = chosen_reply(line, last)
        if loader.is_alive():
            # A red flag is answered by the rules at once, without waiting for the model.
            early, version = _answer_and_save(
                store,
                chat_id,
                state,
                version,
                lambda now, line=line: respond_before_model(runtime.safety, settings, now, line),
            )
            if early is not None:
                state, last = early.state, early.reply
                activity.after_turn(chat_id, chat_id, line, last)
                render(last, console)
                continue
            if interactive:
                # What is typed meanwhile stays queued for the next prompt, not echoed onto
                # the spinner's line.
                with _no_echo(stdin), console.status("Loading the articles and the model..."):
                    loader.join()
            else:
                loader.join()
        if loader.error is not None:
            console.print(Text(f"hipbot: {loader.error}", style="bold red"))
            return 1
        turn, version = _answer_and_save(
            store,
            chat_id,
            state,
            version,
            lambda now, line=line: runtime.dialogue.respond(now, line),
        )
        state, last = turn.state, turn.reply  # saved before shown: nothing seen is lost
        activity.after_turn(chat_id, chat_id, line, last)
        render(last, console)
    if interactive:
        console.print(Text("Bye, take care of that hip.", style="dim"))
    store.close()
    return 0


def _answer_and_save(
    store: ConversationStore,
    chat_id: str,
    state: ConversationState,
    version: int,
    answer: Callable[[ConversationState], Turn | None],
) -> tuple[Turn | None, int]:
    """Answer and save (None: no answer yet, nothing saved).

    If another terminal saved this conversation meanwhile (`--resume` in two windows),
    answer again from the state it left rather than overwrite it.
    """
    for _ in range(SAVE_ATTEMPTS):
        turn = answer(state)
        if turn is None:
            return None, version
        try:
            return turn, store.save(chat_id, turn.state, version)
        except StaleConversation:
            state, version = store.load_versioned(chat_id)
    raise HipbotError("this conversation keeps changing in another window; try again")


@contextmanager
def _no_echo(stdin: TextIO) -> Iterator[None]:
    """Stop the terminal echoing keys (they stay queued for the next read)."""
    try:
        descriptor = stdin.fileno()
        saved = termios.tcgetattr(descriptor)
    except (OSError, ValueError, termios.error):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSANOW, saved)


def _prompt_reader(console: Console):
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory

    # History stays in memory: what people type here is health information.
    session: PromptSession[str] = PromptSession(history=InMemoryHistory())

    def read() -> str:
        return session.prompt("you> ")

    return read


def _line_reader(stdin: TextIO):
    def read() -> str | None:
        line = stdin.readline()
        return None if line == "" else line.rstrip("\n")

    return read
