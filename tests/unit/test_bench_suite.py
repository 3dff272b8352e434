"""``make bench``'s driver: its command line, the table's verdicts, the memory reading."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.api_scale import Result, result_of
from bench.figures import Figure, at_least, at_most, equal, table, value_at_most
from bench.issuance import Side, SideOpener, measure_sides
from bench.memory import MemoryWatch, ProcessMemory, highest
from bench.repository import api_figures
from bench.scale_out import logged_troubles
from bench.suite import parts_of


def test_help_runs_without_starting_anything() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.suite", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout and "--total" in done.stdout


def test_unknown_part_is_refused() -> None:
    assert parts_of("api, renewer") == {"api", "renewer"}
    with pytest.raises(Exception, match="unknown part fast"):
        parts_of("api,fast")


@pytest.mark.parametrize(
    ("figure", "met"),
    [
        (Figure("throughput", 6.0, "cert/s", 10.0, "floor", at_least(0.5)), True),
        (Figure("throughput", 4.9, "cert/s", 10.0, "floor", at_least(0.5)), False),
        (Figure("latency", 400.0, "ms", 100.0, "floor", at_most(4)), True),
        (Figure("latency", 401.0, "ms", 100.0, "floor", at_most(4)), False),
        (Figure("orders", 100, "orders", 100, "requests", equal(1)), True),
        (Figure("orders", 101, "orders", 100, "requests", equal(1)), False),
        (Figure("idle", 150.0, "MB", target=value_at_most(150)), True),
        (Figure("idle", 151.0, "MB", target=value_at_most(150)), False),
        (Figure("rate", 24.0, "cert/s"), None),
        (Figure("throughput", 6.0, "cert/s", None, "floor", at_least(0.5)), None),
    ],
)
def test_figure_verdicts(figure: Figure, met: bool | None) -> None:
    assert figure.met is met


def test_table_shows_value_reference_ratio_target_and_verdict() -> None:
    lines = table([
        Figure("issuance throughput, embedded", 4.0, "cert/s", 10.0, "floor", at_least(0.5)),
        Figure("RSS idle, embedded: all-in-one", 120.5, "MB", target=value_at_most(150)),
    ]).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["figure", "Certkeeper", "reference", "ratio", "target", "met?"]
    assert cells[2] == ["issuance throughput, embedded", "4 cert/s", "10 cert/s (floor)", "0.40",
                        "ratio ≥ 0.5", "NO"]
    assert cells[3] == ["RSS idle, embedded: all-in-one", "120 MB", "-", "-", "≤ 150 MB", "yes"]


def test_memory_watch_follows_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        watch = MemoryWatch({"bench": os.getpid()})
        watch.idle()
        with watch.during():
            pass
        found = {m.pid: m for m in watch.results()}
        assert found[os.getpid()].label == "bench"
        assert found[child.pid].label == "bench child"
        for memory in found.values():
            assert memory.idle_kib is not None and 0 < memory.idle_kib <= memory.peak_kib
    finally:
        child.kill()
        child.wait()


def test_api_figures_hold_filtered_pages_to_the_target_and_pair_deep_with_first() -> None:
    def page(name: str, api_p50: float, api_p99: float, raw_p99: float) -> Result:
        return result_of({"page": name, "api_p50": api_p50, "api_p99": api_p99, "raw_p50": 1.0,
                          "raw_p99": raw_p99, "ratio_p99": api_p99 / raw_p99})

    found = {f.name: f for f in api_figures([
        page("all first", 10, 50, 10), page("all deep", 30, 90, 10),
        page("domain first", 5, 20, 10),
    ], clients=50)}
    assert found["API p99, all first page, 50 clients"].met is None  # unfiltered: no target
    assert found["API p99, domain first page, 50 clients"].met is True  # 2.0 <= 3
    deep = found["API p50, all deep page vs first"]
    assert (deep.value, deep.reference, deep.met) == (30, 10, False)  # 3.0 > 1.5


def test_sides_take_turns_opened_afresh_and_a_rate_is_the_median_burst() -> None:
    calls: list[tuple[str, str]] = []
    burst_seconds = {"floor": iter([0.02, 0.2, 0.08]), "stack": iter([0.2, 0.02, 0.08])}

    def opener(label: str) -> SideOpener:
        @contextlib.contextmanager
        def opened() -> Iterator[Side]:
            def burst(names: list[str]) -> None:
                assert len(names) == 4 and len(set(names)) == 4
                calls.append((label, f"burst of {len(names)}"))
                time.sleep(next(burst_seconds[label]))

            calls.append((label, "open"))
            yield Side(label, lambda name: calls.append((label, name.split(".")[0])), burst)
            calls.append((label, "close"))

        return opened

    rows = measure_sides([opener("floor"), opener("stack")], runs=2, concurrent=4, bursts=3)

    assert calls == [
        (label, step)
        for round_ in range(3) for label in ("floor", "stack")
        for step in ("open", f"warmup{round_}", f"seq{round_}-0", f"seq{round_}-1",
                     "burst of 4", "close")
    ]
    for label in ("floor", "stack"):
        assert 0.08 <= rows[label].wall < 0.2  # the median burst, not the fastest or the mean
        assert rows[label].rate == 4 / rows[label].wall
        assert rows[label].label == label


def test_memory_of_several_rounds_is_each_process_highest() -> None:
    first = [ProcessMemory("api", 10, idle_kib=100, peak_kib=300),
             ProcessMemory("issuer", 11, idle_kib=None, peak_kib=500)]
    second = [ProcessMemory("api", 20, idle_kib=150, peak_kib=200),
              ProcessMemory("issuer", 21, idle_kib=90, peak_kib=400)]

    found = {m.label: (m.idle_kib, m.peak_kib) for m in highest([first, second])}

    assert found == {"api": (150, 300), "issuer": (90, 500)}


def test_a_failed_scale_out_counts_what_the_logs_warn_of(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text("\n".join([
        '{"level": "INFO", "event": "request.issued"}',
        '{"level": "WARNING", "event": "request.retry_scheduled", "problem": "urn:x:badNonce"}',
        '{"level": "WARNING", "event": "request.retry_scheduled", "problem": "urn:x:badNonce"}',
        "Traceback (most recent call last):",
        '{"level": "ERROR", "event": "request.step_crashed"}',
    ]))
    (tmp_path / "api-2.log").write_text('{"level": "WARNING", "event": "db.slow"}\n')
    assert logged_troubles(tmp_path) == {
        "worker: request.retry_scheduled urn:x:badNonce": 2,
        "worker: request.step_crashed ": 1,
        "api-2: db.slow ": 1,
    }
