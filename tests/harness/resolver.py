"""A throwaway recursive resolver (BIND 9 forwarding ``test.`` to an authoritative server),
for clients that expect recursion, as a CA's validation does: an authoritative server
answers a CNAME into another of its zones with the CNAME alone, and only a resolver
follows it (cert-manager's and lego's CNAME delegation relies on that).

Caching is kept to a second, so a record written a moment ago is seen.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from tests.harness.bind import NAMED
from tests.harness.ports import HOST, free_port
from tests.harness.process import retry_on_port_clash, start, stop, temp_dir, wait_until


@dataclass(frozen=True)
class Resolver:
    port: int
    log_path: Path

    @property
    def server(self) -> str:
        """``127.0.0.1:PORT``, for Pebble's ``-dnsserver``."""
        return f"{HOST}:{self.port}"


def _conf(tmp: Path, port: int, upstream_port: int, domain: str) -> str:
    return f"""options {{
  directory "{tmp}";
  listen-on port {port} {{ {HOST}; }};
  listen-on-v6 {{ none; }};
  pid-file none;
  session-keyfile "{tmp}/session.key";
  managed-keys-directory "{tmp}";
  recursion yes;
  allow-recursion {{ any; }};
  dnssec-validation no;
  empty-zones-enable no;
  max-cache-ttl 1;
  max-ncache-ttl 1;
}};
controls {{ }};
zone "{domain}" {{ type forward; forward only; forwarders {{ {HOST} port {upstream_port}; }}; }};
"""


def _answers(port: int, probe: str) -> bool:
    try:
        response = dns.query.udp(dns.message.make_query(probe, "SOA"), HOST, port=port,
                                 timeout=0.2)
    except (dns.exception.DNSException, OSError):
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def _launch(tmp: Path, upstream_port: int, domain: str, probe: str, timeout: float
            ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port(udp=True)
    (tmp / "named.conf").write_text(_conf(tmp, port, upstream_port, domain))
    log_path = tmp / "named.log"
    proc = start([NAMED, "-g", "-4", "-c", tmp / "named.conf"], log_path=log_path, cwd=tmp)
    try:
        wait_until(lambda: _answers(port, probe), timeout, "named (resolver)", log_path,
                   proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port


@contextlib.contextmanager
def forwarding_resolver(
    upstream_port: int, *, domain: str = "test.", probe: str = "example.test.",
    timeout: float = 15.0,
) -> Iterator[Resolver]:
    """Resolve ``domain`` and everything under it through 127.0.0.1:``upstream_port``;
    ready once ``probe``'s SOA resolves."""
    with temp_dir("ck-resolver-") as tmp:
        proc, port = retry_on_port_clash(lambda: _launch(tmp, upstream_port, domain, probe,
                                                         timeout))
        try:
            yield Resolver(port, tmp / "named.log")
        finally:
            stop(proc)
