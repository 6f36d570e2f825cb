"""`hipbot telegram` as a real process of its own, in webhook mode, for tests and load runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.config import Settings


def free_port() -> int:
    """Return a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_bot(
    settings: Settings, api_token: str, api_url: str, port: int, folder: Path, **extra: str
) -> subprocess.Popen:
    """Start `hipbot telegram` on `port`; its log goes to folder/bot.log."""
    env = {
        **os.environ,
        "HIPBOT_TELEGRAM_TOKEN": api_token,
        "HIPBOT_TELEGRAM_BASE_URL": api_url,
        "HIPBOT_TELEGRAM_MODE": "webhook",
        "HIPBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}",
        "HIPBOT_WEBHOOK_PORT": str(port),
        "HIPBOT_STATE_DB": str(folder / "state.sqlite3"),
        "HIPBOT_CORPUS_DIR": str(Path(settings.corpus_dir).resolve()),
        "HIPBOT_INDEX_DIR": str(Path(settings.index_dir).resolve()),
        "HIPBOT_SAFETY_MODEL_DIR": str(Path(settings.safety_model_dir).resolve()),
        "HIPBOT_FLOOD_MESSAGES_PER_MINUTE": "1000",
        **extra,
    }
    hipbot = Path(sys.executable).parent / "hipbot"
    with open(folder / "bot.log", "a") as log:  # the child keeps its own copy of the file
        # cwd: away from any developer .env
        return subprocess.Popen([str(hipbot), "telegram"], cwd=folder, env=env, stderr=log)


def wait_until_healthy(process: subprocess.Popen, port: int, timeout: float = 120) -> None:
    """Poll /healthz until the database answers and the index is loaded."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the bot exited during start-up")
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if json.loads(response.read()) == {"database": True, "index": True}:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the bot never became healthy")
