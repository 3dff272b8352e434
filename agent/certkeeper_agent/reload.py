"""Running the reload command (argv, no shell) with a timeout; its exit code and the tail of
its output are reported."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass

OUTPUT_TAIL_CHARS = 2000


@dataclass(frozen=True)
class ReloadOutcome:
    exit_code: int | None
    timed_out: bool
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def report(self) -> dict[str, object]:
        return {"exit_code": self.exit_code, "timed_out": self.timed_out,
                "output_tail": self.output_tail}


def _tail(output: bytes | str | None) -> str:
    if output is None:
        return ""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return text[-OUTPUT_TAIL_CHARS:]


def _run(argv: list[str], timeout: float) -> ReloadOutcome:
    try:
        done = subprocess.run(  # noqa: S603 - the operator's configured command, no shell
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
            check=False, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        return ReloadOutcome(None, True, _tail(exc.output))
    except OSError as exc:
        return ReloadOutcome(None, False, f"cannot run {argv[0]!r}: {exc}")
    return ReloadOutcome(done.returncode, False, _tail(done.stdout))


async def run_reload(argv: list[str], limit_seconds: float) -> ReloadOutcome:
    return await asyncio.to_thread(_run, argv, limit_seconds)
