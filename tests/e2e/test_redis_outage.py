"""The issuer on Redis: all-in-one issues through arq, and workers ride out a Redis restart.

Redis is stopped (SIGTERM, so every queued job is gone), kept down a few seconds and started
again, empty, on the same port. The worker must reconnect by itself and the sweeper must ring
again for what was lost: requests posted before, during and after the outage all end issued
without anyone restarting the worker.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.checks import assert_valid_certificate
from tests.e2e.conftest import with_account
from tests.e2e.stack import CERTKEEPER, Stack, embedded_stack, production_stack
from tests.harness.ports import free_port
from tests.harness.process import run_process

OUTAGE_SECONDS = 4.0


@pytest.fixture(scope="module")
def all_in_one_redis() -> Iterator[Stack]:
    """``certkeeper all-in-one`` with SQLite and ``CERTKEEPER_REDIS_URL``."""
    with embedded_stack(redis=True) as stack:
        yield with_account(stack)


@pytest.fixture(scope="module")
def worker_stack() -> Iterator[Stack]:
    """Its own production stack: this module restarts its Redis."""
    with production_stack() as stack:
        yield with_account(stack)



def test_all_in_one_with_redis_issues_over_http01(all_in_one_redis: Stack) -> None:
    response = all_in_one_redis.client().post(
        "/v1/certificate-requests",
        json={"common_name": "aio-redis.example.test", "challenge_type": "http-01"},
    )
    assert response.status_code == 202, response.text
    body = all_in_one_redis.wait_final(response.json()["id"], timeout=60)
    assert body["status"] == "issued", body
    assert_valid_certificate(all_in_one_redis, body["certificate_id"], ["aio-redis.example.test"])
    assert "worker context has no issuer" not in all_in_one_redis.logs()


def _ride_out_restart(
    stack: Stack, log: Path, alive: Callable[[], bool], prefix: str
) -> None:
    assert stack.redis is not None
    _wait_for_log(log, "Starting worker")  # arq's poll loop runs: the outage will hit it
    before = stack.submit(4, f"{prefix}-before")
    stack.redis.stop()
    during = stack.submit(4, f"{prefix}-during")
    time.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for a result
    assert alive(), "the process died with Redis:\n" + stack.logs()
    stack.redis.start()
    after = stack.submit(4, f"{prefix}-after")
    results = {i: stack.wait_final(i, timeout=60) for i in before + during + after}
    assert {i: r["status"] for i, r in results.items()} == dict.fromkeys(results, "issued")
    assert alive(), "the process died after Redis came back:\n" + stack.logs()
    assert "queue.reconnected" in log.read_text()


def test_worker_rides_out_a_redis_restart(worker_stack: Stack) -> None:
    worker = worker_stack.worker
    assert worker is not None and worker.proc is not None
    proc = worker.proc

    def alive() -> bool:
        return proc.poll() is None and worker.proc is proc

    _ride_out_restart(worker_stack, worker.log_path, alive, "wrk")


def test_all_in_one_rides_out_a_redis_restart(all_in_one_redis: Stack) -> None:
    log = all_in_one_redis.log_dir / "all-in-one.log"
    _ride_out_restart(all_in_one_redis, log, lambda: _answers(all_in_one_redis), "aio")


def _answers(stack: Stack) -> bool:
    with stack.client() as client:
        return client.get("/healthz").status_code == 200


def _wait_for_log(path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"never logged {text!r}: {path.read_text()[-3000:]}"
        time.sleep(0.02)


def test_sigterm_stops_the_worker_cleanly_and_loses_nothing(worker_stack: Stack) -> None:
    """Graceful shutdown still works under the supervisor: no new jobs, running ones may
    finish, exit 0; what was left is picked up by the next worker."""
    worker = worker_stack.worker
    assert worker is not None and worker.proc is not None
    seen = worker.log_path.read_text().count("request.order_created")
    ids = worker_stack.submit(6, "term")
    deadline = time.monotonic() + 30
    while worker.log_path.read_text().count("request.order_created") <= seen:
        assert time.monotonic() < deadline, "the worker never started the work"
        time.sleep(0.005)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0, worker.log_path.read_text()[-3000:]
    worker.proc = None
    worker.start()
    results = [worker_stack.wait_final(i, timeout=60) for i in ids]
    assert [r["status"] for r in results] == ["issued"] * len(ids)


def test_api_starts_while_redis_is_down(worker_stack: Stack) -> None:
    """The api needs Redis only to ring the doorbell: it starts without it, says it is not
    ready, still takes requests, and the work is done once Redis is back (the sweeper rings
    for what could not be enqueued)."""
    assert worker_stack.redis is not None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**worker_stack.env, "CERTKEEPER_HTTP_PORT": str(port)}
    auth = {"Authorization": f"Bearer {worker_stack.admin_token}"}
    worker_stack.redis.stop()
    try:
        with (
            run_process([CERTKEEPER, "api"], env=env, ready_url=f"{base}/healthz",
                        log_path=worker_stack.log_dir / "api-started-without-redis.log"),
            httpx.Client(base_url=base, headers=auth, timeout=30) as client,
        ):
            assert client.get("/readyz").status_code == 503
            created = client.post("/v1/certificate-requests",
                                  json={"common_name": "no-redis.example.test", "key_type": "ec"})
            assert created.status_code == 202, created.text
            worker_stack.redis.start()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the api never saw Redis come back"
                time.sleep(0.05)
    finally:
        if not worker_stack.redis.running:
            worker_stack.redis.start()
    done = worker_stack.wait_final(created.json()["id"], timeout=60)
    assert done["status"] == "issued", done
