"""The ACME boundary: run one blocking ``acme`` call in a thread, retry badNonce (bounded),
and translate what comes back into Certkeeper's problems. ACME 4xx problems are final;
rate limits, 5xx and network failures are retryable and carry the CA's ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ParamSpec, TypeVar

import requests
from acme import errors, messages

from shared.errors import AcmeError, AcmeRateLimited, AcmeUnavailable

P = ParamSpec("P")
R = TypeVar("R")

BAD_NONCE_RETRIES = 8
ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"
# Server-side ACME errors worth retrying; every other 4xx problem is final.
_RETRYABLE_CODES = frozenset({"serverInternal", "rateLimited", "badNonce"})


class ResponseRecorder:
    """A ``requests`` response hook: remembers the last status and Retry-After."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: float | None = None

    def __call__(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self.status = response.status_code
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def problem_dict(error: messages.Error | None) -> dict[str, Any] | None:
    if error is None:
        return None
    body: dict[str, Any] = {"type": error.typ, "detail": error.detail or error.title or ""}
    if error.identifier is not None:
        body["identifier"] = error.identifier.value
    if error.subproblems:
        body["subproblems"] = [problem_dict(sub) for sub in error.subproblems]
    return body


async def translate(
    recorder: ResponseRecorder, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run one blocking step in a thread; retry badNonce; translate errors at the boundary."""
    for attempt in range(BAD_NONCE_RETRIES + 1):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except messages.Error as exc:
            if exc.code == "badNonce" and attempt < BAD_NONCE_RETRIES:
                continue
            raise _from_problem(exc, recorder) from exc
        except errors.ClientError as exc:
            raise _from_status(str(exc), recorder) from exc
        except (requests.RequestException, errors.Error, OSError) as exc:
            raise AcmeUnavailable(f"ACME server unreachable: {type(exc).__name__}") from exc
    raise AcmeUnavailable("ACME server kept rejecting nonces")


def _from_problem(exc: messages.Error, recorder: ResponseRecorder) -> AcmeError:
    code = exc.code or exc.typ.removeprefix(ACME_ERROR_PREFIX)
    detail = exc.detail or exc.title or code
    status = recorder.status or 400
    problem = problem_dict(exc)
    if code == "rateLimited" or status == 429:
        return AcmeRateLimited(
            detail, retryable=True, retry_after=recorder.retry_after, acme_type=exc.typ,
            acme_problem=problem,
        )
    if status >= 500:
        return AcmeUnavailable(f"ACME server error {status}: {detail}",
                               retry_after=recorder.retry_after)
    return AcmeError(
        detail, retryable=code in _RETRYABLE_CODES, acme_type=exc.typ, acme_problem=problem
    )


def _from_status(detail: str, recorder: ResponseRecorder) -> AcmeError:
    status = recorder.status or 0
    if status == 429:
        return AcmeRateLimited(
            f"rate limited (HTTP 429): {detail[:200]}", retryable=True,
            retry_after=recorder.retry_after,
        )
    if status >= 500 or status == 0:
        return AcmeUnavailable(f"ACME server error {status}", retry_after=recorder.retry_after)
    return AcmeError(f"unexpected ACME response {status}", retryable=False)
