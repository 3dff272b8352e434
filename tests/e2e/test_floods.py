"""Unauthenticated floods (HTTP-01 responder hits, wrong bearer tokens) cannot take the
API's database connections: the api process never holds more connections to Postgres than
the responder's and the token verifier's lookup slots allow (far fewer than its pool), nothing
answers 5xx, and a real caller is served throughout.

The flood goes to an api process of its own on the production stack's database: its pool
starts empty and opens a connection only when every one it holds is in use, so the
connections it holds are the most it ever used at once. (The stack's shared api keeps what
earlier tests made it open.)"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from pathlib import Path

import httpx

from services.api.deps import RESPONDER_LOOKUPS
from shared.config import Settings
from shared.domain.tokens import LOOKUP_CONCURRENCY
from tests.e2e.stack import CERTKEEPER, Stack
from tests.harness.ports import free_port
from tests.harness.process import run_process

FLOOD = 300  # of each kind
CONCURRENCY = 60
# The flood's lookups, the real caller's list request and one task of the process's own.
BOUND = RESPONDER_LOOKUPS + LOOKUP_CONCURRENCY + 2


def _connections_to(pid: int, port: int) -> int:
    """Established TCP connections the process ``pid`` holds to ``port`` on 127.0.0.1."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


async def _flood(base_url: str) -> list[int]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        async def responder() -> int:
            token = secrets.token_urlsafe(32)
            return (await client.get(f"/.well-known/acme-challenge/{token}")).status_code

        async def bad_token() -> int:
            headers = {"Authorization": f"Bearer ck_{secrets.token_urlsafe(32)}"}
            return (await client.get("/v1/certificates", headers=headers)).status_code

        calls = [responder() for _ in range(FLOOD)] + [bad_token() for _ in range(FLOOD)]
        return list(await asyncio.gather(*calls))


def test_floods_do_not_take_the_api_connections(prod: Stack) -> None:
    assert prod.postgres is not None
    api_port = free_port()
    base_url = f"http://127.0.0.1:{api_port}"
    env = {**prod.env, "CERTKEEPER_HTTP_PORT": str(api_port)}
    with run_process([CERTKEEPER, "api"], env=env, log_path=prod.log_dir / "flood-api.log",
                     ready_url=f"{base_url}/readyz") as api:
        peak, statuses, served = _flooded(api.pid, prod.postgres.port, base_url, prod)
    assert served.status_code == 200, served.text
    assert sorted(set(statuses)) == [401, 404], {s: statuses.count(s) for s in set(statuses)}
    pool_size = Settings.model_fields["database_pool_size"].default
    assert peak <= BOUND < pool_size, f"the api held {peak} connections in the flood"


def _flooded(
    pid: int, port: int, base_url: str, prod: Stack,
) -> tuple[int, list[int], httpx.Response]:
    """Floods the api at ``base_url`` while sampling its connections to Postgres: the peak,
    the flood's statuses and a real caller's list answered right after."""
    peak = _connections_to(pid, port)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _connections_to(pid, port))
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        statuses = asyncio.run(_flood(base_url))
        headers = {"Authorization": f"Bearer {prod.admin_token}"}
        served = httpx.get(f"{base_url}/v1/certificates", headers=headers, timeout=30)
    finally:
        done.set()
        sampler.join()
    return peak, statuses, served
