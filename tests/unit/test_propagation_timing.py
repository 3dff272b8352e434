"""How long the issuer waits for a record, and how often it looks: a pure decision."""

from __future__ import annotations

from services.issuer.dns01 import propagation_timing
from shared.config import Settings
from shared.dns.base import ProviderTimings

SLOW = ProviderTimings(propagation_timeout_seconds=900.0, polling_interval_seconds=4.0)
FAST = ProviderTimings(propagation_timeout_seconds=120.0, polling_interval_seconds=1.0)


def test_without_a_setting_the_slowest_provider_default_applies() -> None:
    assert propagation_timing(Settings(), [FAST, SLOW]) == (900.0, 1.0)


def test_a_timeout_the_operator_set_wins_over_provider_defaults() -> None:
    settings = Settings(dns_propagation_timeout_seconds=30)
    assert propagation_timing(settings, [FAST, SLOW]) == (30.0, 1.0)


def test_no_provider_means_the_setting() -> None:
    assert propagation_timing(Settings(), []) == (600.0, 1.0)
