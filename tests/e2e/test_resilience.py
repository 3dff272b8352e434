"""Load and crashes: many requests at once, and a worker killed mid-flight."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.db import query
from tests.e2e.stack import Stack


def _certificates_per_request(stack: Stack, ids: list[str]) -> dict[str, int]:
    listed = ",".join(f"'{i}'" for i in ids)
    rows = query(stack, "SELECT r.id, count(c.id) FROM certificate_requests r "
                        "LEFT JOIN certificates c ON c.request_id = r.id "
                        f"WHERE r.id IN ({listed}) GROUP BY r.id")
    return {request_id: int(count) for request_id, count in rows}


def test_twenty_requests_at_once_all_issue(prod: Stack) -> None:
    ids = prod.submit(20, "burst")
    results = [prod.wait_final(i, timeout=90) for i in ids]
    assert [r["status"] for r in results] == ["issued"] * 20, [r["error"] for r in results]
    assert len({r["certificate_id"] for r in results}) == 20
    assert _certificates_per_request(prod, ids) == dict.fromkeys(ids, 1)


def test_worker_killed_mid_flight_loses_nothing(prod: Stack) -> None:
    assert prod.worker is not None
    log = prod.worker.log_path
    seen = log.read_text().count("request.order_created")
    ids = prod.submit(12, "crash")
    _wait_for_log(log, "request.order_created", more_than=seen)
    prod.worker.kill()
    in_flight = [_status(prod, i) for i in ids]
    prod.worker.start()
    results = [prod.wait_final(i, timeout=90) for i in ids]
    assert [r["status"] for r in results] == ["issued"] * 12, (in_flight, results)
    assert _certificates_per_request(prod, ids) == dict.fromkeys(ids, 1)
    assert any(s != "issued" for s in in_flight), "the kill came after all work was done"


def test_jobs_lost_with_redis_are_rung_again_by_the_sweeper(prod: Stack) -> None:
    """Requests queued while no worker runs, then Redis is flushed: the database still has
    them, and the sweeper of the next worker enqueues them again."""
    assert prod.worker is not None and prod.redis is not None
    prod.worker.stop()
    ids = prod.submit(5, "flushed")
    assert prod.redis.client().keys("arq:job:*"), "the api enqueued nothing"
    prod.redis.flushall()
    prod.worker.start()
    results = [prod.wait_final(i, timeout=60) for i in ids]
    assert [r["status"] for r in results] == ["issued"] * 5
    assert "sweeper.requeued" in prod.worker.log_path.read_text()


def _status(stack: Stack, request_id: str) -> str:
    body: dict[str, Any] = stack.client().get(f"/v1/certificate-requests/{request_id}").json()
    return str(body["status"])


def _wait_for_log(path: Path, event: str, more_than: int) -> None:
    """Return as soon as the worker has logged ``event`` once more: it is mid-flight."""
    deadline = time.monotonic() + 30
    while path.read_text().count(event) <= more_than:
        assert time.monotonic() < deadline, f"the worker never logged {event}"
        time.sleep(0.001)
