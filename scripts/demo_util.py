"""Small helpers for scripts/demo.sh: free ports, Pebble's config, readiness, JSON fields.

Standard library only, apart from ``wait-dns`` (dnspython, a Certkeeper dependency).
Run with the project's virtualenv Python: ``.venv/bin/python scripts/demo_util.py --help``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def _bindable(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        # Like the servers that will bind the port: a TIME_WAIT leftover does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, *, udp: bool, taken: set[int]) -> list[int]:
    ports: list[int] = []
    if count <= 0:
        return ports
    for _ in range(200):
        port = _kernel_port()
        if port in taken or port in ports:
            continue
        if udp and not _bindable(port, socket.SOCK_DGRAM):
            continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise SystemExit("no free ports found on 127.0.0.1")


def cmd_free_ports(args: argparse.Namespace) -> None:
    """Print COUNT distinct free ports; --prefer P is used as the first one when it is free."""
    taken = set(args.exclude)
    ports: list[int] = []
    if args.prefer and args.prefer not in taken and _bindable(args.prefer, socket.SOCK_STREAM):
        ports.append(args.prefer)
    ports += free_ports(args.count - len(ports), udp=args.udp, taken=taken | set(ports))
    print(" ".join(str(port) for port in ports))


def cmd_pebble_config(args: argparse.Namespace) -> None:
    """Write a Pebble 2.4 config file."""
    config = {
        "pebble": {
            "listenAddress": f"{HOST}:{args.listen}",
            "managementListenAddress": f"{HOST}:{args.management}",
            "certificate": str(Path(args.certificate).resolve()),
            "privateKey": str(Path(args.private_key).resolve()),
            "httpPort": args.http_port,
            "tlsPort": args.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    Path(args.output).write_text(json.dumps(config, indent=2) + "\n")


def cmd_wait_dns(args: argparse.Namespace) -> None:
    """Wait until a DNS server on 127.0.0.1:PORT answers an A query (UDP)."""
    import dns.exception
    import dns.message
    import dns.query

    deadline = time.monotonic() + args.timeout
    query = dns.message.make_query("ready.example.test.", "A")
    while True:
        try:
            dns.query.udp(query, HOST, port=args.port, timeout=0.3)
            return
        except (dns.exception.DNSException, OSError):
            if time.monotonic() > deadline:
                raise SystemExit(f"no DNS answer on {HOST}:{args.port}") from None
            time.sleep(0.1)


def _lookup(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def cmd_field(args: argparse.Namespace) -> None:
    """Print one field (dotted path) of the JSON document on stdin; empty when absent."""
    value = _lookup(json.load(sys.stdin), args.path)
    if value is None:
        print("")
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value))


def cmd_pretty(args: argparse.Namespace) -> None:
    """Pretty-print the JSON on stdin (or print it as it is when it is not JSON)."""
    text = sys.stdin.read()
    try:
        print(json.dumps(json.loads(text), indent=2))
    except ValueError:
        print(text)


def cmd_certificate(args: argparse.Namespace) -> None:
    """Summarise a certificate resource from GET /v1/certificates/{id} on stdin."""
    cert = json.load(sys.stdin)
    names = cert.get("names") or [cert.get("common_name")]
    rows = [
        ("id", cert.get("id")),
        ("names", ", ".join(str(name) for name in names)),
        ("issuer", cert.get("issuer")),
        ("serial", cert.get("serial")),
        ("not before", cert.get("not_before")),
        ("expires (not_after)", cert.get("not_after")),
        ("sha-256 fingerprint", cert.get("fingerprint_sha256")),
        ("status", cert.get("status")),
    ]
    for label, value in rows:
        print(f"  {label + ':':<22}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Helpers for scripts/demo.sh.")
    sub = parser.add_subparsers(dest="command", required=True)

    ports = sub.add_parser("free-ports", help=cmd_free_ports.__doc__)
    ports.add_argument("count", type=int)
    ports.add_argument("--udp", action="store_true", help="also free for UDP")
    ports.add_argument("--prefer", type=int, default=0)
    ports.add_argument("--exclude", type=int, nargs="*", default=[])
    ports.set_defaults(func=cmd_free_ports)

    pebble = sub.add_parser("pebble-config", help=cmd_pebble_config.__doc__)
    pebble.add_argument("output")
    for option in ("--listen", "--management", "--http-port", "--tls-port"):
        pebble.add_argument(option, type=int, required=True)
    pebble.add_argument("--certificate", required=True)
    pebble.add_argument("--private-key", required=True)
    pebble.set_defaults(func=cmd_pebble_config)

    wait_dns = sub.add_parser("wait-dns", help=cmd_wait_dns.__doc__)
    wait_dns.add_argument("port", type=int)
    wait_dns.add_argument("--timeout", type=float, default=10.0)
    wait_dns.set_defaults(func=cmd_wait_dns)

    field = sub.add_parser("field", help=cmd_field.__doc__)
    field.add_argument("path")
    field.set_defaults(func=cmd_field)

    sub.add_parser("pretty", help=cmd_pretty.__doc__).set_defaults(func=cmd_pretty)
    sub.add_parser("certificate", help=cmd_certificate.__doc__).set_defaults(func=cmd_certificate)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
