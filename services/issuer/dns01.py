"""Automatic dns-01 in the issuer: present each challenge's TXT record, wait (by
rescheduling, never by sleeping) until every server serves it, and remove records.

Each record's life is on its challenge row. Where the record goes (``record_name`` after
CNAMEs, ``zone``) and which provider writes it are committed *before* ``present`` is called,
and ``presented_at`` right after, so a worker killed mid-call leaves a row that cleanup
finds. Every such commit renews the lease behind the request's version fence: a request
cancelled meanwhile stops the job before its next record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.issuer.context import Step
from shared import metrics
from shared.config import Settings
from shared.crypto import Keyring
from shared.dns.base import DnsProvider, ProviderTimings
from shared.dns.propagation import Propagated, TimedOut, Wait, verdict
from shared.domain.dns_routes import (
    DnsProviderNotFound,
    DnsRoute,
    ProviderSettings,
    provider_settings,
    route_names,
)
from shared.domain.dns_tools import DnsTools, RecordTarget
from shared.models import Challenge, DnsProviderAccount, DomainMapping
from shared.states import AuthzStatus

logger = logging.getLogger(__name__)


def needs_record(row: Challenge) -> bool:
    """A challenge the CA still has to validate, not answered yet."""
    return (row.authz_status is AuthzStatus.PENDING and row.answered_at is None
            and row.txt_value is not None)


def uncleaned(rows: Sequence[Challenge]) -> list[Challenge]:
    """Rows whose record may exist: written down before presenting, not cleaned since."""
    return [row for row in rows if row.record_name is not None and row.cleaned_at is None]


async def prepare_dns(step: Step) -> float | None:
    """processing: present what is not presented, then check propagation. ``None`` when
    every record is served; else the seconds before looking again."""
    rows = [row for row in step.request.challenges if needs_record(row)]
    if not rows:
        return None
    routes = await route_names(
        step.session, sorted({row.identifier for row in rows}), step.request.dns_provider_id
    )
    await step.hold()
    timings = [await _present(step, row, routes[row.identifier]) for row in rows]
    return await _check_propagation(step, rows, timings)


async def _present(step: Step, row: Challenge, route: DnsRoute) -> ProviderTimings:
    """Present the row's record unless it was; the provider's named timings."""
    settings = provider_settings(step.keyring, route)
    provider = step.dns.provider(settings)
    try:
        if row.presented_at is not None:
            return provider.timings
        target = await step.dns.target(row.identifier, settings)
        row.dns_provider_id = route.provider.id
        row.domain_mapping_id = route.mapping.id if route.mapping else None
        row.record_name, row.zone = target.fqdn, target.zone
        await step.hold()  # known before it exists
        await provider.present(target.zone, target.fqdn, _value(row))
        row.presented_at = step.clock()
        await step.hold()
        logger.info("dns.presented", extra={
            "request_id": str(step.request.id), "record": target.fqdn, "zone": target.zone,
            "provider": settings.name,
        })
        return provider.timings
    finally:
        await provider.aclose()


def propagation_timing(
    settings: Settings, timings: Sequence[ProviderTimings]
) -> tuple[float, float]:
    """(timeout, polling interval) for records written by providers with these timings. A
    timeout the operator set (``DNS_PROPAGATION_TIMEOUT_SECONDS``) wins; otherwise the
    longest named default of the providers involved. The shortest polling interval wins."""
    timeout = settings.dns_propagation_timeout_seconds
    if "dns_propagation_timeout_seconds" not in settings.model_fields_set and timings:
        timeout = max(t.propagation_timeout_seconds for t in timings)
    interval = min((t.polling_interval_seconds for t in timings), default=1.0)
    return timeout, interval


async def _check_propagation(
    step: Step, rows: list[Challenge], timings: Sequence[ProviderTimings]
) -> float | None:
    """Ask every server about every record not yet served everywhere. ``None`` once all
    are; a problem naming the servers still lacking one once the timeout has passed; else
    the seconds before looking again."""
    now = step.clock()
    timeout, interval = propagation_timing(step.settings, timings)
    waits: list[float] = []
    lacking: set[str] = set()
    for row in (row for row in rows if row.propagated_at is None):
        row.propagation_started_at = row.propagation_started_at or now
        found = verdict(await step.dns.observe(_target(row)), _value(row),
                        started_at=row.propagation_started_at, now=now,
                        timeout_seconds=timeout, interval_seconds=interval)
        if isinstance(found, Propagated):
            row.propagated_at = step.clock()
        elif isinstance(found, Wait):
            waits.append(found.seconds)
        else:
            lacking.update(found.lacking)
    if lacking:
        records = ", ".join(sorted({str(row.record_name) for row in rows}))
        raise TimedOut(tuple(sorted(lacking))).problem(records, timeout)
    if waits:
        return min(waits)
    waits_seen = [(r.propagated_at - r.presented_at).total_seconds()
                  for r in rows if r.propagated_at and r.presented_at]
    for wait in waits_seen:
        metrics.DNS_PROPAGATION_WAIT.observe(max(0.0, wait))
    seconds = max(waits_seen, default=0.0)
    logger.info("dns.propagated", extra={"request_id": str(step.request.id), "seconds": seconds})
    return None


def _target(row: Challenge) -> RecordTarget:
    if row.record_name is None or row.zone is None:
        raise DnsProviderNotFound(f"the record for {row.identifier} was never written")
    return RecordTarget(row.record_name, row.zone)


def _value(row: Challenge) -> str:
    if row.txt_value is None:
        raise DnsProviderNotFound(f"no TXT value for {row.identifier}")
    return row.txt_value


async def route_of(session: AsyncSession, row: Challenge) -> DnsRoute:
    """The provider (and mapping) a record was written with, as recorded on its row."""
    provider = (await session.get(DnsProviderAccount, row.dns_provider_id)
                if row.dns_provider_id is not None else None)
    mapping = (await session.get(DomainMapping, row.domain_mapping_id)
               if row.domain_mapping_id is not None else None)
    if provider is None:
        raise DnsProviderNotFound(
            f"DNS provider {row.dns_provider_id} that wrote {row.record_name} is gone"
        )
    return DnsRoute(provider, mapping)


async def settings_of(session: AsyncSession, keyring: Keyring, row: Challenge
                      ) -> ProviderSettings:
    return provider_settings(keyring, await route_of(session, row))


async def remove_record(tools: DnsTools, settings: ProviderSettings, row: Challenge) -> None:
    """Remove one row's value from its record (a no-op if it is not there). Call it with
    no transaction open."""
    provider: DnsProvider = tools.provider(settings)
    try:
        await provider.cleanup(_target(row).zone, _target(row).fqdn, _value(row))
    finally:
        await provider.aclose()
    logger.info("dns.cleaned", extra={
        "request_id": str(row.request_id), "record": row.record_name, "provider": settings.name,
    })


async def clean_before_new_order(step: Step) -> None:
    """An invalid order's challenge rows are replaced by the next order's: remove their
    records first (a provider error retries the step, which finds the order invalid again)."""
    for row in uncleaned(step.request.challenges):
        settings = await settings_of(step.session, step.keyring, row)
        await step.hold()
        await remove_record(step.dns, settings, row)
        row.cleaned_at = step.clock()
