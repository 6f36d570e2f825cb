"""A throwaway PostgreSQL server on a loopback port, started by the tests themselves.

It uses the server binaries of the machine (Debian's `postgresql` package, which `make test`
installs when missing: scripts/ensure_test_tools.sh). PostgreSQL refuses to run as root, so
as root it runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "PostgreSQL's server programs are not installed: run scripts/ensure_test_tools.sh "
        "(`make test` does) or `apt-get install postgresql`"
    )


class PostgresServer:
    """initdb into a temporary folder, start on a free port, stop and delete at the end."""

    def __init__(self, durable: bool = False) -> None:
        """`durable`: sync commits to disk as a production server does (off for tests)."""
        self.durable = durable
        self.bin = _bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="hipbot-pg-"))
        self.data = self.folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://hipbot@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, cwd=self.folder, timeout=120
        )

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "hipbot",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        if not self.durable:
            options += " -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
            "-l", str(self.folder / "server.log"), "start",
        )  # fmt: skip
        return self

    def new_database(self, name: str) -> str:
        """Create an empty database; return its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
