"""Stacks whose DNS is a real BIND 9: Certkeeper writes TXT records over RFC 2136 with
TSIG, looks them up on BIND's authoritative servers, and Pebble validates the real records
through a recursive resolver in front of that BIND (``-dnsserver``), as a CA would.

``dns_stack("prod")``: Postgres + Redis + ``certkeeper api`` + ``certkeeper worker issuer``;
``dns_stack("embedded")``: ``certkeeper all-in-one`` on SQLite. The zones, the second
authoritative server (``secondary``), Pebble's environment and extra settings are the
caller's.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shared.crypto import new_key_spec
from tests.e2e.conftest import with_account
from tests.e2e.stack import CERTKEEPER, Stack, WorkerProcess, base_env, run_cli
from tests.harness.bind import BindServer, Secondary, TsigKey, Zone, bind_server
from tests.harness.pebble import pebble_server
from tests.harness.ports import free_port
from tests.harness.postgres import postgres_server
from tests.harness.process import run_process, temp_dir
from tests.harness.redis import redis_server
from tests.harness.resolver import forwarding_resolver

Topology = Literal["prod", "embedded"]


@dataclass
class DnsStack:
    stack: Stack
    bind: BindServer

    def provider(self, name: str, key: TsigKey | None = None, **config: Any) -> str:
        """Create an RFC 2136 provider through the API (the global key unless told); its id."""
        key = key or self.bind.global_key
        body = {
            "name": name, "kind": "rfc2136",
            "config": {"server": self.bind.server, "tsig_key_name": key.name, **config},
            "credentials": {"tsig_secret": key.secret},
        }
        created = self.stack.client().post("/v1/dns-providers", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def mapping(self, domain: str, provider_id: str, **overrides: Any) -> str:
        body = {"domain": domain, "dns_provider_id": provider_id, **overrides}
        created = self.stack.client().post("/v1/domain-mappings", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def request(self, *names: str, **fields: Any) -> str:
        body = {"common_name": names[0], "subject_alternative_names": list(names[1:]),
                "key_type": "ec", "challenge_type": "dns-01", **fields}
        created = self.stack.client().post("/v1/certificate-requests", json=body)
        assert created.status_code == 202, created.text
        return str(created.json()["id"])

    def wait_cleaned(self, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until every record the request wrote is cleaned up."""
        client, deadline = self.stack.client(), time.monotonic() + timeout
        while True:
            body: dict[str, Any] = client.get(f"/v1/certificate-requests/{request_id}").json()
            written = [c for c in body["challenges"] if c["record_name"]]
            if written and all(c["cleaned_at"] for c in written):
                return body
            assert time.monotonic() < deadline, f"never cleaned: {body}\n{self.stack.logs()}"
            time.sleep(0.05)

    def served(self, name: str) -> set[str]:
        """TXT values at ``name`` on every authoritative address of the server."""
        return set().union(*(self.bind.txt_values(name, address=a) for a in self.bind.addresses))

    def log_events(self, event: str) -> list[dict[str, Any]]:
        """The JSON log records of ``event`` in every process log of the stack."""
        found = []
        for path in sorted(self.stack.log_dir.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if f'"event": "{event}"' in line:
                    found.append(json.loads(line))
        return found


def _env(bind: BindServer, port: int, directory_url: str, ca_bundle: str, data: Path,
         settings: Mapping[str, str]) -> dict[str, str]:
    return base_env(
        port, directory_url, ca_bundle, CERTKEEPER_DATA_DIR=str(data),
        CERTKEEPER_DNS_RESOLVERS=bind.server,
        CERTKEEPER_DNS_AUTHORITATIVE_PORT=str(bind.port), **settings,
    )


@contextlib.contextmanager
def dns_stack(
    topology: Topology,
    zones: Sequence[Zone | str],
    *,
    secondary: Secondary | None = None,
    pebble_env: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[DnsStack]:
    port = free_port()
    with (
        temp_dir(f"ck-dns-{topology}-") as logs,
        bind_server(zones, secondary=secondary) as bind,
        forwarding_resolver(bind.port, probe=bind.zones[0]) as resolver,
        pebble_server(http_port=port, dns_server=resolver.server, env=pebble_env) as peb,
        contextlib.ExitStack() as extra,
    ):
        env = _env(bind, port, peb.directory_url, peb.ca_bundle, logs / "data", settings or {})
        if topology == "prod":
            pg, rd = extra.enter_context(postgres_server()), extra.enter_context(redis_server())
            env.update(CERTKEEPER_DATABASE_URL=pg.dsn, CERTKEEPER_REDIS_URL=rd.url,
                       CERTKEEPER_ENCRYPTION_KEYS=new_key_spec())
            run_cli(env, "migrate")
        token = run_cli(env, "token", "create", "--role", "admin", "--name", "e2e-admin")
        base_url = f"http://127.0.0.1:{port}"
        command = "api" if topology == "prod" else "all-in-one"
        with run_process([CERTKEEPER, command], env=env, log_path=logs / f"{command}.log",
                         ready_url=f"{base_url}/readyz") as app:
            worker = WorkerProcess(env, logs / "worker.log") if topology == "prod" else None
            if worker is not None:
                worker.start()
            stack = Stack(base_url, env, token, peb, None, logs, worker=worker, api_pid=app.pid)
            if topology == "prod":
                stack.postgres, stack.redis = pg, rd
            try:
                yield DnsStack(with_account(stack), bind)
            finally:
                stack.close()
                if stack.worker is not None:  # the one running now: a test may replace it
                    stack.worker.stop()


ZONES = (
    Zone("example.test.", ["_acme-challenge.app CNAME app.delegated.test.", "app A 127.0.0.1"]),
    Zone("delegated.test."),
    Zone("team.test."),
)
