"""The ACME boundary: run one blocking ``acme`` call in a thread, retry badNonce (bounded),
and translate what comes back into Certkeeper's problems. ACME 4xx problems are final;
rate limits, 5xx and network failures are retryable and carry the CA's ``Retry-After``.

Only an ACME problem document (``urn:ietf:params:acme:error:*``) is quoted back, clipped;
any other body an upstream sends is never echoed, only its status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ParamSpec, TypeVar

import josepy
import requests
from acme import errors, messages

from shared import metrics
from shared.errors import AcmeError, AcmeRateLimited, AcmeUnavailable

P = ParamSpec("P")
R = TypeVar("R")

BAD_NONCE_RETRIES = 8
ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"
# Server-side ACME errors worth retrying; every other 4xx problem is final.
_RETRYABLE_CODES = frozenset({"serverInternal", "rateLimited", "badNonce"})
MAX_DETAIL_CHARS = 500


class AcmeResponseInvalid(AcmeError):
    """The CA answered 2xx with something Certkeeper cannot use or store."""

    slug = "acme-response-invalid"
    title = "The ACME server's answer could not be used"
    status = 502

    def __init__(self, detail: str, *, retryable: bool = True, **extensions: Any) -> None:
        super().__init__(detail, retryable=retryable, **extensions)


class ResponseRecorder:
    """Sees every ACME answer (``AcmeNetwork`` calls it): remembers the last status,
    Retry-After and the ACME problem type of an error (``acme`` hides the body of a 409
    behind ConflictError)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: float | None = None
        self.problem_type: str | None = None
        # What the caller is doing (newOrder, finalize...), the label of the metrics.
        self.action = "directory"

    def __call__(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        action = "newNonce" if response.request.method == "HEAD" else self.action
        metrics.acme_response(action, response.status_code, response.elapsed.total_seconds())
        self.status = response.status_code
        self.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        self.problem_type = _problem_type(response)


def _problem_type(response: requests.Response) -> str | None:
    if response.ok or "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) and kind.startswith(ACME_ERROR_PREFIX) else None


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
    body: dict[str, Any] = {"type": error.typ, "detail": _clip(error.detail or error.title or "")}
    if error.identifier is not None:
        body["identifier"] = error.identifier.value
    if error.subproblems:
        body["subproblems"] = [problem_dict(sub) for sub in error.subproblems]
    return body


async def translate(
    recorder: ResponseRecorder, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run one blocking step in a thread; retry badNonce; translate errors at the boundary.

    ``fn`` must send at most one request that changes state at the CA (one POST, then any
    parsing): a badNonce retry repeats ``fn`` whole, so a compound call would repeat the
    requests that had already succeeded (a second order, a second account).
    """
    for attempt in range(BAD_NONCE_RETRIES + 1):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except messages.Error as exc:
            if exc.code == "badNonce" and attempt < BAD_NONCE_RETRIES:
                continue
            raise _counted(_from_problem(exc, recorder)) from exc
        except (errors.Error, requests.RequestException, josepy.errors.Error, ValueError,
                OSError) as exc:
            raise _counted(_from_failure(exc, recorder)) from exc
    raise _counted(AcmeUnavailable("ACME server kept rejecting nonces"))


def _counted(error: AcmeError) -> AcmeError:
    kind = error.acme_type.removeprefix(ACME_ERROR_PREFIX) if error.acme_type else error.slug
    metrics.acme_error(kind)
    return error


def _from_failure(exc: Exception, recorder: ResponseRecorder) -> AcmeError:
    """A library error that is no ACME problem document."""
    if isinstance(exc, errors.ClientError):
        return _from_status(recorder)
    unreadable = (josepy.errors.DeserializationError, requests.exceptions.InvalidJSONError)
    if isinstance(exc, unreadable) or (
        isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException)
    ):
        return AcmeResponseInvalid(
            f"the ACME server's answer could not be read ({type(exc).__name__})"
        )
    return AcmeUnavailable(f"ACME server unreachable: {type(exc).__name__}")


def _from_problem(exc: messages.Error, recorder: ResponseRecorder) -> AcmeError:
    if not (exc.typ or "").startswith(ACME_ERROR_PREFIX):
        return _from_status(recorder)  # not an ACME problem: its text is not ours to show
    code = exc.code or exc.typ.removeprefix(ACME_ERROR_PREFIX)
    detail = _clip(exc.detail or exc.title or code)
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


def _from_status(recorder: ResponseRecorder) -> AcmeError:
    """An answer that is no ACME problem: only its status is told, never its body."""
    status = recorder.status or 0
    if status == 409 and recorder.problem_type is not None:  # e.g. RFC 9773 alreadyReplaced
        code = recorder.problem_type.removeprefix(ACME_ERROR_PREFIX)
        return AcmeError(f"the CA refused: {code}", retryable=False,
                         acme_type=recorder.problem_type)
    if status == 429:
        return AcmeRateLimited(
            "rate limited (HTTP 429)", retryable=True, retry_after=recorder.retry_after,
        )
    if status >= 500 or status == 0:
        return AcmeUnavailable(f"ACME server error {status}", retry_after=recorder.retry_after)
    return AcmeError(f"unexpected ACME response {status}", retryable=False)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"
