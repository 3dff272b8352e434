"""Every branch of the issuer's state machine, driven through ``advance()`` against a
scripted CA and a real (SQLite, alembic-migrated) database. Pebble proves the whole path
end to end in tests/e2e; these prove each branch, fast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from services.issuer.outcomes import MAX_ATTEMPTS
from shared.acme_gateway import OrderInfo
from shared.dns.propagation import Propagation
from shared.domain.requests import verify_request
from shared.errors import AcmeError, AcmeUnavailable
from shared.states import RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.integration.issuer_harness import MANUAL, TESTER, Issuer, start_issuer

PROBLEM = "urn:certkeeper:problem:"
REFUSED = {"type": "urn:ietf:params:acme:error:connection", "detail": "connection refused"}


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[Issuer]:
    started = await start_issuer(tmp_path, order_retry_seconds=[60, 600])
    yield started
    await started.runtime.aclose()


def pending_order(*names: str, number: int = 1) -> OrderInfo:
    return order("pending", [authz(n, order=number) for n in names], number=number)


def validating_ca(issuer: Issuer, *names: str) -> None:
    """A CA that takes answers and then validates for a minute (its Retry-After), so a job
    that placed the order and answered ends there, the order in ``validating``."""
    issuer.fake.always("answer", None)
    busy = order("pending", [authz(n) for n in names], with_authorizations=False)
    issuer.fake.always("fetch_order", replace(busy, retry_after=60.0))


async def test_happy_path_issues(issuer: Issuer) -> None:
    names = ["www.example.test", "api.example.test"]
    issuer.fake.script("new_order", pending_order(*names))
    issuing_ca(issuer.fake, names)
    request_id = await issuer.request(*names)
    # One job: nothing makes it wait, so it places the order, answers, finalizes, stores.
    done = await issuer.step(request_id)
    assert [c.token for c in done.challenges] == ["token-1-www.example.test",
                                                  "token-1-api.example.test"]
    assert done.status is RequestStatus.ISSUED, done.error
    assert done.certificate_id is not None and done.private_key_sealed is None
    assert await issuer.certificates() == 1
    assert [a[1] for a in issuer.fake.args_of("answer")] == [
        "https://ca.test/authz/1/www.example.test/http-01",
        "https://ca.test/authz/1/api.example.test/http-01",
    ]
    assert issuer.fake.count("new_order") == 1
    assert issuer.fake.opened == issuer.fake.closed


async def test_manual_validation_failure_is_final(issuer: Issuer) -> None:
    issuer.fake.script("new_order", pending_order("www.example.test"))
    request_id = await issuer.request("www.example.test", **MANUAL)
    waiting = await issuer.run(request_id)
    assert waiting.status is RequestStatus.AWAITING_MANUAL_VALIDATION
    async with issuer.ctx.sessions() as session:
        await verify_request(session, issuer.ctx.queue, request_id, TESTER,
                                 dns=Propagation())
    invalid = authz("www.example.test", status="invalid", error=REFUSED)
    issuer.fake.always("answer", None)
    issuer.fake.always("fetch_order", order("invalid", [invalid], with_authorizations=False))
    issuer.fake.always("fetch_authorization", invalid)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "validation-failed"
    assert done.error["authorizations"] == [{"name": "www.example.test", "problem": REFUSED}]
    assert done.challenges[0].error == REFUSED
    assert issuer.fake.count("new_order") == 1


async def test_attempts_exhausted_fail_the_request(issuer: Issuer) -> None:
    issuer.fake.always("new_order", AcmeUnavailable("ACME server error 503"))
    request_id = await issuer.request("www.example.test")
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "acme-unavailable"
    assert issuer.fake.count("new_order") == MAX_ATTEMPTS + 1
    assert done.private_key_sealed is None


async def test_reanswered_challenge_counts_as_answered(issuer: Issuer) -> None:
    """The CA refuses a second answer to a challenge it is already validating (a job that
    died after answering): that challenge counts as answered."""
    issuer.fake.script("new_order", pending_order("www.example.test"))
    issuing_ca(issuer.fake, ["www.example.test"])
    issuer.fake.script("answer", AcmeError("challenge is not pending", retryable=False))
    issuer.fake.script("fetch_authorization",
                       authz("www.example.test", challenge_status="processing"))
    request_id = await issuer.request("www.example.test")
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert issuer.fake.count("answer") == 1


async def test_retryable_ca_error_keeps_ca_side_progress(issuer: Issuer) -> None:
    names = ["www.example.test", "api.example.test"]
    issuer.fake.script("new_order", pending_order(*names))
    issuing_ca(issuer.fake, names)
    issuer.fake.script("answer", None, AcmeUnavailable("ACME server error 502"))
    request_id = await issuer.request(*names)
    await issuer.step(request_id)
    retrying = await issuer.step(request_id)
    assert retrying.status is RequestStatus.VALIDATING
    assert retrying.last_error is not None and retrying.attempts == 1
    assert [c.answered_at is not None for c in retrying.challenges] == [True, False]
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert [a[1].split("/")[5] for a in issuer.fake.args_of("answer")] == [
        "www.example.test", "api.example.test", "api.example.test"]
    assert done.attempts == 0


@pytest.mark.parametrize("landing", ["new_order", "key_authorization", "download"])
async def test_accepted_cancel_is_never_followed_by_issuance(
    issuer: Issuer, landing: str
) -> None:
    """A cancel committed while a job is mid-step (before the order is recorded, between
    recording it and writing the step's result, or while the certificate downloads) fences
    the job out: nothing it learned is written, and no certificate is stored."""
    names = ["www.example.test"]
    request_id = await issuer.request(*names)
    placed = pending_order(*names)
    ca = issuing_ca(issuer.fake, names)

    def cancel_then(answer: Any) -> Any:
        def hook(*args: Any) -> Any:
            issuer.cancel_from_elsewhere(request_id)
            return answer(*args) if callable(answer) else answer
        return hook

    answers = {
        "new_order": placed,
        "key_authorization": None,
        "download": lambda _url: ca.sign(issuer.fake.args_of("finalize")[-1][2]),
    }
    issuer.fake.script(landing, cancel_then(answers[landing]))
    if landing != "new_order":
        issuer.fake.script("new_order", placed)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.CANCELLED
    assert await issuer.certificates() == 0
    assert done.certificate_id is None and done.private_key_sealed is None
    assert len(done.challenges) == (1 if landing == "download" else 0)
    calls = len(issuer.fake.calls)
    after = await issuer.step(request_id)
    assert after.status is RequestStatus.CANCELLED and len(issuer.fake.calls) == calls
    assert issuer.fake.count("new_order") == 1


async def test_failed_write_counts_attempts_and_places_one_order(issuer: Issuer) -> None:
    """The database refuses the step's result (here a trigger; in production a value too
    long for its column, a constraint, a lost connection). Each try counts, the request
    ends failed after the limit, and the one order placed is resumed, never placed again."""
    await issuer.execute(
        "CREATE TRIGGER refuse_challenges BEFORE INSERT ON challenges "
        "BEGIN SELECT RAISE(ABORT, 'challenge write refused'); END"
    )
    placed = pending_order("www.example.test")
    issuer.fake.script("new_order", placed)
    issuer.fake.always("fetch_order", order("pending", placed.authorizations,
                                            with_authorizations=False))
    issuer.fake.always("fetch_authorization", placed.authorizations[0])
    request_id = await issuer.request("www.example.test")
    first = await issuer.step(request_id)
    assert first.status is RequestStatus.PENDING and first.attempts == 1
    assert first.order_url == placed.url and first.last_error is not None
    done = await issuer.run(request_id, max_jobs=MAX_ATTEMPTS + 5)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "internal-error"
    assert done.attempts == MAX_ATTEMPTS + 1
    assert issuer.fake.count("new_order") == 1
    assert issuer.fake.count("fetch_order") == MAX_ATTEMPTS


async def test_ca_value_longer_than_its_column_is_refused(issuer: Issuer) -> None:
    issuer.fake.script("new_order", order(
        "pending", [authz("www.example.test", token="t" * 300)]))
    request_id = await issuer.request("www.example.test")
    done = await issuer.step(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "acme-response-invalid"
    assert "token" in done.error["detail"]
    assert issuer.fake.count("new_order") == 1


async def test_invalid_order_is_replaced_after_backoff(issuer: Issuer) -> None:
    """Automatic requests: an invalid order (e.g. our responder was down when the CA
    looked) is never reused; a fresh one is placed after each delay of
    ``order_retry_seconds`` (60, 600 here), then the request fails."""
    placed_at: list[datetime] = []

    def new_order(_csr: bytes) -> OrderInfo:
        placed_at.append(issuer.clock.now)
        return pending_order("www.example.test", number=len(placed_at))

    def fetch_order(url: str) -> OrderInfo:
        number = int(url.rsplit("/", 1)[1])
        failed = authz("www.example.test", order=number, status="invalid", error=REFUSED)
        return order("invalid", [failed], number=number, with_authorizations=False)

    issuer.fake.always("new_order", new_order)
    issuer.fake.always("answer", None)
    issuer.fake.always("fetch_order", fetch_order)
    issuer.fake.always("fetch_authorization", lambda url: authz(
        "www.example.test", order=int(url.split("/")[4]), status="invalid", error=REFUSED))
    request_id = await issuer.request("www.example.test")
    await issuer.step(request_id)
    retrying = await issuer.step(request_id)
    assert retrying.status is RequestStatus.PENDING
    assert retrying.last_error is not None
    assert retrying.last_error["type"] == PROBLEM + "validation-failed"
    assert retrying.order_url is None and retrying.challenges == []
    assert retrying.retry_not_before is not None
    assert (retrying.retry_not_before - issuer.clock.now).total_seconds() == 60
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "validation-failed"
    assert len(placed_at) == 3 and done.orders_placed == 3
    gaps = [(b - a).total_seconds() for a, b in pairwise(placed_at)]
    assert gaps[0] >= 60 and gaps[1] >= 600


async def test_job_taken_over_before_ordering_places_no_order(issuer: Issuer) -> None:
    """A job that waits past its lease (a queue of key generations under load) may be taken
    over by another job. Only one of them may place the order: the late one finds its hold
    gone when it renews the lease, and stops before calling the CA."""
    request_id = await issuer.request("www.example.test")
    issuer.fake.always("new_order", pending_order("www.example.test"))
    validating_ca(issuer, "www.example.test")

    async def taken_over(*_args: Any) -> None:
        issuer.clock.now += timedelta(seconds=issuer.settings.job_lease_seconds + 1)
        await issuer.step(request_id)  # the second job claims the expired lease

    issuer.fake.script("open", taken_over)
    await issuer.step(request_id)  # the first job, overtaken mid-step
    done = await issuer.row(request_id)
    assert issuer.fake.count("new_order") == 1
    assert done.status is RequestStatus.VALIDATING and done.orders_placed == 1


async def test_a_slow_job_keeps_its_lease(tmp_path: Path) -> None:
    """A job that is alive but slow (a key queued behind a burst, a slow CA) renews its
    lease while it works: no second job starts the same step meanwhile."""
    (tmp_path / "slow").mkdir()
    slow = await start_issuer(tmp_path / "slow", job_lease_seconds=0.3)
    try:
        request_id = await slow.request("www.example.test")
        slow.fake.always("new_order", pending_order("www.example.test"))
        validating_ca(slow, "www.example.test")

        async def outlives_its_first_lease(*_args: Any) -> None:
            slow.fake.always("open", None)
            for _ in range(4):  # the first lease runs out; each renewal moves it on
                await asyncio.sleep(0.15)
                slow.clock.now += timedelta(seconds=0.15)
            await slow.step(request_id)  # another job tries now: the lease is held

        slow.fake.script("open", outlives_its_first_lease)
        await slow.step(request_id)
        assert slow.fake.opened == 1, "a second job was let in while the first still worked"
        assert slow.fake.count("new_order") == 1
        assert (await slow.row(request_id)).status is RequestStatus.VALIDATING
    finally:
        await slow.runtime.aclose()
