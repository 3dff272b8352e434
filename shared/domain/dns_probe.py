"""A DNS provider's self-test: write a probe TXT record where a challenge for the domain
would go, wait until every server serves it, remove it, and report each step with its time.

A provider fault is a failed step carrying the provider's own message, never an error of
the API; no database transaction is open while the provider or DNS is called.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.crypto import Keyring
from shared.dns.base import DnsProvider
from shared.dns.propagation import TimedOut, Wait, verdict
from shared.domain import audit
from shared.domain.dns_providers import TARGET, get_provider
from shared.domain.dns_routes import DnsRoute, mapping_for, provider_settings
from shared.domain.dns_tools import DnsTools, RecordTarget
from shared.domain.domain_mappings import normalize_domain
from shared.domain.tokens import Principal
from shared.errors import Problem

# How long the self-test waits for the probe to be served: an HTTP request cannot wait for
# the issuer's full propagation timeout.
PROBE_PROPAGATION_SECONDS = 60.0

StepName = Literal["present", "propagation", "cleanup"]


@dataclass(frozen=True, slots=True)
class ProbeStep:
    step: StepName
    ok: bool
    seconds: float
    detail: str


@dataclass
class ProbeReport:
    steps: list[ProbeStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    async def run(self, name: StepName, work: Awaitable[str]) -> bool:
        """Run one step, timed; a problem (provider or DNS) fails the step with its detail."""
        began = time.monotonic()
        try:
            detail, ok = await work, True
        except Problem as exc:
            detail, ok = f"{exc.title}: {exc.detail}", False
        self.steps.append(ProbeStep(name, ok, round(time.monotonic() - began, 3), detail))
        return ok


async def probe_provider(
    session: AsyncSession, keyring: Keyring, tools: DnsTools, settings: Settings,
    provider_id: UUID, domain: str, actor: Principal,
) -> ProbeReport:
    name = normalize_domain(domain, settings)
    row = await get_provider(session, provider_id)
    route = DnsRoute(row, await mapping_for(session, name, row.id))
    provider_config = provider_settings(keyring, route)
    await session.commit()  # no transaction while the provider and DNS are called
    report = ProbeReport()
    provider = tools.provider(provider_config)
    try:
        target = await tools.target(name, provider_config)
        timeout = min(settings.dns_propagation_timeout_seconds, PROBE_PROPAGATION_SECONDS)
        await _probe(report, _Probe(tools, provider, target, timeout))
    except Problem as exc:
        report.steps.append(ProbeStep("present", False, 0.0, f"{exc.title}: {exc.detail}"))
    finally:
        await provider.aclose()
    audit.record(session, actor, "dns_provider.tested", TARGET, provider_id,
                 domain=name, ok=report.ok)
    await session.commit()
    return report


@dataclass(frozen=True)
class _Probe:
    tools: DnsTools
    provider: DnsProvider
    target: RecordTarget
    timeout: float
    value: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    async def present(self) -> str:
        await self.provider.present(self.target.zone, self.target.fqdn, self.value)
        return f"TXT {self.target.fqdn} written in zone {self.target.zone}"

    async def served(self) -> str:
        """Wait in place (a person is waiting for the answer) until every server serves the
        probe, within the timeout."""
        started = datetime.now(UTC)
        while True:
            observations = await self.tools.observe(self.target)
            found = verdict(observations, self.value, started_at=started, now=datetime.now(UTC),
                            timeout_seconds=self.timeout,
                            interval_seconds=self.provider.timings.polling_interval_seconds)
            if isinstance(found, TimedOut):
                raise found.problem(self.target.fqdn, self.timeout)
            if not isinstance(found, Wait):
                return f"served by {', '.join(found.servers)}"
            await asyncio.sleep(found.seconds)

    async def cleanup(self) -> str:
        await self.provider.cleanup(self.target.zone, self.target.fqdn, self.value)
        return f"TXT {self.target.fqdn} removed"


async def _probe(report: ProbeReport, probe: _Probe) -> None:
    if await report.run("present", probe.present()):
        await report.run("propagation", probe.served())
    await report.run("cleanup", probe.cleanup())
