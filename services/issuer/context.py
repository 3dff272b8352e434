"""What issuer jobs are handed: the process's parts (built once), and one step's view of
a request (built per job)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from services.issuer.poll_pace import PollPace
from shared.acme_protocol import AcmeConnector, AcmeConversation
from shared.config import Settings
from shared.crypto import Keyring
from shared.db import Sessions
from shared.domain.dns_tools import DnsTools
from shared.models import CertificateRequest
from shared.models.base import utcnow
from shared.queue import JobQueue


@dataclass
class IssuerContext:
    settings: Settings
    sessions: Sessions
    keyring: Keyring
    queue: JobQueue
    acme: AcmeConnector
    dns: DnsTools
    clock: Callable[[], datetime] = field(default=utcnow)
    pace: PollPace = field(default_factory=PollPace)  # the process's, shared by its jobs


def issuer_of(ctx: dict[str, Any]) -> IssuerContext:
    issuer = ctx.get("issuer")
    if not isinstance(issuer, IssuerContext):
        raise RuntimeError("worker context has no issuer")
    return issuer


class Fenced(Exception):
    """The request changed under the job (e.g. it was cancelled): the job's writes are
    refused and the job stops."""


@dataclass
class Fence:
    """A job's hold on a request row: ``version`` is the version the job expects to find in
    the database, and every write the job makes is conditional on it (the ORM's version
    check). A cancel, or any other write, moves the version on and fences the job out."""

    session: AsyncSession
    request: CertificateRequest
    version: int

    async def commit(self) -> None:
        """Write what the job has done so far; :class:`Fenced` if the row moved on."""
        try:
            await self.session.commit()
        except StaleDataError as exc:
            await self.session.rollback()
            raise Fenced("the request changed under the job") from exc
        self.version = self.request.version


@dataclass
class Step:
    """One step's view of a request: the row (behind its fence) and the CA conversation."""

    fence: Fence
    acme: AcmeConversation
    keyring: Keyring
    now: datetime
    settings: Settings
    dns: DnsTools
    clock: Callable[[], datetime] = field(default=utcnow)
    pace: PollPace = field(default_factory=PollPace)

    @property
    def request(self) -> CertificateRequest:
        return self.fence.request

    @property
    def session(self) -> AsyncSession:
        return self.fence.session

    async def commit(self) -> None:
        await self.fence.commit()

    async def hold(self) -> None:
        """Renew the lease and write what the step has so far, right before work that must
        not happen twice (placing an order). A step that waited past its lease (e.g. for a
        key) may have been taken over by another job: then this raises :class:`Fenced`
        and nothing is done twice."""
        lease = timedelta(seconds=self.settings.job_lease_seconds)
        self.request.lease_until = self.clock() + lease
        await self.commit()
