"""What every issuer job needs, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from shared.acme_gateway import AcmeClients
from shared.config import Settings
from shared.crypto import Keyring
from shared.db import Sessions
from shared.models.base import utcnow
from shared.queue import JobQueue


@dataclass
class IssuerContext:
    settings: Settings
    sessions: Sessions
    keyring: Keyring
    queue: JobQueue
    acme: AcmeClients
    clock: Callable[[], datetime] = field(default=utcnow)


class WorkerCtx(TypedDict, total=False):
    """arq's ctx dict: arq's own keys plus ours."""

    issuer: IssuerContext
    job_id: str
    job_try: int


def issuer_of(ctx: dict[str, Any]) -> IssuerContext:
    issuer = ctx.get("issuer")
    if not isinstance(issuer, IssuerContext):
        raise RuntimeError("worker context has no issuer")
    return issuer
