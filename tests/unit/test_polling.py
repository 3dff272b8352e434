"""Poll scheduling (services.issuer.poll_pace) and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from services.issuer.poll_pace import PhaseTimer, PollPace, poll_delay
from shared.acme_errors import parse_retry_after

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


# --- poll_delay -----------------------------------------------------------------------


def test_first_poll_waits_ten_milliseconds() -> None:
    assert poll_delay(1, None) == pytest.approx(0.01)


def test_poll_count_zero_waits_like_the_first_poll() -> None:
    assert poll_delay(0, None) == pytest.approx(0.01)


def test_each_poll_waits_half_again_as_long() -> None:
    delays = [poll_delay(polls, None) for polls in range(1, 6)]

    assert delays == pytest.approx([0.01, 0.015, 0.0225, 0.03375, 0.050625])


def test_delay_is_capped_at_ten_seconds() -> None:
    assert poll_delay(18, None) == pytest.approx(0.01 * 1.5**17)
    assert poll_delay(19, None) == 10.0
    assert poll_delay(50, None) == 10.0


@pytest.mark.parametrize("polls", [1024, 1025, 100_000])
def test_delay_stays_capped_however_long_the_order_takes(polls: int) -> None:
    assert poll_delay(polls, None) == 10.0


def test_longer_retry_after_wins() -> None:
    assert poll_delay(1, 30.0) == 30.0
    assert poll_delay(50, 120.0) == 120.0


def test_shorter_retry_after_does_not_shorten_the_backoff() -> None:
    assert poll_delay(16, 0.5) == pytest.approx(0.01 * 1.5**15)
    assert poll_delay(50, 0.0) == 10.0


def test_retry_after_is_capped_at_an_hour() -> None:
    assert poll_delay(1, 86_400.0) == 3600.0


# --- parse_retry_after ----------------------------------------------------------------


def test_delta_seconds_are_read_as_seconds() -> None:
    assert parse_retry_after("120") == 120.0


def test_delta_seconds_may_have_surrounding_whitespace() -> None:
    assert parse_retry_after(" 7 ") == 7.0


def test_http_date_is_the_time_left_until_then() -> None:
    assert parse_retry_after(http_date(NOW + timedelta(seconds=90)), now=NOW) == 90.0


def test_http_date_in_the_past_means_no_wait() -> None:
    assert parse_retry_after(http_date(NOW - timedelta(hours=1)), now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "12.5s", "-5", "Mon, 99 Foo 20x", "²"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# --- PollPace: the first poll of a phase, from how long the phase lately took --------------


def test_a_ca_not_seen_yet_is_polled_after_ten_milliseconds() -> None:
    assert PollPace().first_delay("ca.test", "pending") == pytest.approx(0.01)


def test_the_first_poll_waits_half_the_phase_last_seen() -> None:
    pace = PollPace()
    pace.observe("ca.test", "pending", 0.3)

    assert pace.first_delay("ca.test", "pending") == pytest.approx(0.15)
    assert pace.first_delay("ca.test", "processing") == pytest.approx(0.01)
    assert pace.first_delay("other.test", "pending") == pytest.approx(0.01)


def test_the_typical_length_moves_a_fifth_of_the_way_to_each_new_one() -> None:
    pace = PollPace()
    pace.observe("ca.test", "processing", 1.0)
    pace.observe("ca.test", "processing", 0.0)

    assert pace.first_delay("ca.test", "processing") == pytest.approx(0.5 * 0.8)


def test_the_first_poll_stays_between_ten_milliseconds_and_two_seconds() -> None:
    pace = PollPace()
    pace.observe("fast.test", "pending", 0.001)
    pace.observe("slow.test", "pending", 3600.0)

    assert pace.first_delay("fast.test", "pending") == pytest.approx(0.01)
    assert pace.first_delay("slow.test", "pending") == 2.0


@pytest.mark.parametrize("phase", ["ready", "valid", "invalid"])
def test_phases_with_nothing_to_wait_for_are_not_paced(phase: str) -> None:
    pace = PollPace()
    pace.observe("ca.test", phase, 5.0)

    assert pace.first_delay("ca.test", phase) == pytest.approx(0.01)


def test_later_polls_grow_from_the_paced_first_one() -> None:
    delays = [poll_delay(polls, None, 0.2) for polls in range(1, 4)]

    assert delays == pytest.approx([0.2, 0.3, 0.45])


def test_a_phase_is_timed_to_halfway_between_the_polls_either_side_of_its_end() -> None:
    pace = PollPace()
    timer = PhaseTimer("pending", 10.0)
    timer.saw("pending", 10.2, pace, "ca.test")
    timer.saw("pending", 10.4, pace, "ca.test")
    timer.saw("ready", 10.6, pace, "ca.test")

    assert pace.typical[("ca.test", "pending")] == pytest.approx(0.5)
    assert (timer.status, timer.began) == ("ready", 10.6)


def test_a_phase_over_by_the_first_poll_counts_half_that_poll() -> None:
    pace = PollPace()
    PhaseTimer("processing", 0.0).saw("valid", 0.1, pace, "ca.test")

    assert pace.typical[("ca.test", "processing")] == pytest.approx(0.05)
