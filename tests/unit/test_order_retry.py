"""The delays of the issuer's retries, and the setting that schedules fresh orders."""

from __future__ import annotations

import pytest

from services.issuer.outcomes import MAX_BACKOFF_SECONDS, attempt_delay, order_retry_delay
from shared.config import Settings


@pytest.mark.parametrize(
    ("orders_placed", "expected"),
    [(0, 60.0), (1, 60.0), (2, 600.0), (3, 6000.0), (4, None), (40, None)],
)
def test_order_retry_delay_walks_the_schedule_then_stops(
    orders_placed: int, expected: float | None
) -> None:
    assert order_retry_delay([60, 600, 6000], orders_placed) == expected


def test_no_schedule_means_no_second_order() -> None:
    assert order_retry_delay([], 1) is None


def test_attempt_delay_doubles_caps_and_yields_to_retry_after() -> None:
    assert [attempt_delay(n, None) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert attempt_delay(1000, None) == MAX_BACKOFF_SECONDS
    assert attempt_delay(1, 30) == 30.0
    assert attempt_delay(5, 3) == 32.0


def test_order_retry_seconds_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTKEEPER_ORDER_RETRY_SECONDS", raising=False)
    assert Settings().order_retry_seconds == [60.0, 600.0, 6000.0]
    monkeypatch.setenv("CERTKEEPER_ORDER_RETRY_SECONDS", "1, 2.5")
    assert Settings().order_retry_seconds == [1.0, 2.5]
    monkeypatch.setenv("CERTKEEPER_ORDER_RETRY_SECONDS", "5,0")
    with pytest.raises(ValueError, match="more than 0"):
        Settings()
