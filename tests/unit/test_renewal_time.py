"""The renewal time over lifetimes from one minute to 398 days, with and without the CA's
window, with overrides; and the backoff after failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.renewal_time import AriWindow, renewal_backoff, renewal_time
from shared.states import RenewalSource

T0 = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)

LIFETIMES = [
    (timedelta(minutes=1), timedelta(seconds=30)),
    (timedelta(minutes=2), timedelta(minutes=1)),
    (timedelta(hours=1), timedelta(minutes=30)),
    (timedelta(hours=24), timedelta(hours=12)),
    (timedelta(days=6), timedelta(days=3)),
    (timedelta(days=10) - timedelta(seconds=1), (timedelta(days=10) - timedelta(seconds=1)) / 2),
    (timedelta(days=10), timedelta(days=10) / 3),
    (timedelta(days=45), timedelta(days=15)),
    (timedelta(days=64), timedelta(days=64) / 3),
    (timedelta(days=90), timedelta(days=30)),
    (timedelta(days=398), timedelta(days=398) / 3),
]


@pytest.mark.parametrize(("lifetime", "remaining"), LIFETIMES)
def test_lifetime_rule_leaves_a_third_or_half_for_short_lives(
    lifetime: timedelta, remaining: timedelta
) -> None:
    at, source = renewal_time(T0, T0 + lifetime, T0)
    assert source is RenewalSource.LIFETIME
    assert at == T0 + lifetime - remaining
    assert T0 < at < T0 + lifetime


@pytest.mark.parametrize(("lifetime", "_remaining"), LIFETIMES)
def test_override_wins_over_a_later_window_and_never_precedes_issuance(
    lifetime: timedelta, _remaining: timedelta
) -> None:
    later = AriWindow(T0 + lifetime * 0.9, T0 + lifetime * 0.95)
    at, source = renewal_time(
        T0, T0 + lifetime, T0, renew_before=lifetime / 2, ari=later, draw=0.5
    )
    assert (at, source) == (T0 + lifetime / 2, RenewalSource.OVERRIDE)
    late, _ = renewal_time(T0, T0 + lifetime, T0, renew_before=timedelta(seconds=20))
    assert late == max(T0 + lifetime - timedelta(seconds=20), T0)
    too_long, _ = renewal_time(T0, T0 + lifetime, T0, renew_before=lifetime * 2)
    assert too_long == T0


@pytest.mark.parametrize(("lifetime", "_remaining"), LIFETIMES)
def test_the_ca_may_bring_an_overridden_renewal_forward(
    lifetime: timedelta, _remaining: timedelta
) -> None:
    earlier = AriWindow(T0 + lifetime / 4, T0 + lifetime / 3)
    at, source = renewal_time(
        T0, T0 + lifetime, T0, renew_before=timedelta(seconds=20), ari=earlier, draw=0.5
    )
    assert source is RenewalSource.ARI
    assert at == earlier.start + (earlier.end - earlier.start) * 0.5


@pytest.mark.parametrize(("lifetime", "_remaining"), LIFETIMES)
@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999])
def test_ari_window_gives_a_moment_inside_it_chosen_by_the_draw(
    lifetime: timedelta, _remaining: timedelta, draw: float
) -> None:
    window = AriWindow(T0 + lifetime / 2, T0 + lifetime * 3 / 4)
    at, source = renewal_time(T0, T0 + lifetime, T0, ari=window, draw=draw)
    assert source is RenewalSource.ARI
    assert window.start <= at < window.end
    assert at == window.start + (window.end - window.start) * draw


def test_ari_window_already_over_means_now() -> None:
    now = T0 + timedelta(days=80)
    window = AriWindow(T0 + timedelta(days=60), T0 + timedelta(days=62))
    assert renewal_time(T0, T0 + timedelta(days=90), now, ari=window, draw=0.3) == (
        now, RenewalSource.ARI,
    )


def test_empty_ari_window_falls_back_to_the_lifetime() -> None:
    window = AriWindow(T0 + timedelta(days=60), T0 + timedelta(days=60))
    _, source = renewal_time(T0, T0 + timedelta(days=90), T0, ari=window, draw=0.3)
    assert source is RenewalSource.LIFETIME


def test_a_window_past_expiry_is_no_advice() -> None:
    window = AriWindow(T0 + timedelta(days=95), T0 + timedelta(days=100))
    at, source = renewal_time(T0, T0 + timedelta(days=90), T0, ari=window, draw=0.3)
    assert (at, source) == (T0 + timedelta(days=60), RenewalSource.LIFETIME)


def test_backoff_is_one_ten_hundred_minutes_then_daily() -> None:
    assert [renewal_backoff(n) for n in range(6)] == [
        timedelta(0), timedelta(minutes=1), timedelta(minutes=10), timedelta(minutes=100),
        timedelta(days=1), timedelta(days=1),
    ]
