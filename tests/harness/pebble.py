"""Throwaway Pebble 2.4.0 (ACME test CA) and pebble-challtestsrv (mock DNS) servers."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import httpx
import trustme

from tests.harness.ports import HOST, free_port, free_ports
from tests.harness.process import (
    StrPath,
    check_no_bind_failure,
    child_env,
    http_ok,
    retry_on_port_clash,
    start,
    stop,
    tcp_open,
    temp_dir,
    wait_until,
)

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"


def fqdn(host: str) -> str:
    """``host`` with exactly one trailing dot, as the challtestsrv API wants."""
    return host.rstrip(".") + "."


@dataclass(frozen=True)
class ChallTestSrv:
    dns_port: int
    management_url: str  # http://127.0.0.1:PORT
    pid: int
    log_path: Path
    startup_seconds: float

    @property
    def dns_server(self) -> str:
        """``127.0.0.1:PORT``, the value for Pebble's ``-dnsserver``."""
        return f"{HOST}:{self.dns_port}"

    def post(self, path: str, payload: Mapping[str, Any]) -> None:
        """POST JSON to a management endpoint (``/set-txt``, ``/add-a``, ...)."""
        response = httpx.post(f"{self.management_url}{path}", json=dict(payload), timeout=5.0)
        response.raise_for_status()

    def set_txt(self, host: str, value: str) -> None:
        self.post("/set-txt", {"host": fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        self.post("/clear-txt", {"host": fqdn(host)})


def _dns_answers(port: int) -> bool:
    query = dns.message.make_query("ready.harness.test.", "A")
    try:
        dns.query.udp(query, HOST, port=port, timeout=0.2)
    except (dns.exception.DNSException, OSError):
        return False
    return True


def _launch_challtestsrv(
    tmp: Path, dns_port: int | None, timeout: float
) -> tuple[subprocess.Popen[bytes], int, int]:
    port = dns_port if dns_port is not None else free_port(udp=True)
    mgmt_port = free_port()
    log_path = tmp / "challtestsrv.log"
    argv: list[StrPath] = [
        CHALLTESTSRV,
        "-dns01", f"{HOST}:{port}",
        "-management", f"{HOST}:{mgmt_port}",
        "-defaultIPv4", HOST,
        "-defaultIPv6", "",
        "-http01", "",
        "-https01", "",
        "-tlsalpn01", "",
    ]  # fmt: skip
    proc = start(argv, log_path=log_path, cwd=tmp)
    try:

        def ready() -> bool:  # challtestsrv logs a failed bind and keeps running
            check_no_bind_failure(log_path, "pebble-challtestsrv")
            return tcp_open(HOST, mgmt_port) and _dns_answers(port)

        wait_until(ready, timeout, "pebble-challtestsrv", log_path, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port, mgmt_port


@contextlib.contextmanager
def challtestsrv(*, dns_port: int | None = None, timeout: float = 10.0) -> Iterator[ChallTestSrv]:
    """Mock DNS (every A query answers 127.0.0.1) with only its DNS and management servers."""
    began = time.monotonic()
    with temp_dir("ck-challtestsrv-") as tmp:
        proc, port, mgmt_port = retry_on_port_clash(
            lambda: _launch_challtestsrv(tmp, dns_port, timeout),
            attempts=1 if dns_port is not None else 3,
        )
        try:
            yield ChallTestSrv(
                dns_port=port,
                management_url=f"http://{HOST}:{mgmt_port}",
                pid=proc.pid,
                log_path=tmp / "challtestsrv.log",
                startup_seconds=time.monotonic() - began,
            )
        finally:
            stop(proc)


@dataclass(frozen=True)
class PebbleServer:
    directory_url: str  # https://127.0.0.1:PORT/dir
    management_url: str  # https://127.0.0.1:MGMTPORT
    ca_bundle: str  # PEM of the trustme CA that signed Pebble's TLS certificate
    http_port: int
    tls_port: int
    pid: int
    log_path: Path
    startup_seconds: float

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_bundle)

    def _get(self, url: str) -> httpx.Response:
        response = httpx.get(url, verify=self.ssl_context(), timeout=10.0)
        response.raise_for_status()
        return response

    def directory(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self.directory_url).json()
        return result

    def root_pem(self) -> str:
        """Pebble's current root (regenerated at every start)."""
        return self._get(f"{self.management_url}/roots/0").text

    def intermediate_pem(self) -> str:
        return self._get(f"{self.management_url}/intermediates/0").text

    def cert_status(self, serial: str | int) -> dict[str, Any]:
        """Revocation status of a certificate by serial (hex string or int)."""
        serial_hex = f"{serial:x}" if isinstance(serial, int) else serial
        url = f"{self.management_url}/cert-status-by-serial/{serial_hex}"
        result: dict[str, Any] = self._get(url).json()
        return result


def _write_tls(tmp: Path) -> tuple[Path, Path, Path]:
    """trustme CA + server certificate for 127.0.0.1 and localhost: (ca, chain, key)."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    for index, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(cert_path), append=index > 0)
    return ca_path, cert_path, key_path


def _write_config(
    tmp: Path, ports: list[int], http_port: int, extra: Mapping[str, Any]
) -> Path:
    listen, mgmt, tls = ports
    config = {
        "pebble": {
            "listenAddress": f"{HOST}:{listen}",
            "managementListenAddress": f"{HOST}:{mgmt}",
            "certificate": str(tmp / "cert.pem"),
            "privateKey": str(tmp / "key.pem"),
            "httpPort": http_port,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            **extra,
        }
    }
    path = tmp / "pebble-config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _launch_pebble(
    tmp: Path,
    http_port: int,
    dns_server: str,
    env: Mapping[str, str],
    timeout: float,
    extra: Mapping[str, Any],
) -> tuple[subprocess.Popen[bytes], list[int]]:
    ports = free_ports(3)
    config = _write_config(tmp, ports, http_port, extra)
    log_path = tmp / "pebble.log"
    argv: list[StrPath] = [PEBBLE, "-config", config, "-dnsserver", dns_server]
    proc = start(argv, log_path=log_path, env=env, cwd=tmp)
    context = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    directory = f"https://{HOST}:{ports[0]}/dir"
    roots = f"https://{HOST}:{ports[1]}/roots/0"
    try:

        def ready() -> bool:
            return http_ok(directory, context) and http_ok(roots, context)

        wait_until(ready, timeout, "pebble", log_path, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc, ports


@contextlib.contextmanager
def pebble_server(
    *,
    http_port: int,
    dns_server: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
    config: Mapping[str, Any] | None = None,
) -> Iterator[PebbleServer]:
    """Pebble validating HTTP-01 on ``http_port`` and resolving through ``dns_server``.

    Runs with ``PEBBLE_VA_NOSLEEP=1`` plus ``env`` overrides (``PEBBLE_WFE_NONCEREJECT``,
    ``PEBBLE_VA_ALWAYS_VALID``, ...). Yields once the directory and the management API answer.
    """
    began = time.monotonic()
    full_env = child_env({"PEBBLE_VA_NOSLEEP": "1", **(env or {})})
    with temp_dir("ck-pebble-") as tmp:
        ca_path, _, _ = _write_tls(tmp)
        proc, (listen, mgmt, tls) = retry_on_port_clash(
            lambda: _launch_pebble(tmp, http_port, dns_server, full_env, timeout, config or {})
        )
        try:
            yield PebbleServer(
                directory_url=f"https://{HOST}:{listen}/dir",
                management_url=f"https://{HOST}:{mgmt}",
                ca_bundle=os.fspath(ca_path),
                http_port=http_port,
                tls_port=tls,
                pid=proc.pid,
                log_path=tmp / "pebble.log",
                startup_seconds=time.monotonic() - began,
            )
        finally:
            stop(proc)
