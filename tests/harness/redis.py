"""A throwaway Redis 7 server on a free 127.0.0.1 port, which a test may stop and start again
on the same port (an outage)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.harness.ports import HOST, free_port
from tests.harness.process import StrPath, retry_on_port_clash, start, stop, temp_dir, wait_until

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass
class RedisServer:
    port: int
    url: str  # redis://127.0.0.1:PORT/0
    log_path: Path
    startup_seconds: float
    _proc: subprocess.Popen[bytes] = field(repr=False)
    _timeout: float = field(default=10.0, repr=False)

    @property
    def pid(self) -> int:
        """The pid of the current (or last) server process."""
        return self._proc.pid

    def client(self) -> redis.Redis:
        """A new synchronous client; close it (or use it as a context manager)."""
        return redis.Redis(host=HOST, port=self.port, db=0)

    def flushall(self) -> None:
        """Remove every key in every database."""
        with self.client() as client:
            client.flushall()

    def stop(self) -> None:
        """SIGTERM the server and wait for it to exit (an outage; nothing is kept)."""
        stop(self._proc)

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def start(self) -> None:
        """Start a fresh, empty server on the same port (its log starts over); return once
        PING answers."""
        assert self._proc.poll() is not None, "redis is still running"
        self._proc = _spawn(self.log_path.parent, self.port, self._timeout, self.log_path)


def _pong(port: int) -> bool:
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=0.2, socket_timeout=0.5)
    try:
        return client.ping() is True
    except redis.RedisError:
        return False
    finally:
        client.close()


def _spawn(tmp: Path, port: int, timeout: float, log_path: Path) -> subprocess.Popen[bytes]:
    argv: list[StrPath] = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", HOST,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", tmp,
    ]  # fmt: skip
    proc = start(argv, log_path=log_path, cwd=tmp)
    try:
        wait_until(lambda: _pong(port), timeout, "redis-server", log_path, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def _launch(tmp: Path, timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    return _spawn(tmp, port, timeout, tmp / "redis.log"), port


@contextlib.contextmanager
def redis_server(*, timeout: float = 10.0) -> Iterator[RedisServer]:
    """Yields once PING answers PONG; stops with SIGTERM (SIGKILL after 5 s)."""
    began = time.monotonic()
    with temp_dir("ck-redis-") as tmp:
        proc, port = retry_on_port_clash(lambda: _launch(tmp, timeout))
        server = RedisServer(
            port=port,
            url=f"redis://{HOST}:{port}/0",
            log_path=tmp / "redis.log",
            startup_seconds=time.monotonic() - began,
            _proc=proc,
            _timeout=timeout,
        )
        try:
            yield server
        finally:
            server.stop()
