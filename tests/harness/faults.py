"""A TLS reverse proxy in front of Pebble that answers chosen requests with faults.

Pebble enforces no rate limits and never fails on its own; tests that need a CA answering
429 or 5xx point Certkeeper at this proxy. The client's Host header is passed on, so every
URL Pebble hands out already points at the proxy and later requests (orders, finalize) can
be faulted too. The proxy serves Pebble's own TLS certificate, so whatever trusts Pebble
trusts the proxy. A fault's body can be repeated, streamed, to serve a huge response
without holding it in memory.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.harness.pebble import PebbleServer
from tests.harness.ports import HOST

_HOP_HEADERS = {"connection", "transfer-encoding", "content-length", "keep-alive", "server",
                "date"}


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path contains ``path_part`` with this
    (``body`` sent ``repeat`` times in a row)."""

    method: str
    path_part: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    repeat: int = 1


@dataclass
class Hold:
    """Keep the next request whose path contains ``path_part`` until ``release`` is set
    (``held`` is set once it arrives), then pass it on: lets a test act at the moment the
    client has spoken but the CA has not yet heard."""

    method: str
    path_part: str
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    timeout: float = 60.0


@dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int


@dataclass
class FaultProxy:
    base_url: str
    directory_url: str
    ca_bundle: str  # Pebble's: the proxy serves Pebble's certificate
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_part in path:
                    fault.times -= 1
                    return fault
        return None

    def wait_if_held(self, method: str, path: str) -> None:
        with self.lock:
            hold = next((h for h in self.holds
                         if h.method == method and h.path_part in path), None)
            if hold is not None:
                self.holds.remove(hold)
        if hold is not None:
            hold.held.set()
            hold.release.wait(hold.timeout)

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.seen.append(Seen(time.monotonic(), method, path, status))

    def requests_to(self, method: str, path_part: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == method and path_part in s.path]


def _handler(proxy: FaultProxy, upstream: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            fault = proxy.take_fault(self.command, self.path)
            if fault is not None:
                proxy.record(self.command, self.path, fault.status)
                self._reply(fault.status, fault.headers, fault.body, fault.repeat)
                return
            proxy.wait_if_held(self.command, self.path)
            # Host is kept: Pebble builds its URLs, and checks the JWS "url", from it.
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            answer = upstream.request(self.command, proxy.upstream + self.path,
                                      headers=headers, content=body)
            proxy.record(self.command, self.path, answer.status_code)
            passed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
            self._reply(answer.status_code, passed, answer.content)

        def _reply(
            self, status: int, headers: dict[str, str], body: bytes, repeat: int = 1
        ) -> None:
            _send(self, status, headers, body, repeat)

    return Handler


def _send(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
    repeat: int,
) -> None:
    """Answer with ``body`` sent ``repeat`` times, streamed (never joined in memory)."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body) * repeat))
    handler.end_headers()
    if handler.command == "HEAD":
        return
    try:
        for _ in range(repeat):
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        handler.close_connection = True  # the client stopped reading: fine


@contextlib.contextmanager
def fault_proxy(pebble: PebbleServer) -> Iterator[FaultProxy]:
    upstream_base = pebble.directory_url.rsplit("/", 1)[0]
    tls = Path(pebble.ca_bundle).parent  # Pebble's certificate is for 127.0.0.1 too
    with httpx.Client(verify=pebble.ssl_context()) as upstream:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        server = ThreadingHTTPServer((HOST, 0), BaseHTTPRequestHandler)
        base = f"https://{HOST}:{server.server_address[1]}"
        proxy = FaultProxy(base, f"{base}/dir", pebble.ca_bundle, upstream_base)
        server.RequestHandlerClass = _handler(proxy, upstream)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()
