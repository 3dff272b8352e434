"""Issue 12's targets 1, 2 and 5: issuance throughput and latency in both topologies against
the floor client and certbot (one run, one Pebble build), and the memory of every Certkeeper
process, idle and during the throughput run.

The runners are :mod:`bench.issuance`'s; this module measures memory around their bursts and
turns their rows into figures.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.figures import Figure, at_least, at_most, value_at_most
from bench.issuance import (
    FLOOR_LABEL,
    Row,
    Side,
    SideOpener,
    certbot,
    certkeeper_side,
    floor_side,
    measure_sides,
)
from bench.memory import MemoryWatch, ProcessMemory, highest
from tests.e2e.stack import Stack, WorkerProcess, embedded_stack, production_stack

FLOOR_SHARE = 0.5  # of the floor's rate
CERTBOT_TIMES = 50.0  # certbot's rate
LATENCY_TIMES = 4.0  # the floor's per-certificate time
IDLE_MB = 150.0
PEAK_MB = 300.0


@dataclass
class Topology:
    label: str  # "embedded", "production"
    open_stack: Callable[[], contextlib.AbstractContextManager[Stack]]


TOPOLOGIES = (Topology("production", production_stack), Topology("embedded", embedded_stack))


@contextlib.contextmanager
def _notifier(stack: Stack) -> Iterator[WorkerProcess | None]:
    """The production stack's notifier (the stack starts api, issuer and renewer)."""
    if stack.worker is None:  # all-in-one: the notifier runs inside it
        yield None
        return
    notifier = WorkerProcess(stack.env, stack.log_dir / "notifier.log", kind="notifier")
    notifier.start()
    try:
        yield notifier
    finally:
        notifier.stop()


def _roots(stack: Stack, notifier: WorkerProcess | None) -> dict[str, int]:
    if stack.api_pid is None:
        raise RuntimeError("the stack names no api process")
    if stack.worker is None:
        return {"all-in-one": stack.api_pid}
    roots = {"api": stack.api_pid}
    for label, process in (("issuer", stack.worker), ("renewer", stack.renewer),
                           ("notifier", notifier)):
        if process is not None and process.proc is not None:
            roots[label] = process.proc.pid
    return roots


@contextlib.contextmanager
def watched(topology: Topology, watches: list[MemoryWatch]) -> Iterator[Side]:
    """The topology on a fresh stack (and notifier) as a side to measure; the watch on its
    processes' memory (idle just before the burst, peak over their lives, so far dominated
    by the burst) is appended to ``watches``."""
    with topology.open_stack() as stack, _notifier(stack) as notifier:
        watch = MemoryWatch(_roots(stack, notifier))
        watches.append(watch)

        def around_burst() -> contextlib.AbstractContextManager[None]:
            watch.idle()
            return watch.during()

        yield certkeeper_side(stack, topology.label, around_burst)


def throughput_figures(label: str, row: Row, floor: Row, bot: Row | None) -> list[Figure]:
    found = [
        Figure(f"issuance throughput, {label}", row.rate, "cert/s", floor.rate, "floor",
               at_least(FLOOR_SHARE)),
    ]
    if bot is not None:
        found.append(Figure(f"issuance throughput, {label} vs certbot", row.rate, "cert/s",
                            bot.rate, "certbot", at_least(CERTBOT_TIMES)))
    found.append(Figure(f"latency POST to issued (median), {label}", row.median * 1000, "ms",
                        floor.median * 1000, "floor", at_most(LATENCY_TIMES)))
    return found


def _floor_against_certbot(floor: Row, bot: Row) -> Figure:
    """No target: how far the floor itself outruns certbot. certbot's rate is set by its
    fixed sleeps, the floor's by the machine, so on a slow day 50 times certbot can ask for more
    than half the floor, or more than the floor makes: this row says so in the same run."""
    return Figure("issuance throughput, the floor client vs certbot (information)", floor.rate,
                  "cert/s", bot.rate, "certbot")


def memory_figures(label: str, memory: list[ProcessMemory]) -> list[Figure]:
    found = []
    for process in memory:
        if process.idle_mb is not None:
            found.append(Figure(f"RSS idle, {label}: {process.label}", process.idle_mb, "MB",
                                target=value_at_most(IDLE_MB)))
        found.append(Figure(f"RSS peak, {label}: {process.label}", process.peak_mb, "MB",
                            target=value_at_most(PEAK_MB)))
    return found


def run(runs: int, requests: int, certbot_count: int, bursts: int,
        topologies: tuple[Topology, ...] = TOPOLOGIES) -> tuple[list[Figure], dict[str, Row]]:
    """Every figure of targets 1, 2 and 5, and the rows by label (``floor``, ``certbot``
    and each topology's) for the parts that compare with them. The floor and the topologies
    take turns, each opened afresh for each of ``bursts`` rounds
    (:func:`bench.issuance.measure_sides`); certbot runs alone before them. A process's
    memory is the highest of its rounds."""
    rows = {"certbot": certbot(certbot_count)} if certbot_count else {}
    watches: dict[str, list[MemoryWatch]] = {t.label: [] for t in topologies}
    openers: list[SideOpener] = [floor_side]
    openers += [functools.partial(watched, t, watches[t.label]) for t in topologies]
    by_label = measure_sides(openers, runs, requests, bursts)
    rows["floor"] = by_label[FLOOR_LABEL]
    rows |= {t.label: by_label[t.label] for t in topologies}
    for label, row in rows.items():
        print(f"  {label}: median {row.median * 1000:.0f} ms, {row.rate:.2f} cert/s",
              flush=True)
    figures: list[Figure] = []
    for t in topologies:
        figures += throughput_figures(t.label, rows[t.label], rows["floor"], rows.get("certbot"))
    if "certbot" in rows:
        figures.append(_floor_against_certbot(rows["floor"], rows["certbot"]))
    for label, each in watches.items():
        figures += memory_figures(label, highest(watch.results() for watch in each))
    return figures, rows
