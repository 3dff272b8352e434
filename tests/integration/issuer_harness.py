"""The issuer without a server: ``advance()`` on a real SQLite database migrated with
alembic, a scripted ACME fake, an in-memory DNS, a clock the test moves, and a queue that
only records."""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select

from services.issuer.cleanup import clean_up
from services.issuer.context import IssuerContext
from services.issuer.jobs import advance
from shared.choices import ChallengeType, KeyType, ValidationMode
from shared.config import Settings
from shared.crypto import generate_private_key, new_key_spec
from shared.db import create_engine, create_sessions
from shared.domain.dns_routes import seal_credentials
from shared.domain.requests import RequestSpec, cancel_request, create_request
from shared.domain.tokens import Principal
from shared.migrate import upgrade_async
from shared.models import (
    AcmeAccount,
    Certificate,
    CertificateRequest,
    DnsProviderAccount,
    DomainMapping,
)
from shared.roles import Role
from shared.runtime import Runtime, build_runtime
from shared.states import AccountStatus, RequestStatus
from tests.fakes.acme import ScriptedAcme
from tests.fakes.dns import FakeDns

TESTER = Principal(token_id=None, name="test", role=Role.ADMIN)


@dataclass
class RecordingQueue:
    """Takes every job and runs none: the test calls ``advance`` itself."""

    jobs: list[tuple[str, str, float]] = field(default_factory=list)

    async def enqueue(self, function: str, arg: str, *, job_id: str, defer_by: float = 0.0) -> bool:
        self.jobs.append((job_id, arg, defer_by))
        return True

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Issuer:
    runtime: Runtime
    ctx: IssuerContext
    fake: ScriptedAcme
    clock: Clock
    url: str
    account_id: UUID
    dns: FakeDns

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def request(self, *names: str, **spec: Any) -> UUID:
        """Create a request as the API does (the domain layer, not a raw insert)."""
        spec.setdefault("key_type", KeyType.EC)
        async with self.ctx.sessions() as session:
            created = await create_request(
                session, self.ctx.queue, self.settings,
                RequestSpec(common_name=names[0], subject_alternative_names=list(names[1:]),
                            **spec),
                TESTER,
            )
        return created.id

    async def row(self, request_id: UUID) -> CertificateRequest:
        async with self.ctx.sessions() as session:
            row = await session.get(CertificateRequest, request_id)
            assert row is not None
            return row

    async def step(self, request_id: UUID) -> CertificateRequest:
        """One job, then the row as it was left."""
        await advance(self.ctx, request_id)
        return await self.row(request_id)

    async def run(self, request_id: UUID, max_jobs: int = 60) -> CertificateRequest:
        """Jobs until the request waits for a person or ends, moving the clock to each
        next run as the queue would."""
        for _ in range(max_jobs):
            row = await self.step(request_id)
            if row.status.is_final or row.status is RequestStatus.AWAITING_MANUAL_VALIDATION:
                return row
            wake = max(t for t in (row.next_run_at, row.retry_not_before, self.clock.now) if t)
            self.clock.now = wake + timedelta(milliseconds=1)
        raise AssertionError(f"request still {row.status} after {max_jobs} jobs")

    async def clean(self, request_id: UUID) -> None:
        """One cleanup job."""
        await clean_up(self.ctx, request_id)

    def jobs(self, function_prefix: str) -> list[tuple[str, str, float]]:
        queue = self.ctx.queue
        assert isinstance(queue, RecordingQueue)
        return [job for job in queue.jobs if job[0].startswith(function_prefix)]

    async def add_provider(self, name: str = "dns", *, enabled: bool = True,
                           config: dict[str, Any] | None = None) -> UUID:
        """A provider row as the API stores it (the fake DNS builds whatever kind it names)."""
        async with self.ctx.sessions.begin() as session:
            row = DnsProviderAccount(id=uuid4(), name=name, kind="fake", enabled=enabled,
                                     config=config or {}, credentials_sealed=b"",
                                     credentials_set=[])
            seal_credentials(self.ctx.keyring, row, {"token": f"secret-of-{name}"})
            session.add(row)
        return row.id

    async def add_mapping(self, domain: str, provider_id: UUID, *, zone: str | None = None,
                          tsig_secret: str | None = None) -> UUID:
        async with self.ctx.sessions.begin() as session:
            row = DomainMapping(id=uuid4(), domain=domain, dns_provider_id=provider_id,
                                zone=zone)
            if tsig_secret is not None:
                row.tsig_secret_sealed = self.ctx.keyring.seal(tsig_secret.encode(),
                                                               row.seal_context)
            session.add(row)
        return row.id

    async def set_enabled(self, provider_id: UUID, enabled: bool) -> None:
        async with self.ctx.sessions.begin() as session:
            row = await session.get(DnsProviderAccount, provider_id)
            assert row is not None
            row.enabled = enabled

    async def certificates(self) -> int:
        async with self.ctx.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Certificate)) or 0)

    async def execute(self, sql: str) -> None:
        async with self.runtime.engine.begin() as conn:
            await conn.exec_driver_sql(sql)

    def cancel_from_elsewhere(self, request_id: UUID) -> None:
        """Cancel as a second api process would: its own engine, its own event loop, in
        another thread. Blocks until the cancel is committed; callable from sync code."""
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _cancel(self.settings, request_id)).result()


async def _cancel(settings: Settings, request_id: UUID) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessions(engine)() as session:
            await cancel_request(session, RecordingQueue(), request_id, TESTER)
    finally:
        await engine.dispose()


async def start_issuer(tmp_path: Path, **settings: Any) -> Issuer:
    url = f"sqlite+aiosqlite:///{tmp_path / 'certkeeper.db'}"
    await upgrade_async(url)
    runtime = build_runtime(Settings(
        database_url=url, data_dir=tmp_path, encryption_keys=new_key_spec(),
        allowed_private_suffixes=["test"], **settings,
    ))
    fake, clock, dns = ScriptedAcme(), Clock(), FakeDns()
    ctx = IssuerContext(runtime.settings, runtime.sessions, runtime.keyring, RecordingQueue(),
                        fake, dns.tools(), clock=clock)
    account_id = await _add_account(ctx)
    return Issuer(runtime, ctx, fake, clock, url, account_id, dns)


async def _add_account(ctx: IssuerContext) -> UUID:
    key_pem = generate_private_key(KeyType.EC, None, "p-256")
    account_id = uuid4()
    async with ctx.sessions.begin() as session:
        session.add(AcmeAccount(
            id=account_id, directory_url="https://ca.test/dir", contact_email=None,
            terms_of_service_agreed=True, status=AccountStatus.VALID,
            account_url="https://ca.test/account/1",
            key_sealed=ctx.keyring.seal(key_pem, AcmeAccount.sealing_context(account_id)),
        ))
    return account_id


MANUAL = {"validation": ValidationMode.MANUAL}
MANUAL_DNS = {"validation": ValidationMode.MANUAL, "challenge_type": ChallengeType.DNS_01}
