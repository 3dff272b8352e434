"""The systemd units in deploy/systemd pass `systemd-analyze verify` without a warning, and
each ExecStart runs a real certkeeper command."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import _parser
from tests.deploy.lock import ROOT

UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/certkeeper/bin/certkeeper"


def _exec_starts(unit: Path) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in unit.read_text().splitlines()
            if line.startswith("ExecStart=")]


def test_the_units_verify_cleanly(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: `make system-packages` installs systemd"
    units = sorted(p for p in UNITS.iterdir() if p.suffix in {".service", ".timer"})
    assert {p.name for p in units} == {
        "certkeeper.service", "certkeeper-backup.service", "certkeeper-backup.timer"
    }
    # verify checks that ExecStart's program exists: point it at this virtualenv's.
    here = str(Path(sys.executable).parent / "certkeeper")
    for unit in units:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit.name) for unit in units)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("unit", ["certkeeper.service", "certkeeper-backup.service"])
def test_exec_start_is_a_certkeeper_command(unit: str) -> None:
    (argv,) = _exec_starts(UNITS / unit)
    assert argv[0] == INSTALLED
    try:
        _parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{unit}: `certkeeper {' '.join(argv[1:])}` is not a certkeeper command")
