"""Resident memory of Certkeeper's processes and their children, read from ``/proc``.

:class:`MemoryWatch` follows named root processes (``api``, ``issuer``, ``all-in-one``...)
and every process under them (the CPU pool's forkserver, its workers, multiprocessing's
resource tracker). :meth:`MemoryWatch.idle` notes each one's ``VmRSS`` now;
:meth:`MemoryWatch.during` samples while a workload runs and keeps each one's ``VmHWM``
(the kernel's high-water mark of its resident set, so no peak falls between two samples).
Linux only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SAMPLE_SECONDS = 0.2


def status_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in KiB (empty once the process has gone)."""
    found: dict[str, int] = {}
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0])
    return found


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def role(pid: int, parent_role: str) -> str:
    """What a child process is, from its command line and its parent."""
    line = command_line(pid)
    if "resource_tracker" in line:
        return "resource tracker"
    if parent_role == "forkserver":
        return "cpu-pool worker"
    if "forkserver" in line:
        return "forkserver"
    return "child"


@dataclass
class ProcessMemory:
    label: str  # "api", "issuer forkserver", "issuer cpu-pool worker 2"...
    pid: int
    idle_kib: int | None = None
    peak_kib: int = 0

    @property
    def idle_mb(self) -> float | None:
        return None if self.idle_kib is None else self.idle_kib / 1024

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024


class MemoryWatch:
    """The processes under ``roots`` (label -> pid)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.seen: dict[int, ProcessMemory] = {}
        self._lock = threading.Lock()

    def _tree(self) -> Iterator[tuple[int, str]]:
        """(pid, label) of every live process under the roots."""
        for label, root in self.roots.items():
            counts: dict[str, int] = {}
            stack = [(root, label, "")]
            while stack:
                pid, name, kind = stack.pop()
                yield pid, name
                for child in sorted(children(pid)):
                    child_kind = role(child, kind)
                    counts[child_kind] = counts.get(child_kind, 0) + 1
                    suffix = f" {counts[child_kind]}" if child_kind == "cpu-pool worker" else ""
                    stack.append((child, f"{label} {child_kind}{suffix}", child_kind))

    def sample(self, *, idle: bool = False) -> None:
        with self._lock:
            for pid, label in self._tree():
                memory = status_kib(pid)
                if not memory:
                    continue
                known = self.seen.setdefault(pid, ProcessMemory(label, pid))
                known.peak_kib = max(known.peak_kib, memory.get("VmHWM", 0),
                                     memory.get("VmRSS", 0))
                if idle:
                    known.idle_kib = memory.get("VmRSS")

    def idle(self) -> None:
        """Note every process's resident set now, as its idle figure."""
        self.sample(idle=True)

    @contextlib.contextmanager
    def during(self) -> Iterator[None]:
        """Sample until the block ends (processes started meanwhile are caught too)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(SAMPLE_SECONDS):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.sample()

    def results(self) -> list[ProcessMemory]:
        with self._lock:
            return sorted(self.seen.values(), key=lambda m: m.label)


def highest(readings: Iterable[list[ProcessMemory]]) -> list[ProcessMemory]:
    """One reading per process label from several runs of the same processes: the highest
    idle and the highest peak any of them had."""
    found: dict[str, ProcessMemory] = {}
    for reading in readings:
        for process in reading:
            known = found.setdefault(process.label, ProcessMemory(process.label, process.pid))
            known.peak_kib = max(known.peak_kib, process.peak_kib)
            if process.idle_kib is not None:
                known.idle_kib = max(known.idle_kib or 0, process.idle_kib)
    return sorted(found.values(), key=lambda m: m.label)
