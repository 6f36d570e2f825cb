"""A small, real Telegram Bot API server on loopback, so tests can run python-telegram-bot."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import select
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

JSON = dict[str, Any]

#: Parameters that the Bot API types as String: kept exactly as sent, never JSON-decoded.
STRING_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "custom_emoji_id",
        "description",
        "emoji",
        "file_id",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "phone_number",
        "query",
        "short_description",
        "secret_token",
        "text",
        "title",
        "url",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

#: What a message of each kind carries besides text, for push_media.
MEDIA_KINDS = ("photo", "sticker", "voice", "audio", "video", "video_note", "document",
               "animation", "location", "contact")  # fmt: skip

DEFAULT_GROUP_USER_ID = 4242
MAX_TEXT_LENGTH = 4096
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class Call(NamedTuple):
    """One request the server received: method name, decoded parameters, monotonic time."""

    method: str
    params: JSON
    time: float


class ApiError(Exception):
    """An error answer of the Bot API: error_code, description and optional parameters."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


class _ClientGone(Exception):
    """The client closed the connection while a long poll was waiting."""


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    """Length of text in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------------------------
# Parsing what python-telegram-bot sends
# --------------------------------------------------------------------------------------------


def decode_value(name: str, raw: str) -> Any:
    """Decode one form field: PTB sends strings as-is and every other value JSON-encoded."""
    if name in STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


_DISPOSITION_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


def parse_multipart(body: bytes, content_type: str) -> JSON:
    """Parse multipart/form-data: plain fields are decoded, files become dicts with data."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _bad("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    params: JSON = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = {
            key.lower(): bare.strip() if bare else quoted.replace('\\"', '"')
            for key, quoted, bare in _DISPOSITION_PARAM.findall(
                ";" + headers.get("content-disposition", "").partition(";")[2]
            )
        }
        name = disposition.get("name")
        if name is None:
            continue
        filename = disposition.get("filename")
        if filename is None:
            params[name] = decode_value(name, data.decode("utf-8"))
        else:
            params[name] = {
                "filename": urllib.parse.unquote(filename),
                "content_type": headers.get("content-type", "application/octet-stream"),
                "size": len(data),
                "data": data,
            }
    return params


def parse_body(body: bytes, content_type: str) -> JSON:
    """Parse a request body of any content type the Bot API accepts."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if kind == "multipart/form-data":
        return parse_multipart(body, content_type)
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("can't parse JSON body") from None
        if not isinstance(data, dict):
            raise _bad("JSON body must be an object")
        return data
    text = body.decode("utf-8")
    return {
        key: decode_value(key, value)
        for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True)
    }


# --------------------------------------------------------------------------------------------
# Telegram's HTML parse mode
# --------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY = re.compile(r"&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_START = re.compile(r"([a-zA-Z][\w-]*)(.*)$", re.S)
_HTML_ATTR = re.compile(r"""([\w-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse text the way Telegram's HTML parse mode does: plain text plus entities.

    Raises ApiError 400 "can't parse entities" for what Telegram rejects: unsupported or
    unclosed tags, mismatched end tags and a '<' that starts no tag.
    """
    out: list[str] = []
    pos = 0  # UTF-16 offset in the output
    stack: list[JSON] = []
    entities: list[JSON] = []
    i = 0

    def fail(message: str) -> ApiError:
        return _bad(f"can't parse entities: {message}")

    while i < len(text):
        char = text[i]
        if char == "<":
            byte = len(text[:i].encode())
            end = text.find(">", i)
            if end < 0:
                raise fail(f"Can't find end of the tag starting at byte offset {byte}")
            inner = text[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f'Unexpected end tag "{name}" at byte offset {byte}')
                top = stack.pop()
                if name != top["tag"]:
                    raise fail(
                        f'Unmatched end tag at byte offset {byte}, expected "</{top["tag"]}>", '
                        f'found "</{name}>"'
                    )
                _close_html_entity(top, pos, stack, entities)
            else:
                match = _HTML_START.match(inner)
                if not match:
                    raise fail(f'Unsupported start tag "{inner}" at byte offset {byte}')
                name = match.group(1).lower()
                attrs = {
                    key.lower(): next((v for v in values if v), "")
                    for key, *values in _HTML_ATTR.findall(match.group(2))
                }
                if name not in _HTML_TAGS or (
                    name == "span" and attrs.get("class") != "tg-spoiler"
                ):
                    raise fail(f'Unsupported start tag "{name}" at byte offset {byte}')
                stack.append({"tag": name, "start": pos, "attrs": attrs})
            i = end + 1
            continue
        if char == "&":
            match = _HTML_ENTITY.match(text, i)
            if match:
                decimal, hexadecimal, named = match.groups()
                if named:
                    piece = _HTML_NAMED[named]
                else:
                    piece = chr(int(decimal) if decimal else int(hexadecimal, 16))
                out.append(piece)
                pos += utf16_len(piece)
                i = match.end()
                continue
        out.append(char)
        pos += 2 if ord(char) > 0xFFFF else 1
        i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"')
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(out), entities


def _close_html_entity(top: JSON, pos: int, stack: list[JSON], entities: list[JSON]) -> None:
    length = pos - top["start"]
    kind = _HTML_TAGS[top["tag"]]
    attrs = top["attrs"]
    if kind == "code" and stack and stack[-1]["tag"] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1]["language"] = language[len("language-") :]
            return
    if length <= 0:
        return
    entity: JSON = {"type": kind, "offset": top["start"], "length": length}
    if kind == "text_link":
        href = attrs.get("href", "")
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity = {**entity, "type": "text_mention", "user": {"id": int(user.group(1))}}
            entity["user"].update({"is_bot": False, "first_name": ""})
        else:
            entity["url"] = href
    elif kind == "pre" and top.get("language"):
        entity["language"] = top["language"]
    elif kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    entities.append(entity)


def strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace as Telegram does, moving and clipping the entities."""
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    stripped = text.strip()
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def command_entities(text: str) -> list[JSON]:
    """The bot_command entities Telegram adds to a user's text, e.g. for "/start"."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND.finditer(text)
    ]


def check_reply_markup(markup: Any) -> None:
    """Reject the reply markups Telegram rejects (bad JSON, invalid inline buttons)."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad("can't parse inline keyboard button: Text must be a String")
            if set(button) == {"text"}:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")


def _inline_buttons(markup: JSON | None) -> list[JSON]:
    if not markup:
        return []
    return [button for row in markup.get("inline_keyboard", []) for button in row]


# --------------------------------------------------------------------------------------------
# The HTTP side
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    fake: FakeBotAPI

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away (or stop() closed its connection): nothing to report
        self.fake._record_failure("(http)", 500, traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeBotAPI/1.0"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        try:
            body = self._read_body()
            status, payload, content_type = self.server.fake._dispatch(
                self.path, self.headers.get("Content-Type", ""), body, self.connection
            )
        except _ClientGone:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def _client_gone(connection: socket.socket) -> bool:
    """Whether the client closed its side (nothing is ever pipelined during a long poll)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


# --------------------------------------------------------------------------------------------
# The fake Bot API
# --------------------------------------------------------------------------------------------


class FakeBotAPI:
    """A Telegram Bot API server on 127.0.0.1 that keeps its state in memory.

    Tests push updates in (push_message, push_callback, push_update...), the bot under test
    fetches them with getUpdates (or receives them via post_to_webhook), and whatever the bot
    calls is recorded in calls and sent. Errors follow Telegram: bad HTML, invalid buttons,
    "message is not modified", getUpdates while a webhook is set, and so on.
    """

    def __init__(self, token: str = "123456:TEST-token", username: str = "hipbot_test_bot"):
        prefix = token.partition(":")[0]
        if not prefix.isdigit():
            raise ValueError(f"a bot token starts with the bot's numeric id, got {token!r}")
        self.token = token
        self.username = username
        self.bot_id = int(prefix)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1000)
        self._last_update_id = 999
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._chats: dict[int, JSON] = {}
        self._callbacks: dict[str, JSON] = {}
        self._files: dict[str, JSON] = {}
        self._calls: list[Call] = []
        self._sent: list[JSON] = []
        self._failures: list[tuple[str, int, str]] = []
        self._injected: dict[str, list[ApiError]] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._webhook: JSON = {"url": ""}
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, tuple[str, Callable[[JSON, socket.socket], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "sendChatAction": self._send_chat_action,
                "answerCallbackQuery": self._answer_callback_query,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getFile": self._get_file,
                "close": lambda params, connection: True,
                "logOut": lambda params, connection: True,
            }.items()
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeBotAPI:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeBotAPI is already started (it cannot be restarted)")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeBotAPI:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake long polls, close the listening socket and open connections."""
        server = self._server
        if server is None or self._stopping:
            return
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._changed:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._changed.wait_for(lambda: not self._connections, timeout=5)

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What Bot(base_url=...) and Application.builder().base_url(...) take."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """What Bot(base_file_url=...) and ApplicationBuilder.base_file_url(...) take."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---------------------------------------------------------------- observation

    @property
    def bot_user(self) -> JSON:
        """The bot's User object, as getMe returns it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "hipbot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _bot_sender(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "hipbot",
            "username": self.username,
        }

    @property
    def calls(self) -> list[Call]:
        """Every request with the right token: Call(method, params, monotonic time)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[JSON]:
        """The params of every call to one method, in order."""
        return [call.params for call in self.calls if call.method == method]

    @property
    def sent(self) -> list[JSON]:
        """Every successful sendMessage: its params plus message_id, time and message."""
        with self._lock:
            return list(self._sent)

    @property
    def failures(self) -> list[tuple[str, int, str]]:
        """Every error answer given: (method, error_code, description)."""
        with self._lock:
            return list(self._failures)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._lock:
            return copy.deepcopy(self._updates)

    @property
    def webhook_info(self) -> JSON:
        """The webhook as last set: url ("" when none), secret_token, allowed_updates..."""
        with self._lock:
            return copy.deepcopy(self._webhook)

    @property
    def commands(self) -> list[JSON]:
        """The bot's commands for the default scope and no language."""
        return self.commands_for()

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The bot's commands for one scope (a BotCommandScope dict) and language."""
        with self._lock:
            return copy.deepcopy(self._commands.get(self._scope_key(scope, language_code), []))

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """A message (the user's or the bot's) as it is now, after any edits; None if unknown."""
        with self._lock:
            return copy.deepcopy(self._messages.get((chat_id, message_id)))

    def chat_history(self, chat_id: int) -> list[JSON]:
        """Every message in a chat, the user's and the bot's, in order, as they are now."""
        with self._lock:
            found = [m for (chat, _), m in self._messages.items() if chat == chat_id]
            return copy.deepcopy(sorted(found, key=lambda m: m["message_id"]))

    def clear_calls(self) -> None:
        """Forget the recorded calls, sent messages and failures (not the chats' state)."""
        with self._lock:
            self._calls.clear()
            self._sent.clear()
            self._failures.clear()

    def wait_for_sent(
        self,
        predicate_or_chat_id: Callable[[JSON], bool] | int | str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[JSON]:
        """Block until `count` sendMessage calls match (a predicate on a sent dict, or a
        chat id, or None for any) and return the first `count` of them.

        Counts every sendMessage since start (or clear_calls). Raises AssertionError on
        timeout. In a coroutine use wait_for_sent_async, which does not block the loop.
        """
        match = self._sent_matcher(predicate_or_chat_id)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [sent for sent in self._sent if match(sent)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._sent_timeout(predicate_or_chat_id, count, timeout))
                self._changed.wait(remaining)

    async def wait_for_sent_async(
        self,
        predicate_or_chat_id: Callable[[JSON], bool] | int | str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[JSON]:
        """Like wait_for_sent, for coroutines: polls without blocking the event loop."""
        match = self._sent_matcher(predicate_or_chat_id)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [sent for sent in self._sent if match(sent)]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() >= deadline:
                raise AssertionError(self._sent_timeout(predicate_or_chat_id, count, timeout))
            await asyncio.sleep(0.01)

    def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSON], bool] | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[JSON]:
        """Block until `count` calls to `method` (whose params match) arrived; return their
        params. Raises AssertionError on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    call.params
                    for call in self._calls
                    if call.method == method and (predicate is None or predicate(call.params))
                ]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:g}s waiting for {count} {method} call(s); "
                        f"got {len(found)}. Methods called: "
                        f"{[call.method for call in self._calls][-30:]}. "
                        f"Errors answered: {self._failures[-5:]}"
                    )
                self._changed.wait(remaining)

    @staticmethod
    def _sent_matcher(wanted: Callable[[JSON], bool] | int | str | None) -> Callable[[JSON], bool]:
        if wanted is None:
            return lambda sent: True
        if callable(wanted):
            return wanted
        return lambda sent: str(sent.get("chat_id")) == str(wanted)

    def _sent_timeout(self, wanted: object, count: int, timeout: float) -> str:
        if wanted is None:
            what = "any chat"
        elif callable(wanted):
            what = f"predicate {getattr(wanted, '__name__', wanted)}"
        else:
            what = f"chat {wanted}"
        matching = self._sent_matcher(wanted)
        with self._lock:
            got = sum(1 for sent in self._sent if matching(sent))
            sent = [(s.get("chat_id"), str(s.get("text"))[:60]) for s in self._sent[-10:]]
            return (
                f"timed out after {timeout:g}s waiting for {count} sendMessage call(s) to {what}; "
                f"got {got}. Last messages sent (chat_id, text): {sent}. "
                f"Errors answered: {self._failures[-5:]}"
            )

    # ---------------------------------------------------------------- driving

    def fail_next(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` answer an error (e.g. 403 "Forbidden: bot
        was blocked by the user", or 429 with retry_after) instead of running.
        """
        parameters: JSON = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
            error_code = 429
            description = description or f"Too Many Requests: retry after {retry_after}"
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
            description = (
                description or "Bad Request: group chat was upgraded to a supergroup chat"
            )
        description = description or f"Error {error_code}: injected by FakeBotAPI.fail_next"
        with self._lock:
            self._injected.setdefault(method.lower(), []).extend(
                ApiError(error_code, description, parameters or None) for _ in range(times)
            )

    def make_update_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Runner",
        entities: list[JSON] | None = None,
        reply_to_message: JSON | int | None = None,
        title: str | None = None,
    ) -> JSON:
        """Build (without queueing) a "message" update from a user; the message is stored.

        Entities default to the bot_command ones Telegram adds (so "/start" is a command);
        reply_to_message is a message dict or the message_id of a stored message.
        """
        with self._lock:
            message = self._new_user_message(chat_id, user_id, chat_type, first_name, title)
            message["text"] = text
            found = command_entities(text) if entities is None else entities
            if found:
                message["entities"] = copy.deepcopy(found)
            if reply_to_message is not None:
                if isinstance(reply_to_message, int):
                    replied = self._messages.get((chat_id, reply_to_message))
                    if replied is None:
                        raise ValueError(f"no message {reply_to_message} in chat {chat_id}")
                    reply_to_message = replied
                message["reply_to_message"] = copy.deepcopy(reply_to_message)
            self._messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
            return {"update_id": self._new_update_id(), "message": message}

    def push_message(self, chat_id: int, text: str, **options: Any) -> JSON:
        """Queue a text message from a user (options as make_update_message); return it."""
        return self._enqueue(self.make_update_message(chat_id, text, **options))

    def make_update_edited_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """Build (without queueing) an "edited_message" update: the user edits a message."""
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None or message.get("from", {}).get("is_bot"):
                raise ValueError(f"no user message {message_id} in chat {chat_id} to edit")
            message["text"] = text
            message["edit_date"] = int(time.time())
            message.pop("entities", None)
            if command_entities(text):
                message["entities"] = command_entities(text)
            return {"update_id": self._new_update_id(), "edited_message": copy.deepcopy(message)}

    def push_edited_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """Queue an "edited_message" update for a user's earlier message; return the Update."""
        return self._enqueue(self.make_update_edited_message(chat_id, message_id, text))

    def make_update_media(
        self,
        chat_id: int,
        kind: str,
        *,
        caption: str | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Runner",
    ) -> JSON:
        """Build (without queueing) a message update carrying no text but one of MEDIA_KINDS."""
        if kind not in MEDIA_KINDS:
            raise ValueError(f"kind must be one of {MEDIA_KINDS}, got {kind!r}")
        with self._lock:
            message = self._new_user_message(chat_id, user_id, chat_type, first_name, None)
            message.update(self._media(kind))
            if caption is not None:
                message["caption"] = caption
            self._messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
            return {"update_id": self._new_update_id(), "message": message}

    def push_media(self, chat_id: int, kind: str, **options: Any) -> JSON:
        """Queue a photo, sticker, voice... message (see make_update_media); return it."""
        return self._enqueue(self.make_update_media(chat_id, kind, **options))

    def make_update_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "Runner",
        check_button: bool = True,
    ) -> JSON:
        """Build (without queueing) a "callback_query" update: a user pressed a button.

        The query's message is the bot's sent message as it is now. With check_button, data
        must be the callback_data of one of its current inline buttons, as in Telegram.
        """
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None or message.get("from", {}).get("id") != self.bot_id:
                raise ValueError(
                    f"the bot sent no message {message_id} in chat {chat_id}; it sent: "
                    f"{[(s.get('chat_id'), s['message_id']) for s in self._sent][-10:]}"
                )
            buttons = [
                b.get("callback_data") for b in _inline_buttons(message.get("reply_markup"))
            ]
            if check_button and data not in buttons:
                raise ValueError(
                    f"message {message_id} in chat {chat_id} has no button with callback_data "
                    f"{data!r}; its buttons carry {buttons}"
                )
            if user_id is None:
                user_id = chat_id if chat_id > 0 else DEFAULT_GROUP_USER_ID
            query_id = str(next(self._callback_ids))
            query = {
                "id": query_id,
                "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(chat_id) * 31 + 17),
                "data": data,
            }
            self._callbacks[query_id] = {"answered": False}
            return {"update_id": self._new_update_id(), "callback_query": query}

    def push_callback(self, chat_id: int, message_id: int, data: str, **options: Any) -> JSON:
        """Queue a button press on the bot's message (see make_update_callback); return it."""
        return self._enqueue(self.make_update_callback(chat_id, message_id, data, **options))

    def push_update(self, update: JSON) -> JSON:
        """Queue any Update dict (update_id assigned if missing); return the queued Update.

        Messages and callback queries in it are remembered, so replies, edits and
        answerCallbackQuery about them work.
        """
        update = copy.deepcopy(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._new_update_id()
            else:
                self._last_update_id = max(self._last_update_id, int(update["update_id"]))
                self._update_ids = itertools.count(self._last_update_id + 1)
            self._remember(update)
        return self._enqueue(update)

    def add_file(self, data: bytes, *, file_path: str | None = None) -> JSON:
        """Store a file that getFile and base_file_url serve; return its File dict."""
        with self._lock:
            number = next(self._file_ids)
            file = {
                "file_id": f"FILE{number}",
                "file_unique_id": f"U{number}",
                "file_size": len(data),
                "file_path": file_path or f"documents/file_{number}",
            }
            self._files[file["file_id"]] = {**file, "data": data}
            return dict(file)

    def post_to_webhook(
        self,
        update: JSON,
        *,
        url: str | None = None,
        secret_token: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """POST an update to the webhook set with setWebhook, as Telegram does; return the
        HTTP status. The stored secret_token is sent unless another is given ("" for none).

        Blocking: from a coroutine, call it with asyncio.to_thread.
        """
        with self._lock:
            url = url or self._webhook.get("url")
            token = self._webhook.get("secret_token") if secret_token is None else secret_token
        if not url:
            raise RuntimeError("no webhook is set: call setWebhook first or pass url=")
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        request = urllib.request.Request(
            url, data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            with error:
                return error.code

    # ---------------------------------------------------------------- internals

    def _new_update_id(self) -> int:
        self._last_update_id = next(self._update_ids)
        return self._last_update_id

    def _enqueue(self, update: JSON) -> JSON:
        with self._changed:
            self._updates.append(copy.deepcopy(update))
            self._updates.sort(key=lambda queued: queued["update_id"])
            self._changed.notify_all()
        return update

    def _new_message_id(self, chat_id: int) -> int:
        number = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = number + 1
        return number

    def _chat(self, chat_id: int) -> JSON:
        if chat_id in self._chats:
            return dict(self._chats[chat_id])
        if chat_id > 0:
            return {"id": chat_id, "type": "private"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test group"}

    def _new_user_message(
        self,
        chat_id: int,
        user_id: int | None,
        chat_type: str,
        first_name: str,
        title: str | None,
    ) -> JSON:
        if user_id is None:
            user_id = chat_id if chat_type == "private" else DEFAULT_GROUP_USER_ID
        chat: JSON = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title or "Test group"
        self._chats[chat_id] = chat
        return {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": dict(chat),
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
        }

    def _remember(self, update: JSON) -> None:
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict):
                self._remember_message(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._callbacks[str(query["id"])] = {"answered": False}
            if isinstance(query.get("message"), dict):
                self._remember_message(query["message"])

    def _remember_message(self, message: JSON) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat or "message_id" not in message:
            return
        chat_id, message_id = int(chat["id"]), int(message["message_id"])
        self._chats.setdefault(chat_id, dict(chat))
        self._messages[(chat_id, message_id)] = copy.deepcopy(message)
        self._next_message_id[chat_id] = max(self._next_message_id.get(chat_id, 1), message_id + 1)

    def _media(self, kind: str) -> JSON:
        number = next(self._file_ids)
        ids = {"file_id": f"{kind.upper()}{number}", "file_unique_id": f"U{kind}{number}"}
        if kind == "photo":
            return {
                "photo": [
                    {**ids, "width": 90, "height": 90, "file_size": 1200},
                    {**ids, "file_id": ids["file_id"] + "b", "width": 800, "height": 800},
                ]
            }
        if kind == "sticker":
            return {
                "sticker": {**ids, "type": "regular", "width": 512, "height": 512,
                            "is_animated": False, "is_video": False, "emoji": "👍"}
            }  # fmt: skip
        if kind in ("voice", "audio"):
            mime = "audio/ogg" if kind == "voice" else "audio/mpeg"
            return {kind: {**ids, "duration": 3, "mime_type": mime}}
        if kind == "video":
            return {"video": {**ids, "width": 640, "height": 360, "duration": 3}}
        if kind == "video_note":
            return {"video_note": {**ids, "length": 240, "duration": 3}}
        if kind == "document":
            return {"document": {**ids, "file_name": "notes.pdf", "mime_type": "application/pdf"}}
        if kind == "animation":
            animation = {**ids, "width": 320, "height": 240, "duration": 2}
            return {"animation": animation, "document": {**ids, "mime_type": "video/mp4"}}
        if kind == "location":
            return {"location": {"latitude": 51.5007, "longitude": -0.1246}}
        return {"contact": {"phone_number": "+15550100", "first_name": "Coach"}}

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._changed:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
            self._changed.notify_all()

    def _record_failure(self, method: str, code: int, description: str) -> None:
        with self._changed:
            self._failures.append((method, code, description))
            self._changed.notify_all()

    def _dispatch(
        self, path: str, content_type: str, body: bytes, connection: socket.socket
    ) -> tuple[int, bytes, str]:
        """Answer one HTTP request: (status, body, content type)."""
        split = urllib.parse.urlsplit(path)
        file_match = re.fullmatch(r"/file/bot([^/]+)/(.+)", split.path)
        if file_match:
            return self._serve_file(*file_match.groups())
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z_]+)/?", split.path)
        if not match:
            return self._error_response(ApiError(404, "Not Found"))
        token, method = urllib.parse.unquote(match.group(1)), match.group(2)
        if token != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        name, handler = self._methods.get(method.lower(), (method, None))
        try:
            params = {
                key: decode_value(key, value)
                for key, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True)
            }
            params.update(parse_body(body, content_type))
        except (ApiError, UnicodeDecodeError) as error:
            params = {}
            failure = error if isinstance(error, ApiError) else _bad("body is not UTF-8")
            self._record_call(name, params)
            return self._error_response(failure, name)
        self._record_call(name, params)
        with self._lock:
            injected = self._injected.get(name.lower())
            failure = injected.pop(0) if injected else None
        if failure is not None:
            return self._error_response(failure, name)
        if handler is None:
            return self._error_response(ApiError(404, "Not Found"), name)
        try:
            result = handler(params, connection)
        except ApiError as error:
            return self._error_response(error, name)
        except _ClientGone:
            raise
        except Exception:
            error = ApiError(500, f"Internal Server Error: {traceback.format_exc()}")
            return self._error_response(error, name)
        return 200, json.dumps({"ok": True, "result": result}).encode(), "application/json"

    def _record_call(self, method: str, params: JSON) -> None:
        with self._changed:
            self._calls.append(Call(method, params, time.monotonic()))
            self._changed.notify_all()

    def _error_response(self, error: ApiError, method: str = "") -> tuple[int, bytes, str]:
        self._record_failure(method, error.error_code, error.description)
        payload: JSON = {
            "ok": False,
            "error_code": error.error_code,
            "description": error.description,
        }
        if error.parameters:
            payload["parameters"] = error.parameters
        return error.error_code, json.dumps(payload).encode(), "application/json"

    def _serve_file(self, token: str, file_path: str) -> tuple[int, bytes, str]:
        if urllib.parse.unquote(token) != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        with self._lock:
            for file in self._files.values():
                if file["file_path"] == urllib.parse.unquote(file_path):
                    return 200, file["data"], "application/octet-stream"
        return self._error_response(ApiError(404, "Not Found"))

    @staticmethod
    def _scope_key(scope: JSON | None, language_code: str | None) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code or ""

    def _stored_message(self, params: JSON, *, verb: str) -> JSON:
        """The bot's message that params (chat_id, message_id) points at, to edit or delete."""
        if "chat_id" not in params or "message_id" not in params:
            raise _bad("message identifier is not specified")
        try:
            key = (int(params["chat_id"]), int(params["message_id"]))
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        message = self._messages.get(key)
        if message is None:
            raise _bad(f"message to {verb} not found")
        if verb == "edit" and message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return message

    # ---------------------------------------------------------------- Bot API methods

    def _get_me(self, params: JSON, connection: socket.socket) -> JSON:
        return self.bot_user

    def _get_updates(self, params: JSON, connection: socket.socket) -> list[JSON]:
        try:
            offset = int(params.get("offset") or 0)
            limit = min(max(int(params.get("limit") or 100), 1), 100)
            timeout = max(float(params.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            raise _bad("wrong parameter in getUpdates") from None
        deadline = time.monotonic() + timeout
        with self._changed:
            if self._webhook.get("url"):
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            while True:
                if offset < 0:
                    self._updates = self._updates[offset:]
                    batch = self._updates[:limit]
                else:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                    batch = self._updates[:limit]
                if batch or self._stopping:
                    return copy.deepcopy(batch)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._changed.wait(min(remaining, 0.25))
                if _client_gone(connection):
                    raise _ClientGone

    def _message_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if text is None or text == "":
            raise _bad("message text is empty")
        text = str(text)
        parse_mode = str(params.get("parse_mode") or "")
        if parse_mode.upper() == "HTML":
            text, entities = parse_html(text)
        else:
            entities = params.get("entities") or []
            if not isinstance(entities, list):
                raise _bad("can't parse entities JSON object")
        text, entities = strip_text(text, entities)
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return text, entities

    def _send_message(self, params: JSON, connection: socket.socket) -> JSON:
        received = time.monotonic()
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        text, entities = self._message_text(params)
        markup = params.get("reply_markup")
        check_reply_markup(markup)
        with self._changed:
            reply_to = None
            reply = params.get("reply_parameters")
            if isinstance(reply, dict) or "reply_to_message_id" in params:
                reply = (
                    reply
                    if isinstance(reply, dict)
                    else {
                        "message_id": params["reply_to_message_id"],
                        "allow_sending_without_reply": params.get("allow_sending_without_reply"),
                    }
                )
                replied_chat = int(reply.get("chat_id") or chat_id)
                reply_to = self._messages.get((replied_chat, int(reply.get("message_id") or 0)))
                if reply_to is None and not reply.get("allow_sending_without_reply"):
                    raise _bad("message to be replied not found")
            message: JSON = {
                "message_id": self._new_message_id(chat_id),
                "from": self._bot_sender(),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": text,
            }
            if entities:
                message["entities"] = entities
            if reply_to is not None:
                message["reply_to_message"] = copy.deepcopy(reply_to)
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            self._messages[(chat_id, message["message_id"])] = copy.deepcopy(message)
            self._sent.append(
                {**params, "message_id": message["message_id"], "time": received,
                 "message": copy.deepcopy(message)}
            )  # fmt: skip
            self._changed.notify_all()
            return message

    def _send_chat_action(self, params: JSON, connection: socket.socket) -> bool:
        if params.get("chat_id") in (None, ""):
            raise _bad("chat_id is empty")
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _answer_callback_query(self, params: JSON, connection: socket.socket) -> bool:
        with self._lock:
            query = self._callbacks.get(str(params.get("callback_query_id")))
            if query is None:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            query["answered"] = True
            return True

    def _edit(self, params: JSON, change: Callable[[JSON], None]) -> JSON | bool:
        if "inline_message_id" in params:
            return True
        with self._lock:
            message = self._stored_message(params, verb="edit")
            edited = copy.deepcopy(message)
            change(edited)
            if edited == message:
                raise _bad(NOT_MODIFIED)
            edited["edit_date"] = int(time.time())
            self._messages[(message["chat"]["id"], message["message_id"])] = edited
            return copy.deepcopy(edited)

    def _edit_message_text(self, params: JSON, connection: socket.socket) -> JSON | bool:
        text, entities = self._message_text(params)
        markup = params.get("reply_markup")
        check_reply_markup(markup)

        def change(message: JSON) -> None:
            message["text"] = text
            message.pop("entities", None)
            message.pop("reply_markup", None)
            if entities:
                message["entities"] = entities
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup

        return self._edit(params, change)

    def _edit_message_reply_markup(self, params: JSON, connection: socket.socket) -> JSON | bool:
        markup = params.get("reply_markup")
        check_reply_markup(markup)

        def change(message: JSON) -> None:
            message.pop("reply_markup", None)
            if isinstance(markup, dict) and _inline_buttons(markup):
                message["reply_markup"] = markup

        return self._edit(params, change)

    def _delete_message(self, params: JSON, connection: socket.socket) -> bool:
        with self._lock:
            message = self._stored_message(params, verb="delete")
            del self._messages[(message["chat"]["id"], message["message_id"])]
            return True

    def _set_my_commands(self, params: JSON, connection: socket.socket) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad('parameter "commands" must be an Array of at most 100 BotCommand')
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params.get("scope"), params.get("language_code"))
        with self._lock:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    def _get_my_commands(self, params: JSON, connection: socket.socket) -> list[JSON]:
        return self.commands_for(params.get("scope"), params.get("language_code") or "")

    def _delete_my_commands(self, params: JSON, connection: socket.socket) -> bool:
        with self._lock:
            self._commands.pop(
                self._scope_key(params.get("scope"), params.get("language_code")), None
            )
        return True

    def _set_webhook(self, params: JSON, connection: socket.socket) -> bool:
        url = params.get("url", "")
        if not isinstance(url, str):
            raise _bad("bad webhook: URL must be a string")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        with self._changed:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if not url:
                self._webhook = {"url": ""}
                return True
            self._webhook = {
                "url": url,
                "secret_token": secret,
                "has_custom_certificate": isinstance(params.get("certificate"), dict),
                "max_connections": int(params.get("max_connections") or 40),
                "allowed_updates": params.get("allowed_updates"),
                "ip_address": params.get("ip_address"),
                "drop_pending_updates": bool(params.get("drop_pending_updates")),
            }
            self._changed.notify_all()
        return True

    def _delete_webhook(self, params: JSON, connection: socket.socket) -> bool:
        with self._changed:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self._webhook = {"url": ""}
            self._changed.notify_all()
        return True

    def _get_webhook_info(self, params: JSON, connection: socket.socket) -> JSON:
        with self._lock:
            webhook = self._webhook
            info: JSON = {
                "url": webhook.get("url", ""),
                "has_custom_certificate": bool(webhook.get("has_custom_certificate")),
                "pending_update_count": len(self._updates),
            }
            if webhook.get("url"):
                info["max_connections"] = webhook["max_connections"]
                for key in ("allowed_updates", "ip_address"):
                    if webhook.get(key) is not None:
                        info[key] = webhook[key]
            return info

    def _get_file(self, params: JSON, connection: socket.socket) -> JSON:
        with self._lock:
            file = self._files.get(str(params.get("file_id")))
            if file is None:
                raise _bad("invalid file_id")
            return {key: value for key, value in file.items() if key != "data"}
