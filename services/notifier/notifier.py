"""The notifier's loop: every ``NOTIFIER_POLL_SECONDS`` it turns new outbox events into
deliveries and sends what is due; every ``NOTIFIER_SWEEP_SECONDS`` it also sweeps for
certificates crossing an expiry threshold and renewals that are overdue. Any number of
notifiers may run: deliveries are unique and each is claimed with a lease before it is
sent, so none is sent by two."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from services.notifier.context import Notifier
from services.notifier.deliveries import deliver_due
from services.notifier.fanout import fan_out
from services.notifier.sweep import sweep
from shared.db_errors import is_database_unavailable

logger = logging.getLogger(__name__)


async def notify_once(notifier: Notifier, *, sweep_now: bool = False) -> int:
    """One round: fan out, sweep when due, send what is due. Returns messages sent."""
    now = notifier.clock()
    interval = timedelta(seconds=notifier.settings.notifier_sweep_seconds)
    if sweep_now or notifier.last_sweep is None or now - notifier.last_sweep >= interval:
        await sweep(notifier, now)
        notifier.last_sweep = now
    while await fan_out(notifier):
        pass
    return await deliver_due(notifier)


async def run_notifier(notifier: Notifier, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await notify_once(notifier)
        except Exception as exc:
            _log_failure(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=notifier.settings.notifier_poll_seconds)


def _log_failure(exc: Exception) -> None:
    """An outage is said in one line; anything else keeps its traceback."""
    if is_database_unavailable(exc):
        logger.warning("notifier.unavailable", extra={"error": type(exc).__name__})
    else:
        logger.exception("notifier.failed")
