"""The ACME client's own CPU per request: Certkeeper's ``AcmeNetwork`` against certbot's
``acme`` sending and signing, side by side in one process.

Run with ``.venv/bin/python -m bench.acme_client [--calls N] [--rounds R]``. A throwaway
Pebble is started; one account is registered on it. Printed, as medians of R rounds taken
in turn (each round N calls per side, the thread's CPU time, so Pebble's share is not
counted):

- a POST-as-GET of the account, as acme sends it (``ClientNetwork._send_request``, on its
  ``requests.Session``) and as Certkeeper does (``AcmeNetwork._send``, on urllib3 with the
  address guard and the answer cap); both sign with Certkeeper's JWS;
- the JWS alone, of a newOrder and of a POST-as-GET: acme's ``_wrap_in_jws`` and
  Certkeeper's.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from acme import client, messages
from acme.client import ClientNetwork
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from shared.acme_errors import ResponseRecorder
from shared.acme_gateway import AcmeNetwork, _open_network
from tests.harness.pebble import challtestsrv, pebble_server
from tests.harness.ports import free_port

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@contextlib.contextmanager
def registered_network() -> Iterator[tuple[AcmeNetwork, str, str]]:
    """Certkeeper's network on a fresh Pebble account; the account URL and newNonce URL."""
    with (
        challtestsrv() as dns,
        pebble_server(http_port=free_port(), dns_server=dns.dns_server,
                      env={"PEBBLE_WFE_NONCEREJECT": "0"}) as pebble,
    ):
        key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        net = _open_network(key, ES256, None, verify=str(pebble.ca_bundle), timeout=10,
                            allowed_networks=LOOPBACK, recorder=ResponseRecorder())
        # acme's own sending goes through its requests.Session, as in certbot; it is told
        # Pebble's CA (requests takes a path; acme types it bool).
        net.verify_ssl = cast(bool, str(pebble.ca_bundle))
        acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory_url, net), net)
        account = acme.new_account(messages.NewRegistration.from_data(
            terms_of_service_agreed=True))
        net.account = account
        assert isinstance(net, AcmeNetwork)
        yield net, account.uri, acme.directory["newNonce"]


def cpu_per_call(call: Callable[[], object], calls: int) -> float:
    """Microseconds of this thread's CPU per call."""
    began = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - began) / calls * 1e6


def taking_turns(sides: dict[str, Callable[[], object]], calls: int, rounds: int
                 ) -> dict[str, float]:
    """Median CPU per call of each side, the sides alternating round by round."""
    seen: dict[str, list[float]] = {label: [] for label in sides}
    for _ in range(rounds):
        for label, call in sides.items():
            seen[label].append(cpu_per_call(call, calls))
    return {label: statistics.median(values) for label, values in seen.items()}


def report(title: str, medians: dict[str, float]) -> None:
    acme, ours = medians["acme"], medians["certkeeper"]
    print(f"{title}: acme {acme:.0f} us, Certkeeper {ours:.0f} us per call, "
          f"ratio {ours / acme:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.acme_client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per side and round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (median taken)")
    args = parser.parse_args(argv)
    with registered_network() as (net, account_url, new_nonce_url):
        ours = AcmeNetwork._send_request

        def acme_sends(self: AcmeNetwork, method: str, url: str, *a: Any, **kw: Any) -> Any:
            return ClientNetwork._send_request(self, method, url, *a, **kw)

        def post(send: Callable[..., Any]) -> Callable[[], object]:
            def call() -> object:
                net._send_request = send.__get__(net)  # type: ignore[method-assign]
                return net.post(account_url, None, new_nonce_url=new_nonce_url)
            return call

        for _ in range(50):  # the connection and the nonce pool warm
            post(ours)()
        report("POST-as-GET, sending", taking_turns(
            {"acme": post(acme_sends), "certkeeper": post(ours)}, args.calls, args.rounds))
        order = messages.NewOrder(identifiers=(
            messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="a.example.test"),))
        nonce = b"0123456789abcdef"

        def signing(wrap: Callable[..., str]) -> Callable[[], object]:
            def call() -> object:
                wrap(net, order, nonce, new_nonce_url)
                return wrap(net, None, nonce, account_url)
            return call

        report("JWS of a newOrder and a POST-as-GET", taking_turns(
            {"acme": signing(ClientNetwork._wrap_in_jws),
             "certkeeper": signing(AcmeNetwork._wrap_in_jws)}, args.calls * 10, args.rounds))


if __name__ == "__main__":
    main()
