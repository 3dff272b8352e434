"""A throwaway Postgres 15 cluster on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.ports import HOST, free_port
from tests.harness.process import (
    StrPath,
    retry_on_port_clash,
    run_checked,
    start,
    stop,
    tcp_open,
    temp_dir,
    wait_until,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DATABASE = "certkeeper"


@dataclass
class PostgresServer:
    port: int
    dsn: str  # postgresql://postgres@127.0.0.1:PORT/certkeeper
    sqlalchemy_url: str  # postgresql+asyncpg://postgres@127.0.0.1:PORT/certkeeper
    database: str
    pid: int
    data_dir: Path
    log_path: Path
    startup_seconds: float
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), as an outage would look to clients."""
        if self.proc is not None:
            stop(self.proc, signal.SIGINT)
            self.proc = None

    def start(self, timeout: float = 30.0) -> None:
        """Start again on the same port and data directory after :meth:`stop`."""
        if self.proc is None:
            self.proc, _ = _launch(self.data_dir.parent, timeout, port=self.port)
            self.pid = self.proc.pid


def _client_env() -> dict[str, str]:
    """The environment without PG* variables that could redirect the client tools."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _initdb(tmp: Path) -> None:
    argv: list[StrPath] = [
        PG_BIN / "initdb",
        "-D", tmp / "data",
        "-A", "trust",
        "-U", PG_USER,
        "-N",
        "-E", "UTF8",
        "--locale=C",
    ]  # fmt: skip
    run_checked(argv, log_path=tmp / "initdb.log", what="initdb", user=PG_USER, cwd=tmp)


def _connect_args(port: int) -> list[StrPath]:
    return ["-h", HOST, "-p", str(port), "-U", PG_USER]


def _accepting(port: int) -> bool:
    if not tcp_open(HOST, port):
        return False
    argv: list[StrPath] = [PG_BIN / "pg_isready", "-q", *_connect_args(port), "-t", "1"]
    try:
        result = subprocess.run(argv, env=_client_env(), timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _launch(
    tmp: Path, timeout: float, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = port or free_port()
    log_path = tmp / "postgres.log"
    argv: list[StrPath] = [
        PG_BIN / "postgres",
        "-D", tmp / "data",
        "-k", tmp,
        "-p", str(port),
        "-c", "listen_addresses=127.0.0.1",
        "-F",
        "-c", "fsync=off",
        "-c", "max_connections=200",
    ]  # fmt: skip
    proc = start(argv, log_path=log_path, user=PG_USER, cwd=tmp)
    try:
        wait_until(lambda: _accepting(port), timeout, "postgres", log_path, proc=proc)
    except BaseException:
        stop(proc, signal.SIGINT)
        raise
    return proc, port


def _createdb(tmp: Path, port: int, database: str) -> None:
    argv: list[StrPath] = [PG_BIN / "createdb", *_connect_args(port), database]
    run_checked(argv, log_path=tmp / "createdb.log", what="createdb", env=_client_env(), cwd=tmp)


@contextlib.contextmanager
def postgres_server(*, database: str = DATABASE, timeout: float = 30.0) -> Iterator[PostgresServer]:
    """initdb + postgres as the postgres user; yields once ``database`` exists.

    Stops with SIGINT (fast shutdown), SIGKILL after 5 s, and removes the data dir. A test
    may :meth:`PostgresServer.stop` and :meth:`PostgresServer.start` it in between.
    """
    began = time.monotonic()
    with temp_dir("ck-pg-", owner=PG_USER) as tmp:
        _initdb(tmp)
        proc, port = retry_on_port_clash(lambda: _launch(tmp, timeout))
        path = f"postgres@{HOST}:{port}/{database}"
        server = PostgresServer(
            port=port,
            dsn=f"postgresql://{path}",
            sqlalchemy_url=f"postgresql+asyncpg://{path}",
            database=database,
            pid=proc.pid,
            data_dir=tmp / "data",
            log_path=tmp / "postgres.log",
            startup_seconds=0.0,
            proc=proc,
        )
        try:
            _createdb(tmp, port, database)
            server.startup_seconds = time.monotonic() - began
            yield server
        finally:
            server.stop()
