"""Unauthenticated floods (HTTP-01 responder hits, wrong bearer tokens) cannot take the
API's database connections: the api process never holds more connections to Postgres than
the responder's and the token verifier's lookup slots allow (far fewer than its pool), nothing
answers 5xx, and a real caller is served throughout."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from pathlib import Path

import httpx

from services.api.deps import RESPONDER_LOOKUPS
from shared.db import POSTGRES_POOL_SIZE
from shared.domain.tokens import LOOKUP_CONCURRENCY
from tests.e2e.stack import Stack

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
    assert prod.api_pid is not None and prod.postgres is not None
    pid, port = prod.api_pid, prod.postgres.port
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
        statuses = asyncio.run(_flood(prod.base_url))
        served = prod.client().get("/v1/certificates")
    finally:
        done.set()
        sampler.join()
    assert served.status_code == 200, served.text
    assert sorted(set(statuses)) == [401, 404], {s: statuses.count(s) for s in set(statuses)}
    assert peak <= BOUND < POSTGRES_POOL_SIZE, f"the api held {peak} connections in the flood"
