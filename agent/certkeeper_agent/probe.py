"""Which certificate an endpoint serves: a TLS handshake with SNI, reading the leaf's serial.

The probe trusts nothing it is shown (it only reads the serial), so it does not verify the
chain: an endpoint serving a certificate from a private or test CA is probed all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

from cryptography import x509

PROBE_TIMEOUT_SECONDS = 10.0
PROBE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Served:
    endpoint: str
    serial: str | None
    failure: str | None  # why nothing could be read from the endpoint

    def report(self) -> dict[str, str | None]:
        return {"endpoint": self.endpoint, "serial": self.serial, "failure": self.failure}


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # reads the serial only; see the module docstring
    return context


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


async def probe(endpoint: str, sni: str) -> Served:
    host, port = split_endpoint(endpoint)
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=_context(), server_hostname=sni),
            timeout=PROBE_TIMEOUT_SECONDS)
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        return Served(endpoint, None, f"{type(exc).__name__}: {exc}")
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
        if not der:
            return Served(endpoint, None, "no certificate was served")
        return Served(endpoint, format(x509.load_der_x509_certificate(der).serial_number, "x"),
                      None)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def same_serial(a: str | None, b: str) -> bool:
    return a is not None and a.lower().lstrip("0") == b.lower().lstrip("0")


async def confirm(endpoints: list[str], sni: str, serial: str, grace: float) -> list[Served]:
    """Probe until every endpoint serves ``serial`` or ``grace`` seconds have passed (a
    server may take a moment to load the new files after its reload)."""
    deadline = time.monotonic() + grace
    while True:
        served = [await probe(endpoint, sni) for endpoint in endpoints]
        if all(same_serial(s.serial, serial) for s in served) or time.monotonic() >= deadline:
            return served
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)
