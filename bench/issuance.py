"""Issuance latency and throughput: Certkeeper against a hand-written ``acme`` client.

Run with ``make bench`` or ``.venv/bin/python -m bench.issuance [--runs N] [--concurrent M]
[--bursts B] [--names K] [--certbot C] [--floor-threads T]
[--only baseline|certbot|prod|embedded] [--keep-logs DIR]``. Every server is a throwaway
instance.

- baseline: a minimal synchronous client on certbot's ``acme`` (EC P-256 account key) polling
  every 10 ms, against its own Pebble (same binary and settings as the stacks) whose HTTP-01
  validation reaches a responder thread in this process.
- prod: ``production_stack()`` (api + arq issuer worker + Postgres + Redis).
- embedded: ``embedded_stack()`` (all-in-one on SQLite with the in-process queue).
- certbot: C certificates, one ``certbot certonly --standalone`` process each (as certbot
  is run from cron), sequential, against its own Pebble validating on certbot's port.
  certbot is a bench-only dependency: installed into the virtualenv on first use, never
  in the lock.

Per row: median and p90 latency of N sequential issuances (Certkeeper: from the POST until a
GET, polled every 10 ms, says ``issued``), then the wall time until M issuances started at once
are done (Certkeeper: M POSTs from one asyncio client, the requests watched in the database
every 50 ms; baseline: M issuances in T threads, default 8; certbot: its C sequential runs).
Each issuance is HTTP-01 for K new names with an EC P-256 key. With B rounds, the baseline
and the stacks take turns, each opened afresh in every round (a warm-up, N sequential, one
burst); the latency is the median of all rounds' sequential issuances and the rate that of
the median burst. Ratios are against the baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import requests
from acme import challenges, crypto_util, messages
from acme.client import ClientNetwork, ClientV2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from bench.watch import watching
from tests.e2e.stack import FINAL, Stack, embedded_stack, production_stack
from tests.harness.pebble import challtestsrv, pebble_server
from tests.harness.ports import HOST, free_port
from tests.harness.process import temp_dir

POLL_SECONDS = 0.01
# A burst is watched with one list call per 50 ms, so the watching hardly loads the api
# it measures (a GET per request every 10 ms did).
BURST_POLL_SECONDS = 0.05
LIST_LIMIT = 500  # the API's largest page
# The floor's burst runs in this many threads: each thread's time is mostly spent waiting
# for Pebble, so 8 orders in flight keep Pebble's two cores busy, while 100 threads
# starved the responder thread that shares this process (Pebble's validations timed out).
FLOOR_THREADS = 8
TIMEOUT_SECONDS = 60.0
# certbot gives up on a rejected nonce that its one retry meets again (Pebble rejects 5 % at
# random); it is run again, as cron would on its next run, and the time of both runs counts.
CERTBOT_TRIES = 3
NONCE_RETRIES = 5  # Pebble rejects 5% of nonces; acme itself retries badNonce only once
T = TypeVar("T")
NAMES_PER_CERTIFICATE = 2  # --names; the first is the common name
FLOOR_LABEL = "baseline"


def names_of(name: str) -> list[str]:
    """The names of one certificate: ``name`` and ``alt<i>.name`` up to ``--names``."""
    return [name, *(f"alt{i}.{name}" for i in range(1, NAMES_PER_CERTIFICATE))]


@dataclass
class Row:
    label: str
    median: float
    p90: float
    wall: float  # for the burst of M
    rate: float  # certificates per second in the burst


def _in_threads(
    function: Callable[[str], T], names: list[str], threads: int | None = None
) -> list[T]:
    """``function`` over ``names`` in ``threads`` threads (default: one per name)."""
    with ThreadPoolExecutor(max_workers=threads or len(names)) as pool:
        return list(pool.map(function, names))


@dataclass
class Side:
    """One client under test: how it issues one certificate, and a burst of them."""

    label: str
    issue: Callable[[str], object]
    burst: Callable[[list[str]], object]


SideOpener = Callable[[], contextlib.AbstractContextManager[Side]]
BURSTS_HELP = "rounds, the sides taking turns, opened afresh (median burst)"


def measure_sides(openers: Sequence[SideOpener], runs: int, concurrent: int, bursts: int
                  ) -> dict[str, Row]:
    """Each side's row, by label, from ``bursts`` rounds. In each round every side in turn
    is opened afresh (its own Pebble, its own stack), makes one warm-up, ``runs`` sequential
    issuances and a burst of ``concurrent`` at once, and is closed: no side's idle processes
    run during another's burst, and a spell of load from elsewhere on the machine falls on
    every side alike. A side's latency is the median of all its sequential issuances, its
    rate that of its median burst."""
    latencies: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    for round_ in range(bursts):
        for open_side in openers:
            with open_side() as side:
                side.issue(f"warmup{round_}.{side.label}.example.test")
                for i in range(runs):
                    began = time.perf_counter()
                    side.issue(f"seq{round_}-{i}.{side.label}.example.test")
                    latencies.setdefault(side.label, []).append(time.perf_counter() - began)
                began = time.perf_counter()
                side.burst([f"burst{round_}-{i}.{side.label}.example.test"
                            for i in range(concurrent)])
                walls.setdefault(side.label, []).append(time.perf_counter() - began)
    return {label: _row(label, latencies[label], walls[label], concurrent)
            for label in latencies}


def _row(label: str, latencies: list[float], walls: list[float], concurrent: int) -> Row:
    p90 = (statistics.quantiles(latencies, n=10, method="inclusive")[8] if len(latencies) > 1
           else latencies[0])
    wall = statistics.median(walls)
    return Row(label, statistics.median(latencies), p90, wall, concurrent / wall)


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


def _baseline_issue(acme: ClientV2, key: JWKEC, name: str, tokens: dict[str, str]) -> None:
    cert_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = cert_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    order = acme.new_order(crypto_util.make_csr(key_pem, names_of(name)))
    for authz in order.authorizations:
        challb = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
        response, validation = challb.response_and_validation(key)
        tokens[challb.chall.encode("token")] = validation
        acme.answer_challenge(challb, response)
    _poll_order(acme, order.uri, "ready")
    body = acme.begin_finalization(order).body
    if body.status != messages.STATUS_VALID:
        body = _poll_order(acme, order.uri, "valid")
    chain = _post_as_get(acme, body.certificate).text if body.certificate else ""
    if "BEGIN CERTIFICATE" not in chain:
        raise RuntimeError(f"no certificate for {name}")


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

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default backlog of 5 drops SYNs under load: 1 s stalls

    server = Server((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def floor_side(threads: int = FLOOR_THREADS) -> Iterator[Side]:
    """The floor: the minimal client against its own Pebble, its burst in ``threads``
    threads."""
    tokens: dict[str, str] = {}
    with (
        _responder(tokens) as port,
        challtestsrv() as dns,
        pebble_server(http_port=port, dns_server=dns.dns_server) as peb,
    ):
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        account: messages.RegistrationResource | None = None
        local = threading.local()  # one client per thread: a nonce pool is not thread-safe

        def client() -> ClientV2:
            if not hasattr(local, "acme"):
                verify = cast(bool, peb.ca_bundle)  # requests takes a path; acme types it bool
                net = _Network(key, account=account, alg=ES256, verify_ssl=verify)
                local.acme = ClientV2(ClientV2.get_directory(peb.directory_url, net), net)
            return cast(ClientV2, local.acme)

        new_account = messages.NewRegistration.from_data(terms_of_service_agreed=True)
        account = client().new_account(new_account)

        def issue(name: str) -> None:
            _baseline_issue(client(), key, name, tokens)

        # Each burst thread builds its client on its first issuance, as a real client would.
        yield Side(FLOOR_LABEL, issue, lambda names: _in_threads(issue, names, threads))


def certbot_path() -> str:
    """certbot in this virtualenv, installed from PyPI on first use (bench-only)."""
    path = Path(sys.executable).parent / "certbot"
    if not path.exists():
        print("installing certbot into the virtualenv (bench-only, not in the lock)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "certbot"],
                       check=True)
    return str(path)


def certbot(count: int) -> Row:
    """``count`` sequential ``certbot certonly --standalone`` runs, one process each."""
    executable, port = certbot_path(), free_port()
    with (
        temp_dir("ck-bench-certbot-") as tmp,
        challtestsrv() as dns,
        pebble_server(http_port=port, dns_server=dns.dns_server) as peb,
    ):
        env = {**os.environ, "REQUESTS_CA_BUNDLE": str(peb.ca_bundle)}

        def issue(name: str) -> None:
            argv = [executable, "certonly", "--standalone", "--non-interactive", "--agree-tos",
                    "--register-unsafely-without-email", "--server", peb.directory_url,
                    "--http-01-port", str(port), "--http-01-address", HOST,
                    "--key-type", "ecdsa", "--elliptic-curve", "secp256r1",
                    "--config-dir", str(tmp / "config"), "--work-dir", str(tmp / "work"),
                    "--logs-dir", str(tmp / "logs"), "--cert-name", name]
            for each in names_of(name):
                argv += ["-d", each]
            for _ in range(CERTBOT_TRIES):
                done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                      timeout=120, check=False)
                if done.returncode == 0:
                    return
                if "anti-replay nonce" not in done.stderr:
                    break
            raise RuntimeError(f"certbot {name}: {done.stderr[-2000:]}")

        issue("warmup.certbot.example.test")  # registers the account
        latencies = []
        began = time.perf_counter()
        for i in range(count):
            started = time.perf_counter()
            issue(f"seq{i}.certbot.example.test")
            latencies.append(time.perf_counter() - started)
        wall = time.perf_counter() - began
    p90 = (statistics.quantiles(latencies, n=10, method="inclusive")[8] if count > 1
           else latencies[0])
    return Row("certbot", statistics.median(latencies), p90, wall, count / wall)


def _wait_issued(stack: Stack, client: httpx.Client, ids: list[str]) -> None:
    """Until every request in ``ids`` is issued: one request alone is polled with a GET every
    10 ms (its latency is measured through the api); a burst is watched from the database
    every 50 ms (:mod:`bench.watch`), so the api it measures serves no watcher. Raises if one
    fails."""
    if len(ids) > 1:
        _watch_burst(stack, client, set(ids))
        return
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        body = client.get(f"/v1/certificate-requests/{ids[0]}").json()
        if body["status"] == "issued":
            return
        if body["status"] in FINAL:
            raise RuntimeError(f"request {ids[0]} {body['status']}: {body['error']}")
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"request {ids[0]} not issued\n{stack.logs()}")


def _watch_burst(stack: Stack, client: httpx.Client, ids: set[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with watching(stack) as watcher:
        while time.monotonic() < deadline:
            unfinished = watcher.unfinished(ids)
            if not unfinished:
                return
            ended = [request_id for request_id, status in unfinished.items() if status in FINAL]
            if ended:
                body = client.get(f"/v1/certificate-requests/{ended[0]}").json()
                raise RuntimeError(f"request {ended[0]} {body['status']}: {body['error']}")
            time.sleep(BURST_POLL_SECONDS)
    raise TimeoutError(f"{len(unfinished)} requests not issued\n{stack.logs()}")


def request_statuses(client: httpx.Client, ids: set[str]) -> Iterator[dict[str, Any]]:
    """The requests in ``ids``: one GET, or list pages until each has been seen."""
    if len(ids) == 1:
        yield client.get(f"/v1/certificate-requests/{next(iter(ids))}").json()
        return
    unseen, cursor = set(ids), None
    while unseen:
        params: dict[str, str | int] = {"limit": LIST_LIMIT, **({"cursor": cursor} if cursor
                                                               else {})}
        page = client.get("/v1/certificate-requests", params=params).json()
        for body in page["items"]:
            if str(body["id"]) in unseen:
                unseen.discard(str(body["id"]))
                yield body
        cursor = page["next_cursor"]
        if cursor is None:
            return


def api_client(stack: Stack, base_url: str) -> httpx.Client:
    """An admin client of the api at ``base_url`` (a stack may run more than one)."""
    return httpx.Client(base_url=base_url, timeout=30.0,
                        headers={"Authorization": f"Bearer {stack.admin_token}"})


def post_one(client: httpx.Client, name: str) -> str:
    """POST one request (HTTP-01, EC, ``names_of(name)``); its id."""
    return _accepted(name, client.post("/v1/certificate-requests", json=_request_body(name)))


def create_account(client: httpx.Client) -> None:
    response = client.post("/v1/acme-accounts", json={
        "contact_email": "bench@certkeeper.dev", "terms_of_service_agreed": True})
    if response.status_code != 201:
        raise RuntimeError(f"account: {response.status_code} {response.text}")


def _request_body(name: str) -> dict[str, Any]:
    return {"common_name": name, "key_type": "ec", "subject_alternative_names": names_of(name)}


def _accepted(name: str, response: httpx.Response) -> str:
    """The new request's id from the api's answer to its POST."""
    if response.status_code != 202:
        raise RuntimeError(f"POST {name}: {response.status_code} {response.text}")
    return str(response.json()["id"])


def post_at_once(stack: Stack, base_urls: list[str], names: list[str], posted: list[str]
                 ) -> None:
    """POST a request per name, all at once, from one asyncio client per api (the apis in
    turn); each id is appended to ``posted`` as it is answered. A hundred blocking clients
    in a hundred threads took the machine more CPU than the api spent answering them, on the
    same two cores as the stack being measured."""
    async def post_all() -> None:
        clients = [httpx.AsyncClient(base_url=url, timeout=30.0, headers={
            "Authorization": f"Bearer {stack.admin_token}"}) for url in base_urls]

        async def post(client: httpx.AsyncClient, name: str) -> None:
            response = await client.post("/v1/certificate-requests", json=_request_body(name))
            posted.append(_accepted(name, response))

        try:
            await asyncio.gather(*(post(clients[i % len(clients)], name)
                                   for i, name in enumerate(names)))
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(post_all())


def burst(stack: Stack, base_urls: list[str], names: list[str],
          posted: list[str] | None = None) -> None:
    """Post a request per name at once, then wait until all are issued; ``posted`` gets
    the ids of the requests posted."""
    ids = [] if posted is None else posted
    post_at_once(stack, base_urls, names, ids)
    with stack.client() as poller:
        _wait_issued(stack, poller, ids)


def certkeeper_side(
    stack: Stack, label: str,
    around_burst: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> Side:
    """Certkeeper on an open stack (its account created here); ``around_burst`` is entered
    just before each burst and left when it is done."""
    poller = stack.client()
    create_account(poller)

    def burst_of(names: list[str]) -> None:
        with around_burst():
            burst(stack, [stack.base_url], names)

    return Side(label, lambda name: _wait_issued(stack, poller, [post_one(poller, name)]),
                burst_of)


@contextlib.contextmanager
def certkeeper_on(open_stack: Callable[[], contextlib.AbstractContextManager[Stack]],
                  label: str, keep_logs: Path | None) -> Iterator[Side]:
    """Certkeeper on a stack opened for it; its logs are copied into ``keep_logs/label``
    (those of the last one opened, when there are several rounds)."""
    with open_stack() as stack:
        try:
            yield certkeeper_side(stack, label)
        finally:
            if keep_logs is not None:
                (keep_logs / label).mkdir(parents=True, exist_ok=True)
                for log in stack.log_dir.glob("*.log"):
                    shutil.copy(log, keep_logs / label / log.name)


def _ratio(row: Row, base: Row | None, attr: str) -> str:
    return f"{getattr(row, attr) / getattr(base, attr):.2f}x" if base else "n/a"


def report(rows: list[Row], runs: int, concurrent: int) -> None:
    base = next((r for r in rows if r.label == FLOOR_LABEL), None)
    print(f"\nHTTP-01 issuance: N={runs} sequential, M={concurrent} at once; ratios vs baseline")
    print(f"{'row':<20}{'median ms':>10}{'p90 ms':>8}{'M wall s':>9}{'certs/s':>8}"
          f"{'xmedian':>8}{'xp90':>7}{'xwall':>7}{'xcerts/s':>9}")
    for r in rows:
        print(f"{r.label:<20}{r.median * 1000:>10.1f}{r.p90 * 1000:>8.1f}{r.wall:>9.2f}"
              f"{r.rate:>8.1f}{_ratio(r, base, 'median'):>8}{_ratio(r, base, 'p90'):>7}"
              f"{_ratio(r, base, 'wall'):>7}{_ratio(r, base, 'rate'):>9}")
    bot = next((r for r in rows if r.label == "certbot"), None)
    for r in rows:
        if base is not None and r is not base:
            print(f"{r.label} median latency = {_ratio(r, base, 'median')} baseline, "
                  f"throughput = {_ratio(r, base, 'rate')} baseline")
        if bot is not None and r.label.startswith("certkeeper"):
            print(f"{r.label} throughput = {_ratio(r, bot, 'rate')} certbot's")


def main(argv: list[str] | None = None) -> None:
    global NAMES_PER_CERTIFICATE
    parser = argparse.ArgumentParser(prog="python -m bench.issuance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="sequential issuances (N)")
    parser.add_argument("--concurrent", type=int, default=20, help="issuances at once (M)")
    parser.add_argument("--bursts", type=int, default=3,
                        help=BURSTS_HELP)
    parser.add_argument("--names", type=int, default=NAMES_PER_CERTIFICATE,
                        help="names per certificate (K)")
    parser.add_argument("--certbot", type=int, default=3,
                        help="certbot certificates (C, one process each); 0: no certbot row")
    parser.add_argument("--floor-threads", type=int, default=FLOOR_THREADS,
                        help="threads of the baseline's burst")
    parser.add_argument("--only", choices=["baseline", "certbot", "prod", "embedded"])
    parser.add_argument("--keep-logs", type=Path, help="copy Certkeeper's logs into this dir")
    args = parser.parse_args(argv)
    if min(args.runs, args.concurrent, args.names, args.bursts) < 1:
        parser.error("--runs, --concurrent, --names and --bursts must be at least 1")
    NAMES_PER_CERTIFICATE = args.names
    began = time.monotonic()
    rows = [certbot(args.certbot)] if args.certbot and args.only in (None, "certbot") else []
    openers: list[SideOpener] = (
        [functools.partial(floor_side, args.floor_threads)]
        if args.only in (None, "baseline") else [])
    for label, open_stack in (("prod", production_stack), ("embedded", embedded_stack)):
        if args.only in (None, label):
            openers.append(functools.partial(
                certkeeper_on, open_stack, f"certkeeper-{label}", args.keep_logs))
    rows += measure_sides(openers, args.runs, args.concurrent, args.bursts).values()
    report(rows, args.runs, args.concurrent)
    print(f"total {time.monotonic() - began:.1f}s")


if __name__ == "__main__":
    main()
