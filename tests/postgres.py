"""A throwaway PostgreSQL server for the test session, on a Unix socket in a temp dir.

The suite runs every database test on SQLite and on PostgreSQL; this starts the real
server from the Debian packages (scripts/setup.sh installs them), as the ``postgres``
user when the tests run as root, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _free_port() -> int:
    # The server listens on a Unix socket only; the port names the socket file, and a
    # free TCP port number keeps two servers (tests and a benchmark) apart.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(candidates[-1]) if candidates else None


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        """``durable`` keeps PostgreSQL's own fsync settings (benchmarks); tests run
        without them, as nothing must survive a crash."""
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL is not installed: run `bash scripts/setup.sh dev` as root, or "
                "apt-get install postgresql"
            )
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="uhs-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.durable = durable
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "uhs", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        self.resume()

    def resume(self) -> None:
        """Start the server (again, after ``halt``), on the same socket and data."""
        options = f"-k {self.root} -p {self.port} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def halt(self) -> None:
        """Stop the server as a crash does (immediate mode: connections cut, no
        checkpoint), keeping its data for ``resume``."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://uhs@/{database}?host={self.root}&port={self.port}"
