"""The throwaway servers in tests.harness start, answer and clean up after themselves."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest
import redis
from cryptography import x509

from tests.harness.pebble import ChallTestSrv, PebbleServer, challtestsrv, pebble_server
from tests.harness.ports import PORT_BLOCK, free_port, free_ports
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import child_env, run_process, temp_dir, wait_until
from tests.harness.redis import redis_server

ACME_NAME = "_acme-challenge.example.test"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _txt_values(chall: ChallTestSrv, name: str) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response = dns.query.udp(query, "127.0.0.1", port=chall.dns_port, timeout=2.0)
    return [
        b"".join(rdata.strings).decode()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    ]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def chall() -> Iterator[ChallTestSrv]:
    with challtestsrv() as server:
        yield server


@pytest.fixture(scope="module")
def pebble(chall: ChallTestSrv) -> Iterator[PebbleServer]:
    with pebble_server(http_port=free_port(), dns_server=chall.dns_server) as server:
        yield server


def test_free_ports_are_distinct_and_unprivileged() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert all(port > 1024 for port in [*ports, free_port(), free_port(udp=True)])


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw2"])
def test_each_xdist_worker_takes_ports_no_other_worker_takes(
    worker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    index = int(worker.removeprefix("gw"))
    ports = [*free_ports(4), free_port(), free_port(udp=True)]
    assert {port // PORT_BLOCK % 3 for port in ports} == {index}


async def test_postgres_answers_select_one(postgres: PostgresServer) -> None:
    assert postgres.port != 5432
    assert postgres.sqlalchemy_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "certkeeper"
    finally:
        await conn.close()


def test_postgres_stops_and_removes_its_dir() -> None:
    with postgres_server(database="other") as server:
        assert _pid_running(server.pid)
    assert not _pid_running(server.pid)
    assert not server.data_dir.parent.exists()


def test_redis_ping_and_flushall() -> None:
    with redis_server() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(server.url) as client:
            assert client.ping() is True
            client.set("k", "v")
            server.flushall()
            assert client.dbsize() == 0
    assert not _pid_running(server.pid)
    assert not server.log_path.parent.exists()


def test_challtestsrv_sets_and_clears_txt(chall: ChallTestSrv) -> None:
    chall.set_txt(ACME_NAME, "token-value")  # trailing dot is added
    assert _txt_values(chall, ACME_NAME + ".") == ["token-value"]
    chall.clear_txt(ACME_NAME + ".")
    assert _txt_values(chall, ACME_NAME + ".") == []


def test_pebble_directory_and_roots(pebble: PebbleServer) -> None:
    assert "newOrder" in pebble.directory()
    root = x509.load_pem_x509_certificate(pebble.root_pem().encode())
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem().encode())
    assert intermediate.issuer == root.subject
    with pytest.raises(httpx.HTTPStatusError):
        pebble.cert_status(0x1234)  # unknown serial: 404


def test_pebble_rejects_unverified_tls(pebble: PebbleServer) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(pebble.directory_url, timeout=5.0)  # system CAs do not trust Pebble's cert


def test_two_pebble_pairs_run_at_once() -> None:
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(2):
            chall = stack.enter_context(challtestsrv())
            env = {"PEBBLE_WFE_NONCEREJECT": "0"}
            servers.append(
                stack.enter_context(
                    pebble_server(http_port=free_port(), dns_server=chall.dns_server, env=env)
                )
            )
        first, second = servers
        assert first.directory_url != second.directory_url
        assert first.root_pem() != second.root_pem()


def test_run_process_waits_for_ready_url_and_stops() -> None:
    port = free_port()
    with temp_dir("ck-test-") as tmp:
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        with run_process(
            argv,
            env=child_env(),
            log_path=tmp / "http.log",
            ready_url=f"http://127.0.0.1:{port}/",
            cwd=tmp,
        ) as proc:
            assert proc.poll() is None
        assert proc.returncode is not None


def test_run_process_reports_early_exit_with_log_tail(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"]
    log_path = tmp_path / "early.log"
    with (
        pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*boom: bad config"),
        run_process(argv, env=child_env(), log_path=log_path, ready_url="http://127.0.0.1:1/"),
    ):
        pass


def test_wait_until_deadline_names_the_log(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    log_path.write_text("line one\nlast words\n")
    with pytest.raises(RuntimeError, match=r"(?s)never not ready after 0\.1s.*last words"):
        wait_until(lambda: False, 0.1, "never", log_path)
