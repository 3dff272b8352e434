"""An in-memory DNS for the issuer's tests: the providers it builds write into it, and it
answers the issuer's lookups (CNAMEs, zones, which servers still lack a value).

It fakes our own seams (``DnsProvider`` and ``ChallengeLookups``), never a library: the
real providers and propagation checks are proven against BIND in tests/e2e.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.dns.base import DnsProvider, ProviderTimings
from shared.dns.propagation import Observation
from shared.domain.dns_tools import ChallengeLookups, DnsTools

SERVERS = ("ns1.example.test.", "ns2.example.test.")


@dataclass
class FakeDns:
    zones: list[str] = field(default_factory=lambda: ["example.test."])
    cnames: dict[str, str] = field(default_factory=dict)
    records: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # Servers that never receive a record; how many checks see every server lacking it.
    never_served_by: set[str] = field(default_factory=set)
    slow_checks: int = 0
    timings: ProviderTimings = field(default_factory=lambda: ProviderTimings(
        polling_interval_seconds=2.0))
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)  # (op, zone, fqdn, value)
    built: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, deque[Exception]] = field(default_factory=lambda: defaultdict(deque))
    closed: int = 0
    checks: int = 0

    def tools(self) -> DnsTools:
        return DnsTools(lookups=self, build=self.build)

    def build(self, kind: str, config: Mapping[str, Any], credentials: Mapping[str, Any]
              ) -> DnsProvider:
        self.built.append((kind, dict(config), dict(credentials)))
        return FakeProvider(self)

    def fail_next(self, op: str, *errors: Exception) -> None:
        """The next calls of ``op`` ("present" or "cleanup") raise ``errors`` in order."""
        self.failures[op].extend(errors)

    def count(self, op: str) -> int:
        return sum(1 for call in self.calls if call[0] == op)

    def values(self, fqdn: str) -> set[str]:
        return set(self.records.get(fqdn, set()))

    async def challenge_target(self, name: str) -> str:
        while name in self.cnames:
            name = self.cnames[name]
        return name

    async def find_zone(self, fqdn: str) -> str:
        return max((z for z in self.zones if fqdn.endswith("." + z) or fqdn == z), key=len)

    async def observe(self, fqdn: str, zone: str | None = None) -> list[Observation]:
        """Each server serves what was presented, except a lagging or a never-served one."""
        self.checks += 1
        lagging = self.slow_checks > 0
        self.slow_checks = max(self.slow_checks - 1, 0)
        return [
            Observation(server, frozenset() if lagging or server in self.never_served_by
                        else frozenset(self.records.get(fqdn, set())))
            for server in SERVERS
        ]


_lookups: type[ChallengeLookups] = FakeDns


@dataclass
class FakeProvider:
    dns: FakeDns
    timings: ProviderTimings = field(init=False)

    def __post_init__(self) -> None:
        self.timings = self.dns.timings

    def _run(self, op: str, zone: str, fqdn: str, value: str) -> None:
        self.dns.calls.append((op, zone, fqdn, value))
        if self.dns.failures[op]:
            raise self.dns.failures[op].popleft()

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        self._run("present", zone, fqdn, value)
        self.dns.records[fqdn].add(value)

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        self._run("cleanup", zone, fqdn, value)
        self.dns.records[fqdn].discard(value)
        if not self.dns.records[fqdn]:
            del self.dns.records[fqdn]

    async def aclose(self) -> None:
        self.dns.closed += 1


_provider: type[DnsProvider] = FakeProvider
