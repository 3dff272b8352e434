"""The manual ``verify`` pre-check uses the propagation code: it follows the CNAME on
``_acme-challenge.<name>`` and, in the default mode, asks every authoritative server (real
BIND), so a record one nameserver does not serve yet is reported, naming that server,
before the CA is asked (a CA that finds no record fails the order for good)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.dns.propagation import Propagation
from shared.domain.requests import DnsRecordsMissing, verify_request
from shared.states import RequestStatus
from tests.fakes.acme import authz, order
from tests.harness.bind import BindServer, Zone, bind_server
from tests.integration.issuer_harness import MANUAL_DNS, TESTER, Issuer, start_issuer

NAME = "app.example.test"
TARGET = "_acme-challenge.app.delegated.test."


@pytest.fixture(scope="module")
def stale() -> Iterator[BindServer]:
    zones = [Zone("example.test.", [f"_acme-challenge.app CNAME {TARGET}"]),
             Zone("delegated.test.")]
    with bind_server(zones, secondary="stale") as server:
        yield server


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[Issuer]:
    started = await start_issuer(tmp_path)
    yield started
    await started.runtime.aclose()


async def test_verify_follows_the_cname_and_asks_every_authoritative_server(
    issuer: Issuer, stale: BindServer
) -> None:
    issuer.fake.script("new_order", order("pending", [authz(NAME, challenge_type="dns-01")]))
    request_id = await issuer.request(NAME, **MANUAL_DNS)
    waiting = await issuer.run(request_id)
    assert waiting.status is RequestStatus.AWAITING_MANUAL_VALIDATION
    challenge = waiting.challenges[0]
    assert challenge.txt_name == "_acme-challenge.app.example.test"
    assert challenge.txt_value is not None
    stale.update("delegated.test.", "add", TARGET, challenge.txt_value)  # the person's record

    authoritative = Propagation([stale.server], authoritative_port=stale.port)
    with pytest.raises(DnsRecordsMissing) as missing:
        async with issuer.ctx.sessions() as session:
            await verify_request(session, issuer.ctx.queue, request_id, TESTER,
                                 dns=authoritative)
    assert missing.value.extensions["missing"] == [
        {"name": challenge.txt_name, "value": challenge.txt_value}
    ]
    assert "ns2.delegated.test." in missing.value.detail
    assert "ns1.delegated.test." not in missing.value.detail
    assert (await issuer.row(request_id)).status is RequestStatus.AWAITING_MANUAL_VALIDATION

    # the configured resolver (ns1) serves it behind the CNAME: the resolvers mode passes
    resolvers = Propagation([stale.server], mode="resolvers")
    async with issuer.ctx.sessions() as session:
        verified = await verify_request(session, issuer.ctx.queue, request_id, TESTER,
                                        dns=resolvers)
    assert verified.status is RequestStatus.VALIDATING
