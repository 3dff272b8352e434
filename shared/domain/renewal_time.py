"""When to renew a certificate, and how long to wait after a failed renewal: pure functions
of values and a ``now`` (cert-manager's ``pki.RenewalTime``), unit-tested alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.states import RenewalSource

# Below this lifetime a certificate is renewed at half its life, not at two thirds: a
# 6-day certificate keeps three days for retries, a 2-minute one a minute.
SHORT_LIFETIME = timedelta(days=10)
# Let's Encrypt's integration guide: retry after 1 minute, 10 minutes, 100 minutes, then daily.
RENEWAL_BACKOFF = (timedelta(minutes=1), timedelta(minutes=10), timedelta(minutes=100))
DAILY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class AriWindow:
    """The CA's suggested window (RFC 9773 ``suggestedWindow``)."""

    start: datetime
    end: datetime


def renewal_time(
    not_before: datetime,
    not_after: datetime,
    now: datetime,
    *,
    renew_before: timedelta | None = None,
    ari: AriWindow | None = None,
    draw: float = 0.0,
) -> tuple[datetime, RenewalSource]:
    """The moment to renew and what decided it.

    Inside the CA's window, ``draw`` in [0, 1) picks a uniformly random moment (a window
    already over means now; a window that is empty or lies past ``not_after`` is no advice).
    ``renew_before`` (the lineage's override) wins over the lifetime rule and over the
    window, except that the CA may always bring a renewal forward: a window moment earlier
    than the override's is taken (a CA revoking early announces it this way). Without
    either: when a third of the lifetime remains, half under 10 days. No answer is before
    ``not_before``.
    """
    suggested = _in_window(ari, not_after, now, draw)
    if renew_before is not None:
        override = max(not_after - renew_before, not_before)
        if suggested is not None and suggested < override:
            return suggested, RenewalSource.ARI
        return override, RenewalSource.OVERRIDE
    if suggested is not None:
        return suggested, RenewalSource.ARI
    lifetime = not_after - not_before
    remaining = lifetime / 2 if lifetime < SHORT_LIFETIME else lifetime / 3
    return not_after - remaining, RenewalSource.LIFETIME


def _in_window(
    ari: AriWindow | None, not_after: datetime, now: datetime, draw: float
) -> datetime | None:
    if ari is None or ari.end <= ari.start:
        return None
    if ari.end <= now:
        return now
    moment = ari.start + (ari.end - ari.start) * min(max(draw, 0.0), 1.0)
    return moment if moment < not_after else None


def renewal_backoff(failures: int) -> timedelta:
    """How long to wait after the ``failures``-th failed renewal in a row (1-based)."""
    if failures < 1:
        return timedelta(0)
    if failures <= len(RENEWAL_BACKOFF):
        return RENEWAL_BACKOFF[failures - 1]
    return DAILY
