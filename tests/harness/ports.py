"""Free TCP (and UDP) ports on 127.0.0.1 for throwaway servers."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


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
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if not udp or _udp_free(port):
            return port
    raise RuntimeError("no free port found on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free TCP ports (held open together while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
