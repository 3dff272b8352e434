"""Certkeeper's own processes started against throwaway Postgres, Redis and Pebble.

``production_stack``: ``certkeeper migrate``, ``certkeeper api``, a separate
``certkeeper worker issuer`` and a ``certkeeper worker renewer``. ``embedded_stack``:
``certkeeper all-in-one`` on SQLite (its queue in-process, or on Redis).
Both talk to a Pebble that validates HTTP-01 against the api's port and resolves names
through pebble-challtestsrv.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.crypto import new_key_spec
from tests.harness.faults import FaultProxy, fault_proxy
from tests.harness.pebble import ChallTestSrv, PebbleServer, challtestsrv, pebble_server
from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import child_env, kill_group, run_process, start, stop, temp_dir
from tests.harness.redis import RedisServer, redis_server

CERTKEEPER = str(Path(sys.executable).parent / "certkeeper")
FINAL = {"issued", "failed", "cancelled"}


@dataclass
class WorkerProcess:
    """``certkeeper worker <kind>``, which a test may kill and start again."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    kind: str = "issuer"

    def start(self) -> None:
        self.proc = start([CERTKEEPER, "worker", self.kind], log_path=self.log_path,
                          env=self.env)

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGTERM)
            self.proc = None


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    admin_token: str
    pebble: PebbleServer
    dns: ChallTestSrv | None  # None: a stack whose DNS is BIND (tests/e2e/dns_stack.py)
    log_dir: Path
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    worker: WorkerProcess | None = None
    proxy: FaultProxy | None = None
    api_pid: int | None = None  # the ``api`` or ``all-in-one`` process
    renewer: WorkerProcess | None = None
    responder_url: str = ""  # where the CA fetches HTTP-01 (the api's URL unless separate)
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)
        self._clients.append(client)
        return client

    def submit(self, count: int, prefix: str) -> list[str]:
        """Post ``count`` requests at once (``<prefix><i>.example.test``, EC keys); their ids."""

        def one(i: int) -> str:
            with self.client() as client:
                response = client.post(
                    "/v1/certificate-requests",
                    json={"common_name": f"{prefix}{i}.example.test", "key_type": "ec"},
                )
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))

    def create_token(self, role: str, name: str) -> str:
        return run_cli(self.env, "token", "create", "--role", role, "--name", name)

    def wait_final(self, request_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the request until it is issued, failed or cancelled."""
        return self.wait_for(request_id, lambda status: status in FINAL, timeout)

    def wait_status(self, request_id: str, wanted: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the request reaches ``wanted``; fail early if it ends elsewhere."""
        body = self.wait_for(request_id, lambda s: s == wanted or s in FINAL, timeout)
        assert body["status"] == wanted, body
        return body

    def wait_for(
        self, request_id: str, done: Callable[[str], bool], timeout: float
    ) -> dict[str, Any]:
        client = self.client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = client.get(f"/v1/certificate-requests/{request_id}").json()
            if done(body["status"]):
                return body
            time.sleep(0.02)
        raise AssertionError(f"request {request_id} stuck after {timeout}s: {body}\n"
                             + self.logs())

    def issue(self, name: str, **fields: Any) -> dict[str, Any]:
        """Ask for an EC certificate for ``name`` (plus ``fields``) and wait until it is
        issued; returns the request."""
        created = self.client().post("/v1/certificate-requests",
                                     json={"common_name": name, "key_type": "ec", **fields})
        assert created.status_code == 202, created.text
        done = self.wait_final(created.json()["id"])
        assert done["status"] == "issued", done
        return done

    def issued_certificate(self, name: str, **fields: Any) -> dict[str, Any]:
        """As :meth:`issue`, and returns the certificate."""
        done = self.issue(name, **fields)
        cert: dict[str, Any] = self.client().get(
            f"/v1/certificates/{done['certificate_id']}").json()
        return cert

    def wait_certificate(
        self, certificate_id: str, done: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """Poll the certificate until ``done`` holds for it."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = client.get(f"/v1/certificates/{certificate_id}").json()
            if done(body):
                return body
            time.sleep(0.2)
        raise AssertionError(f"certificate {certificate_id} not as wanted after {timeout}s: "
                             f"{body}\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-4000:]
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def close(self) -> None:
        for client in self._clients:
            client.close()


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [CERTKEEPER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"certkeeper {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def base_env(port: int, directory_url: str, ca_bundle: str, **extra: str) -> dict[str, str]:
    return child_env({
        "CERTKEEPER_ORDER_RETRY_SECONDS": "1,2",
        "CERTKEEPER_HTTP_PORT": str(port),
        "CERTKEEPER_ACME_DIRECTORY_URL": directory_url,
        "CERTKEEPER_ACME_CA_BUNDLE": ca_bundle,
        "CERTKEEPER_ALLOWED_PRIVATE_SUFFIXES": "test",
        # Every test server listens on 127.0.0.1; tests prove 127.0.0.2 stays refused.
        "CERTKEEPER_ACME_ALLOWED_NETWORKS": "127.0.0.1/32",
        "CERTKEEPER_JOB_LEASE_SECONDS": "3",
        "CERTKEEPER_SWEEP_INTERVAL_SECONDS": "1",
        "CERTKEEPER_LOG_LEVEL": "INFO",
        **extra,
    })


def _responder_ports(ca_port: int, api_port: int) -> dict[str, str]:
    """The api on ``api_port``; the responder on ``ca_port`` when that is another port."""
    if ca_port == api_port:
        return {"CERTKEEPER_HTTP_PORT": str(api_port)}
    return {"CERTKEEPER_HTTP_PORT": str(api_port), "CERTKEEPER_RESPONDER_PORT": str(ca_port)}


@contextlib.contextmanager
def acme_servers(
    port: int,
    pebble_env: Mapping[str, str] | None = None,
    pebble_config: Mapping[str, Any] | None = None,
) -> Iterator[tuple[ChallTestSrv, PebbleServer]]:
    with (
        challtestsrv() as dns,
        pebble_server(
            http_port=port, dns_server=dns.dns_server, env=pebble_env, config=pebble_config
        ) as peb,
    ):
        yield dns, peb


@contextlib.contextmanager
def production_stack(
    pebble_env: Mapping[str, str] | None = None,
    *,
    faults: bool = False,
    pebble_config: Mapping[str, Any] | None = None,
    public_responder: bool = False,
    settings: Mapping[str, str] | None = None,
    http01_port: int | None = None,
) -> Iterator[Stack]:
    """Postgres + Redis + api + issuer + renewer; with ``faults``, the CA is reached through a
    FaultProxy; with ``public_responder``, ``certkeeper responder`` answers the CA on its own
    port (``Stack.responder_url``) and the api serves no challenge; ``settings`` are extra
    CERTKEEPER_* variables; ``http01_port``: where Pebble validates HTTP-01 (default: the
    responder)."""
    port = free_port()
    api_port = free_port() if public_responder else port
    with (
        temp_dir("ck-prod-") as logs,
        postgres_server() as pg,
        redis_server() as rd,
        acme_servers(http01_port or port, pebble_env, pebble_config) as (dns, peb),
        contextlib.ExitStack() as extra,
    ):
        proxy = extra.enter_context(fault_proxy(peb)) if faults else None
        env = base_env(
            port, proxy.directory_url if proxy else peb.directory_url,
            proxy.ca_bundle if proxy else peb.ca_bundle, CERTKEEPER_DNS_RESOLVERS=dns.dns_server,
            CERTKEEPER_DNS_PROPAGATION="resolvers",  # challtestsrv answers, serves no zone
            CERTKEEPER_DATABASE_URL=pg.dsn, CERTKEEPER_REDIS_URL=rd.url,
            CERTKEEPER_ENCRYPTION_KEYS=new_key_spec(), CERTKEEPER_DATA_DIR=str(logs / "data"),
            **_responder_ports(port, api_port), **(settings or {}),
        )
        run_cli(env, "migrate")
        token = run_cli(env, "token", "create", "--role", "admin", "--name", "e2e-admin")
        base_url = f"http://127.0.0.1:{api_port}"
        if public_responder:
            extra.enter_context(run_process(
                [CERTKEEPER, "responder"], env=env, log_path=logs / "responder.log",
                ready_url=f"http://127.0.0.1:{port}/healthz",
            ))
        with run_process([CERTKEEPER, "api"], env=env, log_path=logs / "api.log",
                         ready_url=f"{base_url}/readyz") as api:
            worker = WorkerProcess(env, logs / "worker.log")
            worker.start()
            renewer = WorkerProcess(env, logs / "renewer.log", kind="renewer")
            renewer.start()
            stack = Stack(base_url, env, token, peb, dns, logs, pg, rd, worker, proxy,
                          api_pid=api.pid, renewer=renewer,
                          responder_url=f"http://127.0.0.1:{port}")
            try:
                yield stack
            finally:
                stack.close()
                renewer.stop()
                if stack.worker is not None:  # the one running now: a test may replace it
                    stack.worker.stop()


@contextlib.contextmanager
def embedded_stack(
    pebble_env: Mapping[str, str] | None = None,
    *,
    faults: bool = False,
    pebble_config: Mapping[str, Any] | None = None,
    redis: bool = False,
    settings: Mapping[str, str] | None = None,
    public_responder: bool = False,
    http01_port: int | None = None,
) -> Iterator[Stack]:
    """All-in-one on SQLite; with ``faults``, the CA is reached through a FaultProxy; with
    ``redis``, its queue is a throwaway Redis; ``settings`` are extra CERTKEEPER_* variables;
    with ``public_responder``, the CA reaches a second listener (``Stack.responder_url``);
    ``http01_port``: where Pebble validates HTTP-01 (default: the responder)."""
    port = free_port()
    api_port = free_port() if public_responder else port
    with (
        temp_dir("ck-embedded-") as logs,
        acme_servers(http01_port or port, pebble_env, pebble_config) as (dns, peb),
        contextlib.ExitStack() as extra,
    ):
        proxy = extra.enter_context(fault_proxy(peb)) if faults else None
        rd = extra.enter_context(redis_server()) if redis else None
        env = base_env(
            port, proxy.directory_url if proxy else peb.directory_url,
            proxy.ca_bundle if proxy else peb.ca_bundle, CERTKEEPER_DATA_DIR=str(logs / "data"),
            **({"CERTKEEPER_REDIS_URL": rd.url} if rd else {}), **(settings or {}),
            **_responder_ports(port, api_port),
        )
        token = run_cli(env, "token", "create", "--role", "admin", "--name", "e2e-admin")
        base_url = f"http://127.0.0.1:{api_port}"
        with run_process([CERTKEEPER, "all-in-one"], env=env, log_path=logs / "all-in-one.log",
                         ready_url=f"{base_url}/readyz") as app:
            stack = Stack(base_url, env, token, peb, dns, logs, redis=rd, proxy=proxy,
                          api_pid=app.pid, responder_url=f"http://127.0.0.1:{port}")
            try:
                yield stack
            finally:
                stack.close()
