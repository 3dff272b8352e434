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

    ``renew_before`` (the lineage's override) wins; then the CA's window, where ``draw`` in
    [0, 1) picks a uniformly random moment inside it (a window already over means now);
    otherwise the lifetime rule: when a third of the lifetime remains, half under 10 days.
    No answer is before ``not_before``.
    """
    if renew_before is not None:
        return max(not_after - renew_before, not_before), RenewalSource.OVERRIDE
    if ari is not None and ari.end > ari.start:
        if ari.end <= now:
            return now, RenewalSource.ARI
        return ari.start + (ari.end - ari.start) * min(max(draw, 0.0), 1.0), RenewalSource.ARI
    lifetime = not_after - not_before
    remaining = lifetime / 2 if lifetime < SHORT_LIFETIME else lifetime / 3
    return not_after - remaining, RenewalSource.LIFETIME


def renewal_backoff(failures: int) -> timedelta:
    """How long to wait after the ``failures``-th failed renewal in a row (1-based)."""
    if failures < 1:
        return timedelta(0)
    if failures <= len(RENEWAL_BACKOFF):
        return RENEWAL_BACKOFF[failures - 1]
    return DAILY
