"""What becomes of a request when a step does not simply move it on: a retry after a
backoff, a fresh order after an invalid one, or the end. The delays are pure functions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.choices import ValidationMode
from shared.errors import Problem
from shared.models import CertificateRequest
from shared.states import RequestStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 3600.0


def attempt_delay(attempts: int, retry_after: float | None) -> float:
    """Seconds before try ``attempts + 1``: doubling, capped; a CA's Retry-After wins."""
    delay = min(2.0 ** min(attempts, 64), MAX_BACKOFF_SECONDS)
    return delay if retry_after is None else max(delay, float(retry_after))


def order_retry_delay(schedule: Sequence[float], orders_placed: int) -> float | None:
    """Seconds before placing a new order once order number ``orders_placed`` went invalid
    (``schedule[0]`` after the first); ``None`` once the schedule is used up."""
    index = max(orders_placed, 1) - 1
    return float(schedule[index]) if index < len(schedule) else None


def retry_later(req: CertificateRequest, problem: Problem, now: datetime) -> float | None:
    """Count a failed try; schedule the next, or fail the request after the limit."""
    req.attempts += 1
    req.last_error = problem.to_dict()
    if req.attempts > MAX_ATTEMPTS:
        fail_request(req, problem, now)
        return None
    delay = attempt_delay(req.attempts, getattr(problem, "retry_after", None))
    req.retry_not_before = now + timedelta(seconds=delay)
    logger.warning(
        "request.retry_scheduled",
        extra={"request_id": str(req.id), "attempt": req.attempts, "delay": delay,
               "problem": problem.type_uri()},
    )
    return delay


def order_failed(
    req: CertificateRequest, problem: Problem, schedule: Sequence[float], now: datetime
) -> float | None:
    """The CA could not validate the order. A person re-places manual values, so that is
    final; an automatic request starts over with a fresh order after a backoff, since the
    cause may have been on our side (e.g. the responder down while the CA looked)."""
    delay = None
    if req.validation is ValidationMode.AUTOMATIC:
        delay = order_retry_delay(schedule, req.orders_placed)
    if delay is None:
        fail_request(req, problem, now)
        return None
    req.status = RequestStatus.PENDING
    req.last_error = problem.to_dict()
    req.order_url = req.finalize_url = req.order_status = None
    req.challenges = []
    req.polls = 0
    req.retry_not_before = now + timedelta(seconds=delay)
    logger.info(
        "request.order_retry_scheduled",
        extra={"request_id": str(req.id), "orders_placed": req.orders_placed, "delay": delay},
    )
    return delay


def fail_request(req: CertificateRequest, problem: Problem, now: datetime) -> None:
    """Final: record why, and keep no copy of a private key that will never be used."""
    req.status = RequestStatus.FAILED
    req.error = problem.to_dict()
    req.private_key_sealed = None
    req.finished_at = now
    logger.info("request.failed", extra={"request_id": str(req.id), "problem": problem.type_uri()})
