"""The pure propagation verdict and the DNS settings checked at start."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.dns.propagation import (
    MAX_WAIT_SECONDS,
    Observation,
    Propagated,
    TimedOut,
    Wait,
    verdict,
)
from shared.dns_lookup import parse_resolver, split_host_port
from shared.errors import ConfigError

START = datetime(2026, 1, 1, tzinfo=UTC)
NS1 = Observation("ns1.example.test.", frozenset({"v", "other"}))
NS2_EMPTY = Observation("ns2.example.test.")
NS3_DOWN = Observation("ns3.example.test.", error="192.0.2.3:53 timed out")


def judge(observations: list[Observation], elapsed: float, timeout: float = 600.0) -> object:
    return verdict(observations, "v", started_at=START, now=START + timedelta(seconds=elapsed),
                   timeout_seconds=timeout, interval_seconds=2.0)


def test_propagated_when_every_server_serves_the_value() -> None:
    both = [NS1, Observation("ns2.example.test.", frozenset({"v"}))]
    assert judge(both, 0) == Propagated(("ns1.example.test.", "ns2.example.test."))
    assert judge(both, 10_000) == Propagated(("ns1.example.test.", "ns2.example.test."))


def test_waits_naming_the_servers_that_lack_it() -> None:
    assert judge([NS1, NS2_EMPTY, NS3_DOWN], 0) == Wait(
        2.0, ("ns2.example.test. (not served yet)",
              "ns3.example.test. (192.0.2.3:53 timed out)")
    )


@pytest.mark.parametrize(
    ("elapsed", "timeout", "wait"),
    [(0, 600, 2.0), (4, 600, 2.0), (40, 600, 10.0), (500, 600, MAX_WAIT_SECONDS),
     (599, 600, 1.0), (1, 1.5, 0.5)],
)
def test_the_pause_grows_with_time_spent_and_never_passes_the_deadline(
    elapsed: float, timeout: float, wait: float
) -> None:
    result = judge([NS2_EMPTY], elapsed, timeout)
    assert isinstance(result, Wait)
    assert result.seconds == pytest.approx(wait)


def test_times_out_naming_the_servers_still_lacking_it() -> None:
    result = judge([NS1, NS2_EMPTY], 600)
    assert result == TimedOut(("ns2.example.test. (not served yet)",))
    assert isinstance(result, TimedOut)
    problem = result.problem("_acme-challenge.example.test.", 600)
    assert problem.slug == "dns-propagation-timeout"
    assert "ns2.example.test." in problem.detail and "ns1" not in problem.detail


def test_no_server_at_all_is_never_propagated() -> None:
    assert judge([], 0) == Wait(2.0, ("(no server to ask)",))
    assert judge([], 601) == TimedOut(("(no server to ask)",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("192.0.2.1", ("192.0.2.1", 53)), ("192.0.2.1:5353", ("192.0.2.1", 5353)),
     ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353)), ("[2001:db8::1]", ("2001:db8::1", 53)),
     (" 10.0.0.1:65535 ", ("10.0.0.1", 65535))],
)
def test_resolver_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(text) == expected


@pytest.mark.parametrize(
    "text", ["1.2.3.4:abc", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "[::1", "[::1]5353",
             "ns1.example.test", "[ns1.example.test]:53", "", ":53", "1.2.3.4:٥٣"],
)
def test_bad_resolver_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="'"):
        parse_resolver(text)


def test_a_server_may_be_a_host_name() -> None:
    assert split_host_port("ns1.example.test:5353") == ("ns1.example.test", 5353)
    assert split_host_port("ns1.example.test") == ("ns1.example.test", 53)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("CERTKEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CERTKEEPER_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_dns_settings_defaults(environment: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.dns_propagation, settings.dns_authoritative_port,
            settings.dns_propagation_timeout_seconds) == ("authoritative", 53, 600.0)


def test_good_resolvers_start(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("CERTKEEPER_DNS_RESOLVERS", "192.0.2.1, [::1]:5353,2001:db8::2")
    assert load_settings().dns_resolvers == ["192.0.2.1", "[::1]:5353", "2001:db8::2"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("CERTKEEPER_DNS_RESOLVERS", "192.0.2.1,1.2.3.4:abc"),
     ("CERTKEEPER_DNS_RESOLVERS", "[::1]:99999"),
     ("CERTKEEPER_DNS_PROPAGATION", "everywhere"),
     ("CERTKEEPER_DNS_AUTHORITATIVE_PORT", "0"),
     ("CERTKEEPER_DNS_PROPAGATION_TIMEOUT_SECONDS", "0")],
)
def test_bad_dns_settings_stop_the_process_in_one_line(
    environment: pytest.MonkeyPatch, name: str, value: str
) -> None:
    environment.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message and "\n" not in message
