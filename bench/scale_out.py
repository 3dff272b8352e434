"""Issue 12's target 6: the throughput burst with two api and two issuer processes on one
Postgres, Redis and Pebble places one order per request and loses none.

``production_stack(public_responder=True)`` runs api, issuer, renewer and ``certkeeper
responder`` (so HTTP-01 does not depend on which api the CA would reach); a second api and a
second issuer join it. Requests are posted to the two apis in turn. Pebble logs
``Added order`` once per order it creates; the lines the burst added are counted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, equal
from bench.issuance import api_client, burst, create_account, request_statuses
from tests.e2e.stack import CERTKEEPER, Stack, WorkerProcess, production_stack
from tests.harness.ports import free_port
from tests.harness.process import run_process

ORDER_CREATED = "Added order"  # Pebble's log line per order created
NEW_ORDER_POST = "POST /order-plz"  # per newOrder POST, refused (badNonce) ones included


@dataclass(frozen=True)
class ScaleOut:
    requests: int
    issued: int
    orders: int  # orders Pebble created during the burst
    new_order_posts: int
    seconds: float
    failure: str  # why the burst did not finish ("" when it did)


def pebble_log_count(log_path: Path, marker: str) -> int:
    return log_path.read_text(errors="replace").count(marker)


@contextlib.contextmanager
def second_api_and_issuer(stack: Stack) -> Iterator[str]:
    """Another ``certkeeper api`` (on its own port) and ``worker issuer``; the api's URL."""
    port = free_port()
    env = {**stack.env, "CERTKEEPER_HTTP_PORT": str(port)}
    base_url = f"http://127.0.0.1:{port}"
    issuer = WorkerProcess(stack.env, stack.log_dir / "worker-2.log")
    with run_process([CERTKEEPER, "api"], env=env, log_path=stack.log_dir / "api-2.log",
                     ready_url=f"{base_url}/readyz"):
        issuer.start()
        try:
            yield base_url
        finally:
            issuer.stop()


def measure(requests: int) -> ScaleOut:
    with production_stack(public_responder=True) as stack, \
            second_api_and_issuer(stack) as second_url:
        log = stack.pebble.log_path
        with stack.client() as client:
            create_account(client)
        orders, posts = pebble_log_count(log, ORDER_CREATED), pebble_log_count(log, NEW_ORDER_POST)
        names, ids = [f"scale{i}.example.test" for i in range(requests)], list[str]()
        began, failure = time.perf_counter(), ""
        try:
            burst(stack, [stack.base_url, second_url], names, ids)  # ids kept on failure
        except (RuntimeError, TimeoutError) as exc:
            failure = str(exc).splitlines()[0]
        seconds = time.perf_counter() - began
        with api_client(stack, second_url) as client:
            issued = sum(body["status"] == "issued" for body in request_statuses(client, set(ids)))
        if failure:
            failure += "\n" + kept_evidence(stack)
        return ScaleOut(requests, issued, pebble_log_count(log, ORDER_CREATED) - orders,
                        pebble_log_count(log, NEW_ORDER_POST) - posts, seconds, failure)


def logged_troubles(log_dir: Path) -> Counter[str]:
    """The warnings and errors the processes logged, by log, event and ACME problem."""
    troubles: Counter[str] = Counter()
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in {"WARNING", "ERROR", "CRITICAL"}:
                troubles[f"{path.stem}: {entry.get('event')} {entry.get('problem', '')}"] += 1
    return troubles


def kept_evidence(stack: Stack) -> str:
    """A failed burst's logs (Pebble's too) copied where they outlive the stack, and what
    they warn of."""
    kept = Path(tempfile.mkdtemp(prefix="ck-bench-scale-out-"))
    for log in [*stack.log_dir.glob("*.log"), stack.pebble.log_path]:
        shutil.copy(log, kept / log.name)
    troubles = logged_troubles(stack.log_dir).most_common(12)
    return "\n".join([f"logs kept in {kept}",
                      *(f"  {count} x {what.rstrip()}" for what, count in troubles)])


def figures(done: ScaleOut, single_rate: float | None) -> list[Figure]:
    label = "2 api + 2 issuer"
    return [
        Figure(f"scale-out {label}: orders Pebble created", done.orders, "", done.requests,
               "requests", equal(1)),
        Figure(f"scale-out {label}: requests issued", done.issued, "", done.requests,
               "requests", equal(1)),
        Figure(f"scale-out {label}: newOrder POSTs (badNonce retries too)",
               done.new_order_posts, "", done.requests, "requests"),
        Figure(f"scale-out {label}: throughput", done.requests / done.seconds, "cert/s",
               single_rate, "1 api + 1 issuer"),
    ]


def run(requests: int, single_rate: float | None) -> list[Figure]:
    done = measure(requests)
    if done.failure:
        print(f"scale-out burst did not finish: {done.failure}", flush=True)
    return figures(done, single_rate)
