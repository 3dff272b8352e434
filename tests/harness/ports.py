"""Free TCP (and UDP) ports on 127.0.0.1 for throwaway servers.

Under pytest-xdist each worker takes only ports of its own share: ports come in blocks of
16, and block ``n`` belongs to worker ``n`` modulo the worker count (not the port's own
parity: the kernel hands ``bind`` ports of one parity only). A port is released between
being chosen and being bound by the server, so without this two workers could choose the
same port: one server failed to bind, and the test's readiness check and requests were
answered by the other worker's server (a valid token refused as unknown, since that server
has its own database).
"""

from __future__ import annotations

import os
import socket

HOST = "127.0.0.1"
PORT_BLOCK = 16


def _ours(port: int) -> bool:
    """Whether this pytest-xdist worker (if any) may use ``port``."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get(
        "PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count or not worker.startswith("gw"):
        return True
    return (port // PORT_BLOCK) % int(count) == int(worker.removeprefix("gw")) % int(count)


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, udp: bool = False) -> int:
    """Return a port the kernel just handed out for 127.0.0.1.

    With ``udp=True`` the port is also free for UDP (for DNS servers). The port is released
    before returning, so a server must bind it soon; the harness retries on a clash.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if _ours(port) and (not udp or _udp_free(port)):
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free TCP ports (held open together while choosing)."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count and len(socks) < 200 * count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
            if _ours(port):
                ports.append(port)
        if len(ports) < count:
            raise RuntimeError("no free ports found on 127.0.0.1")
        return ports
    finally:
        for sock in socks:
            sock.close()
