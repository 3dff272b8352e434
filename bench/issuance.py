"""Issuance latency and throughput: Certkeeper against a hand-written ``acme`` client.

Run with ``make bench`` or
``.venv/bin/python -m bench.issuance [--runs N] [--concurrent M] [--only ROW] [--keep-logs DIR]``.

Rows (every server is a throwaway instance on free ports, stopped on exit):

- ``baseline``: a minimal synchronous client on certbot's ``acme`` (ClientV2 + ClientNetwork,
  EC P-256 account key), polling every 10 ms, against its own Pebble (same binary and settings
  as the stacks) whose HTTP-01 validation hits a small responder thread in this process.
- ``prod``: ``production_stack()``, i.e. api + arq issuer worker + Postgres + Redis.
- ``embedded``: ``embedded_stack()``, i.e. all-in-one on SQLite with the in-process queue.

Each row measures the median and p90 latency of N sequential issuances (Certkeeper: from the
POST until a GET, polled every 10 ms, says ``issued``), then the wall time until M issuances
started at once are all done. Every issuance is HTTP-01 for one new name with an EC P-256
certificate key, after one unmeasured warm-up issuance. Ratios are against the baseline
measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import requests
from acme import challenges, crypto_util, messages
from acme.client import ClientNetwork, ClientV2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from tests.e2e.stack import FINAL, Stack, embedded_stack, production_stack
from tests.harness.pebble import challtestsrv, pebble_server
from tests.harness.ports import HOST

POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 60.0
NONCE_RETRIES = 5  # Pebble rejects 5% of nonces; acme itself retries badNonce only once


@dataclass
class Row:
    label: str
    latencies: list[float]
    concurrent: int
    wall: float

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p90(self) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=10, method="inclusive")[8]

    @property
    def rate(self) -> float:
        return self.concurrent / self.wall


# --- baseline: certbot's acme, single steps, 10 ms polling ------------------------------------


class _Network(ClientNetwork):
    """``ClientNetwork`` that retries badNonce a few times instead of once."""

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for _ in range(NONCE_RETRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
        return self._post_once(*args, **kwargs)


def _acme_client(
    directory_url: str, ca_bundle: str, key: JWKEC, account: messages.RegistrationResource | None
) -> ClientV2:
    # requests takes a CA bundle path for ``verify``; acme types it as bool only.
    net = _Network(key, account=account, alg=ES256, verify_ssl=cast(bool, ca_bundle))
    return ClientV2(ClientV2.get_directory(directory_url, net), net)


def _post_as_get(acme: ClientV2, url: str) -> requests.Response:
    return acme.net.post(url, None, new_nonce_url=acme.directory["newNonce"])


def _poll_order(acme: ClientV2, url: str, wanted: str) -> messages.Order:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        body: messages.Order = messages.Order.from_json(_post_as_get(acme, url).json())
        if body.status.name == wanted:
            return body
        if body.status == messages.STATUS_INVALID:
            raise RuntimeError(f"order {url} is invalid: {body.error}")
    raise TimeoutError(f"order {url} not {wanted} after {TIMEOUT_SECONDS}s")


def _baseline_issue(acme: ClientV2, key: JWKEC, name: str, tokens: dict[str, str]) -> float:
    began = time.perf_counter()
    cert_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = cert_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    order = acme.new_order(crypto_util.make_csr(key_pem, [name]))
    for authz in order.authorizations:
        challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = challb.response_and_validation(key)
        tokens[challb.chall.encode("token")] = validation
        acme.answer_challenge(challb, response)
    _poll_order(acme, order.uri, "ready")
    body = acme.begin_finalization(order).body
    if body.status != messages.STATUS_VALID:
        body = _poll_order(acme, order.uri, "valid")
    if body.certificate is None or "BEGIN CERTIFICATE" not in _post_as_get(
        acme, body.certificate
    ).text:
        raise RuntimeError(f"no certificate for {name}")
    return time.perf_counter() - began


@contextlib.contextmanager
def _responder(tokens: dict[str, str]) -> Iterator[int]:
    """HTTP-01 responder thread on a free port: key authorizations by token."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = tokens.get(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if answer else 404)
            self.end_headers()
            self.wfile.write((answer or "").encode())

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def baseline(runs: int, concurrent: int) -> Row:
    tokens: dict[str, str] = {}
    with (
        _responder(tokens) as port,
        challtestsrv() as dns,
        pebble_server(http_port=port, dns_server=dns.dns_server) as peb,
    ):
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        acme = _acme_client(peb.directory_url, peb.ca_bundle, key, None)
        account = acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        _baseline_issue(acme, key, "warmup.base.example.test", tokens)
        latencies = [
            _baseline_issue(acme, key, f"seq{i}.base.example.test", tokens) for i in range(runs)
        ]
        clients = [
            _acme_client(peb.directory_url, peb.ca_bundle, key, account) for _ in range(concurrent)
        ]
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrent) as pool:
            list(pool.map(
                lambda i: _baseline_issue(clients[i], key, f"burst{i}.base.example.test", tokens),
                range(concurrent),
            ))
        return Row("baseline", latencies, concurrent, time.perf_counter() - began)


# --- certkeeper: POST, then GET every 10 ms until issued ------------------------------------


def _submit(client: httpx.Client, name: str) -> str:
    response = client.post("/v1/certificate-requests", json={"common_name": name, "key_type": "ec"})
    if response.status_code != 202:
        raise RuntimeError(f"POST for {name}: {response.status_code} {response.text}")
    return str(response.json()["id"])


def _wait_issued(stack: Stack, client: httpx.Client, ids: list[str]) -> None:
    remaining = list(ids)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while remaining:
        for request_id in list(remaining):
            body = client.get(f"/v1/certificate-requests/{request_id}").json()
            if body["status"] == "issued":
                remaining.remove(request_id)
            elif body["status"] in FINAL:
                raise RuntimeError(f"request {request_id} {body['status']}: {body['error']}")
        if remaining and time.monotonic() > deadline:
            raise TimeoutError(f"{len(remaining)} requests not issued\n{stack.logs()}")
        if remaining:
            time.sleep(POLL_SECONDS)


def _certkeeper_issue(stack: Stack, client: httpx.Client, name: str) -> float:
    began = time.perf_counter()
    _wait_issued(stack, client, [_submit(client, name)])
    return time.perf_counter() - began


def certkeeper(
    label: str,
    open_stack: Callable[[], contextlib.AbstractContextManager[Stack]],
    runs: int,
    concurrent: int,
    keep_logs: Path | None,
) -> Row:
    with open_stack() as stack:
        client = stack.client()
        response = client.post(
            "/v1/acme-accounts",
            json={"contact_email": "bench@certkeeper.dev", "terms_of_service_agreed": True},
        )
        if response.status_code != 201:
            raise RuntimeError(f"account: {response.status_code} {response.text}")
        _certkeeper_issue(stack, client, f"warmup.{label}.example.test")
        latencies = [
            _certkeeper_issue(stack, client, f"seq{i}.{label}.example.test") for i in range(runs)
        ]
        clients = [stack.client() for _ in range(concurrent)]
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrent) as pool:
            ids = list(pool.map(
                lambda i: _submit(clients[i], f"burst{i}.{label}.example.test"), range(concurrent)
            ))
        _wait_issued(stack, client, ids)
        wall = time.perf_counter() - began
        if keep_logs is not None:
            (keep_logs / label).mkdir(parents=True, exist_ok=True)
            for log in stack.log_dir.glob("*.log"):
                shutil.copy(log, keep_logs / label / log.name)
        return Row(f"certkeeper-{label}", latencies, concurrent, wall)


# --- report -------------------------------------------------------------------------------


def _ratio(row: Row, base: Row | None, attr: str) -> str:
    if base is None:
        return "n/a"
    return f"{getattr(row, attr) / getattr(base, attr):.1f}x"


def report(rows: list[Row], runs: int, concurrent: int) -> None:
    base = next((r for r in rows if r.label == "baseline"), None)
    print(f"\nHTTP-01 issuance, N={runs} sequential, M={concurrent} concurrent "
          "(ratios vs baseline; latency and wall: higher is slower)")
    print(f"{'row':<19}{'median ms':>10}{'p90 ms':>9}{'M wall s':>10}{'certs/s':>9}"
          f"{'median':>8}{'p90':>7}{'wall':>7}{'certs/s':>9}")
    for r in rows:
        print(f"{r.label:<19}{r.median * 1000:>10.1f}{r.p90 * 1000:>9.1f}{r.wall:>10.2f}"
              f"{r.rate:>9.1f}{_ratio(r, base, 'median'):>8}{_ratio(r, base, 'p90'):>7}"
              f"{_ratio(r, base, 'wall'):>7}{_ratio(r, base, 'rate'):>9}")
    for r in rows:
        if base is not None and r is not base:
            print(f"{r.label} median latency = {_ratio(r, base, 'median')} baseline, "
                  f"throughput = {_ratio(r, base, 'rate')} baseline")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.issuance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="sequential issuances (N)")
    parser.add_argument("--concurrent", type=int, default=20, help="issuances at once (M)")
    parser.add_argument("--only", choices=["baseline", "prod", "embedded"])
    parser.add_argument("--keep-logs", type=Path, help="copy Certkeeper's logs into this dir")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.concurrent < 1:
        parser.error("--runs and --concurrent must be at least 1")
    rows: list[Row] = []
    began = time.monotonic()
    if args.only in (None, "baseline"):
        rows.append(baseline(args.runs, args.concurrent))
    stacks = {"prod": production_stack, "embedded": embedded_stack}
    for label, open_stack in stacks.items():
        if args.only in (None, label):
            rows.append(certkeeper(label, open_stack, args.runs, args.concurrent, args.keep_logs))
    report(rows, args.runs, args.concurrent)
    print(f"total {time.monotonic() - began:.1f}s")


if __name__ == "__main__":
    main()
