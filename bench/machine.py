"""What a benchmark ran on: the header of ``make bench``'s table."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.harness.pebble import PEBBLE
from tests.harness.postgres import PG_BIN


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def postgres_version() -> str:
    """``PostgreSQL 15.20 (Debian ...)`` from ``postgres (PostgreSQL) 15.20 (Debian ...)``."""
    return "PostgreSQL " + _output([str(PG_BIN / "postgres"), "--version"]).removeprefix(
        "postgres (PostgreSQL) ")


def pebble_version() -> str:
    """Pebble prints no version; its package's, where a package manager knows it."""
    if shutil.which("dpkg-query"):
        return _output(["dpkg-query", "-W", "-f", "${Version}", Path(PEBBLE).name])
    return "unknown"


def header(started: datetime, load_before: str) -> list[str]:
    """Lines naming the machine, the versions, the date and the load before and now."""
    return [
        f"date: {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()}",
        f"load average (1, 5, 15 min): before {load_before}, after {load_average()}",
        f"Python {platform.python_version()}, {postgres_version()}, "
        f"Pebble {pebble_version()} (PEBBLE_VA_NOSLEEP=1)",
    ]
