"""Process plumbing shared by the throwaway test servers.

Every server runs as a child ``subprocess.Popen`` in its own session, writes stdout and
stderr to a log file in its temp dir, is polled until ready against a deadline and is
stopped by pid (signal, then SIGKILL to its process group after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
StrPath = str | os.PathLike[str]

# pytest's tmp_path sits under a root-owned 0700 folder that the postgres user cannot enter.
TMP_ROOT = Path("/tmp")  # noqa: S108 - every dir is a fresh mkdtemp, removed on exit
STOP_GRACE = 5.0
POLL_INTERVAL = 0.02
LOG_TAIL_LINES = 40
_PORT_CLASH_MARKERS = ("address already in use", "could not bind")


class StartFailed(RuntimeError):
    """A server failed before it became ready; ``log_text`` holds the end of its log."""

    def __init__(self, message: str, log_text: str) -> None:
        super().__init__(message)
        self.log_text = log_text


class ProcessExitedEarly(StartFailed):
    """The process died before it became ready."""


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (or a placeholder if there is none)."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no log written>"
    return "\n".join(text.splitlines()[-lines:]) or "<log is empty>"


def is_root() -> bool:
    return os.geteuid() == 0


def child_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with ``overrides`` applied (for ``run_process``)."""
    env = dict(os.environ)
    env.update(overrides or {})
    return env


@contextlib.contextmanager
def temp_dir(prefix: str, *, owner: str | None = None) -> Iterator[Path]:
    """A fresh directory under /tmp (chowned to ``owner`` when root), removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=TMP_ROOT))
    try:
        if owner is not None and is_root():
            shutil.chown(path, owner, owner)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def start(
    argv: Sequence[StrPath],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout+stderr truncating ``log_path``.

    ``user`` switches user and group (no supplementary groups) only when running as root.
    """
    as_user = user if user is not None and is_root() else None
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [os.fspath(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=as_user,
            group=as_user,
            extra_groups=[] if as_user is not None else None,
            start_new_session=True,
        )


def run_checked(
    argv: Sequence[StrPath],
    *,
    log_path: Path,
    what: str,
    user: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> None:
    """Run a one-shot command to completion; raise RuntimeError with its output on failure."""
    proc = start(argv, log_path=log_path, env=env, user=user, cwd=cwd)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
        raise RuntimeError(
            f"{what} timed out after {timeout:.0f}s:\n{log_tail(log_path)}"
        ) from None
    if code != 0:
        raise RuntimeError(f"{what} failed with exit code {code}:\n{log_tail(log_path)}")


def check_alive(proc: subprocess.Popen[bytes], log_path: Path, what: str) -> None:
    """Raise ProcessExitedEarly (with the log tail) if ``proc`` has exited."""
    if proc.poll() is None:
        return
    tail = log_tail(log_path)
    message = f"{what}: pid {proc.pid} exited with code {proc.returncode}; end of {log_path}:"
    raise ProcessExitedEarly(f"{message}\n{tail}", tail)


def check_no_bind_failure(log_path: Path, what: str) -> None:
    """Raise StartFailed if a server that keeps running after a failed bind logged one."""
    tail = log_tail(log_path)
    if any(marker in tail.lower() for marker in _PORT_CLASH_MARKERS):
        raise StartFailed(f"{what} could not bind a port; end of {log_path}:\n{tail}", tail)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    log_path: Path,
    *,
    proc: subprocess.Popen[bytes] | None = None,
) -> float:
    """Poll ``predicate`` until it is true; return the seconds it took.

    Raises ProcessExitedEarly if ``proc`` dies first and RuntimeError at the deadline, both
    with the last lines of ``log_path``.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if proc is not None:
            check_alive(proc, log_path, what)
        if predicate():
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            tail = log_tail(log_path)
            raise RuntimeError(f"{what} not ready after {timeout:.1f}s; end of {log_path}:\n{tail}")
        time.sleep(POLL_INTERVAL)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and what it started (its session's process group: its
    multiprocessing helpers too), as a crashed container loses them all."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def stop(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = STOP_GRACE
) -> None:
    """Send ``sig`` to ``proc`` by pid; SIGKILL its process group if it outlives ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(proc)
    proc.wait(timeout=grace)


def tcp_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, verify: ssl.SSLContext | bool = True, timeout: float = 1.0) -> bool:
    """True when GET ``url`` answers 200 (TLS verified with ``verify``)."""
    try:
        return httpx.get(url, verify=verify, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def retry_on_port_clash(launch: Callable[[], T], attempts: int = 3) -> T:
    """Call ``launch`` again (it picks new ports) when its server lost a port race."""
    for attempt in range(1, attempts + 1):
        try:
            return launch()
        except StartFailed as exc:
            clash = any(marker in exc.log_text.lower() for marker in _PORT_CLASH_MARKERS)
            if not clash or attempt == attempts:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def run_process(
    argv: Sequence[StrPath],
    *,
    env: Mapping[str, str],
    log_path: Path,
    ready_url: str | None = None,
    timeout: float = 20,
    verify: ssl.SSLContext | bool = True,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run one of our own service processes for a test.

    ``env`` is the complete environment (see ``child_env``). If ``ready_url`` is given, waits
    until GET answers 200; raises with the log tail if the process exits first. On exit sends
    SIGTERM, then SIGKILL after 5 s.
    """
    proc = start(argv, log_path=log_path, env=env, cwd=cwd)
    try:
        if ready_url is not None:
            what = f"{os.fspath(argv[0])} ({ready_url})"
            wait_until(lambda: http_ok(ready_url, verify), timeout, what, log_path, proc=proc)
        yield proc
    finally:
        stop(proc, signal.SIGTERM, STOP_GRACE)
