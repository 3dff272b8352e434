"""``certkeeper-agent`` processes and the TLS end server they deploy to, for tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.harness.ports import HOST, free_port
from tests.harness.process import child_env, start, stop, tcp_open, wait_until

AGENT = str(Path(sys.executable).parent / "certkeeper-agent")


def enroll(server: str, token: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, "enroll", "--server", server, "--token", token, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=60, check=False, env=child_env(),
    )


@contextlib.contextmanager
def running_agent(state_dir: Path, log_path: Path, *mode: str
                  ) -> Iterator[subprocess.Popen[bytes]]:
    """``certkeeper-agent run`` with ``mode`` (``--http-listen H:P`` or ``--webroot D``)."""
    proc = start([AGENT, "run", "--state-dir", str(state_dir), *mode], log_path=log_path,
                 env=child_env())
    try:
        wait_until(lambda: "polling" in log_path.read_text(), 30, "certkeeper-agent",
                   log_path, proc=proc)
        yield proc
    finally:
        stop(proc)


@dataclass(frozen=True)
class TlsServer:
    port: int
    pid: int
    cert_path: Path
    key_path: Path
    first_serial: str

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"


@contextlib.contextmanager
def tls_server(directory: Path, name: str, log_path: Path) -> Iterator[TlsServer]:
    """A TLS server loading ``directory/fullchain.pem`` and ``directory/key.pem`` (first a
    throwaway certificate for ``name``), reloaded on SIGHUP."""
    directory.mkdir(parents=True, exist_ok=True)
    cert = trustme.CA().issue_cert(name)
    cert_path, key_path = directory / "fullchain.pem", directory / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    from cryptography import x509

    serial = format(x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
                    .serial_number, "x")
    port = free_port()
    proc = start([sys.executable, "-m", "tests.harness.tls_main", str(port), str(cert_path),
                  str(key_path)], log_path=log_path, env=child_env(),
                 cwd=Path(__file__).resolve().parents[2])
    try:
        wait_until(lambda: tcp_open(HOST, port), 10, "tls server", log_path, proc=proc)
        yield TlsServer(port, proc.pid, cert_path, key_path, serial)
    finally:
        stop(proc)
