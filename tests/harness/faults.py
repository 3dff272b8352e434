"""A TLS reverse proxy in front of Pebble that answers chosen requests with faults.

Pebble enforces no rate limits and never fails on its own; tests that need a CA answering
429 or 5xx point Certkeeper at this proxy. The client's Host header is passed on, so every
URL Pebble hands out already points at the proxy and later requests (orders, finalize) can
be faulted too. The proxy serves Pebble's own TLS certificate, so whatever trusts Pebble
trusts the proxy. A fault's body can be repeated, streamed, to serve a huge response
without holding it in memory.

It also plays the parts Pebble 2.4.0 lacks: ``directory_extra`` is merged into Pebble's
directory (``renewalInfo``, ``meta.profiles``), ``windows`` are the RFC 9773 answers served
at ``/renewalInfo/<certificate id>``, and every signed POST is kept decoded in ``signed``
(JWS is signed, not encrypted), so tests can read what a ``newOrder`` asked for.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
    # True: the CA gets the request and, once it has accepted it (2xx), its answer is lost
    # and the fault sent instead; an answer it refused (say badNonce) passes as it is and
    # the fault waits for the next request.
    pass_on: bool = False
    # An answer cut short: Content-Length says the whole body, this many bytes of it are
    # sent, then the connection is closed.
    cut_after: int | None = None


@dataclass
class Hold:
    """Keep the next request whose path contains ``path_part`` until ``release`` is set
    (``held`` is set once it arrives), then pass it on: lets a test act at the moment the
    client has spoken but the CA has not yet heard. With ``after``, the CA hears at once and
    its answer is kept instead: the CA has acted, the client does not know yet."""

    method: str
    path_part: str
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    timeout: float = 60.0
    after: bool = False


@dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # as the client sent them


@dataclass
class Signed:
    """One signed POST as the CA received it: the JWS protected header and payload."""

    path: str
    protected: dict[str, Any]
    payload: dict[str, Any] | None  # None: POST-as-GET


@dataclass
class Window:
    """An ARI answer (RFC 9773 4.2): ``start``/``end`` RFC 3339 times."""

    start: str
    end: str
    retry_after: int | None = None
    explanation_url: str | None = None

    def body(self) -> bytes:
        answer: dict[str, Any] = {"suggestedWindow": {"start": self.start, "end": self.end}}
        if self.explanation_url:
            answer["explanationURL"] = self.explanation_url
        return json.dumps(answer).encode()


RENEWAL_INFO = "/renewalInfo/"


@dataclass
class FaultProxy:
    base_url: str
    directory_url: str
    ca_bundle: str  # Pebble's: the proxy serves Pebble's certificate
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    signed: list[Signed] = field(default_factory=list)
    directory_extra: dict[str, Any] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    # Windows for certificates not named in ``windows``: the first asked-about takes the
    # first, and keeps it; once these run out, ``later_window`` (if any) for the rest.
    next_windows: list[Window] = field(default_factory=list)
    later_window: Window | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advertise_ari(self, profiles: dict[str, str] | None = None) -> None:
        """Make the directory list ``renewalInfo`` (served here) and, optionally, profiles."""
        extra: dict[str, Any] = {"renewalInfo": f"{self.base_url}{RENEWAL_INFO.rstrip('/')}"}
        if profiles is not None:
            extra["meta"] = {"profiles": profiles}
        self.directory_extra = extra

    def window_for(self, cert_id: str) -> Window | None:
        with self.lock:
            if cert_id not in self.windows:
                if self.next_windows:
                    self.windows[cert_id] = self.next_windows.pop(0)
                elif self.later_window is not None:
                    self.windows[cert_id] = self.later_window
            return self.windows.get(cert_id)

    def keep_signed(self, path: str, body: bytes) -> None:
        try:
            jws = json.loads(body)
            protected = json.loads(_b64(jws["protected"]))
            payload = json.loads(_b64(jws["payload"])) if jws["payload"] else None
        except (ValueError, KeyError, TypeError):
            return
        with self.lock:
            self.signed.append(Signed(path, protected, payload))

    def signed_to(self, path_part: str) -> list[Signed]:
        with self.lock:
            return [s for s in self.signed if path_part in s.path]

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_part in path:
                    fault.times -= 1
                    return fault
        return None

    def wait_if_held(self, method: str, path: str, *, after: bool = False) -> None:
        with self.lock:
            hold = next((h for h in self.holds if h.method == method and h.after == after
                         and h.path_part in path), None)
            if hold is not None:
                self.holds.remove(hold)
        if hold is not None:
            hold.held.set()
            hold.release.wait(hold.timeout)

    def record(self, method: str, path: str, status: int,
               headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.seen.append(Seen(time.monotonic(), method, path, status, headers or {}))

    def requests_to(self, method: str, path_part: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == method and path_part in s.path]


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    upstream: httpx.Client

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.proxy
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.command == "POST":
            proxy.keep_signed(self.path, body)
        fault = proxy.take_fault(self.command, self.path)
        if fault is not None and fault.pass_on:
            answer = self._forward(body)
            if not answer.is_success:
                with proxy.lock:
                    fault.times += 1
                self._send_answer(answer)
                return
        if fault is not None:
            proxy.record(self.command, self.path, fault.status, dict(self.headers))
            _send(self, fault.status, fault.headers, fault.body, fault.repeat, fault.cut_after)
        elif self.path.startswith(RENEWAL_INFO) and proxy.directory_extra:
            self._renewal_info(self.path.removeprefix(RENEWAL_INFO))
        else:
            proxy.wait_if_held(self.command, self.path)
            self._pass_on(body)

    def _forward(self, body: bytes) -> httpx.Response:
        # Host is kept: Pebble builds its URLs, and checks the JWS "url", from it.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        return self.upstream.request(self.command, self.proxy.upstream + self.path,
                                     headers=headers, content=body)

    def _pass_on(self, body: bytes) -> None:
        self._send_answer(self._forward(body))

    def _send_answer(self, answer: httpx.Response) -> None:
        proxy = self.proxy
        proxy.record(self.command, self.path, answer.status_code, dict(self.headers))
        proxy.wait_if_held(self.command, self.path, after=True)
        passed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        content = answer.content
        if self.path == "/dir" and answer.status_code == 200 and proxy.directory_extra:
            content = _merged(content, proxy.directory_extra)
        _send(self, answer.status_code, passed, content)

    def _renewal_info(self, cert_id: str) -> None:
        window = self.proxy.window_for(cert_id)
        if window is None:
            self.proxy.record(self.command, self.path, 404, dict(self.headers))
            problem = {"type": "urn:ietf:params:acme:error:malformed",
                       "detail": "no such certificate"}
            _send(self, 404, {"Content-Type": "application/problem+json"},
                  json.dumps(problem).encode(), 1)
            return
        headers = {"Content-Type": "application/json"}
        if window.retry_after is not None:
            headers["Retry-After"] = str(window.retry_after)
        self.proxy.record(self.command, self.path, 200, dict(self.headers))
        _send(self, 200, headers, window.body(), 1)


def _handler(proxy: FaultProxy, upstream: httpx.Client) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"proxy": proxy, "upstream": upstream})


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _merged(directory: bytes, extra: dict[str, Any]) -> bytes:
    document = json.loads(directory)
    for key, value in extra.items():
        if isinstance(value, dict):
            document[key] = {**document.get(key, {}), **value}
        else:
            document[key] = value
    return json.dumps(document).encode()


def _send(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
    repeat: int = 1, cut_after: int | None = None,
) -> None:
    """Answer with ``body`` sent ``repeat`` times, streamed (never joined in memory); with
    ``cut_after``, only that many bytes of it before the connection is closed."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body) * repeat))
    handler.end_headers()
    if handler.command == "HEAD":
        return
    try:
        left = len(body) * repeat if cut_after is None else cut_after
        for _ in range(repeat):
            if left <= 0:
                break
            handler.wfile.write(body[:left])
            left -= len(body)
        if cut_after is not None:
            handler.close_connection = True
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
