"""The issuer killed (SIGKILL) right after each step's call reached the CA, before it learned
the answer: after newOrder, after answering the challenge, while the order is processing
(after finalize), and between the download and the commit. Every request ends issued, with
exactly one certificate. SIGTERM in the middle of a step lets the step finish, exits 0 within
the grace period, and loses nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, production_stack
from tests.harness.faults import Hold

# Pebble's paths for each ACME call the issuer makes (through the fault proxy).
CRASH_POINTS = {
    "after newOrder": "/order-plz",
    "after answering": "/chalZ/",
    "while processing": "/finalize-order/",
    "between download and commit": "/certZ/",
}
GRACE_SECONDS = 25  # the worker lets running jobs finish for 20 s


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with production_stack(faults=True) as started:
        yield with_account(started)


def _certificates_of(stack: Stack, request_id: str) -> int:
    rows = query(stack, f"SELECT count(*) FROM certificates WHERE request_id = '{request_id}'")
    return int(rows[0][0])


def _held_mid_step(stack: Stack, path_part: str, name: str) -> tuple[str, Hold]:
    """Submit a request; return once the CA has answered ``path_part`` and the answer waits."""
    assert stack.proxy is not None
    hold = Hold("POST", path_part, after=True)
    stack.proxy.holds.append(hold)
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": name, "key_type": "ec"})
    assert created.status_code == 202, created.text
    assert hold.held.wait(30), f"the issuer never called {path_part}\n{stack.logs()}"
    return str(created.json()["id"]), hold


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_sigkill_after_each_step_issues_exactly_once(stack: Stack, point: str) -> None:
    assert stack.worker is not None
    slug = point.replace(" ", "-").replace("newOrder", "neworder")
    request_id, hold = _held_mid_step(stack, CRASH_POINTS[point], f"{slug}.example.test")
    stack.worker.kill()
    hold.release.set()  # the answer goes to a dead connection
    stack.worker.start()
    done = stack.wait_final(request_id, timeout=60)
    assert done["status"] == "issued", done
    assert _certificates_of(stack, request_id) == 1


def test_sigterm_mid_step_finishes_the_step_and_loses_nothing(stack: Stack) -> None:
    worker = stack.worker
    assert worker is not None and worker.proc is not None
    request_id, hold = _held_mid_step(stack, "/finalize-order/", "sigterm.example.test")
    worker.proc.send_signal(signal.SIGTERM)
    hold.release.set()  # the step in flight gets its answer during the grace period
    assert worker.proc.wait(timeout=GRACE_SECONDS) == 0, worker.log_path.read_text()[-3000:]
    worker.proc = None
    worker.start()
    done = stack.wait_final(request_id, timeout=60)
    assert done["status"] == "issued", done
    assert _certificates_of(stack, request_id) == 1
