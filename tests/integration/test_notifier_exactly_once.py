"""Exactly once under concurrency and crashes, on Postgres (row locks, READ COMMITTED) and
SQLite: notifiers racing over the same outbox send every message once; a notifier killed
mid-send leaves only the message it was sending to be sent again, never the batch."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.notifier.context import Notifier
from services.notifier.deliveries import claim_next, deliver_due
from services.notifier.fanout import fan_out
from services.notifier.notifier import notify_once
from shared.config import Settings
from shared.crypto import new_key_spec
from shared.domain.notifications_rules import RuleSpec, create_rule
from shared.domain.outbox import emit
from shared.migrate import upgrade_async
from shared.models import NotificationDelivery
from shared.models.notifications import Channel, EventType
from shared.runtime import Runtime, build_runtime
from shared.states import DeliveryStatus
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.smtp import SmtpServer, smtp_server
from tests.integration.notifier_harness import ADMIN

RECIPIENTS = [f"r{i}@example.org" for i in range(30)]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(params=["postgres", "sqlite"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpServer
                  ) -> AsyncIterator[Runtime]:
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = Settings(database_url=server.dsn).sqlalchemy_url
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'certkeeper.db'}"
    await upgrade_async(url)
    built = build_runtime(Settings(database_url=url, data_dir=tmp_path,
                                   encryption_keys=new_key_spec(), **smtp.settings()))
    async with built.engine.begin() as conn:  # a fresh outbox per test on the shared server
        for table in ("notification_deliveries", "notification_events", "notification_rules"):
            await conn.exec_driver_sql(f"DELETE FROM {table}")
    yield built
    await built.aclose()


async def _one_event_for_everyone(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        await create_rule(session, runtime.keyring, runtime.settings,
                          RuleSpec(name="all", channel=Channel.EMAIL,
                                   recipients=tuple(RECIPIENTS)), ADMIN)
    async with runtime.sessions.begin() as session:
        emit(session, EventType.CERTIFICATE_REVOKED, names=["www.example.org"],
             common_name="www.example.org", serial="0a", reason="superseded")


def notifier(runtime: Runtime) -> Notifier:
    return Notifier(runtime.settings, runtime.sessions, runtime.keyring)


async def test_racing_notifiers_send_every_message_once(runtime: Runtime, smtp: SmtpServer
                                                        ) -> None:
    await _one_event_for_everyone(runtime)
    racers = [notifier(runtime) for _ in range(4)]
    sent = await asyncio.gather(*(notify_once(n) for n in racers))
    sent += await asyncio.gather(*(notify_once(n) for n in racers))
    assert sum(sent) == len(RECIPIENTS)
    got = Counter(r.recipients[0] for r in smtp.received)
    assert got == Counter(RECIPIENTS)
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(NotificationDelivery))).all()
    assert len(rows) == len(RECIPIENTS)
    assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.SENT, 1)}


async def test_a_killed_notifier_leaves_one_message_to_send_again(
        runtime: Runtime, smtp: SmtpServer) -> None:
    await _one_event_for_everyone(runtime)
    killed = notifier(runtime)
    await fan_out(killed)
    claimed = await claim_next(killed, killed.clock())  # it was sending this one, then died
    assert claimed is not None
    survivor = notifier(runtime)
    assert await deliver_due(survivor) == len(RECIPIENTS) - 1  # the rest, not the claimed
    survivor.clock = lambda: killed.clock() + killed.lease + timedelta(seconds=1)
    assert await deliver_due(survivor) == 1  # once the lease ran out
    assert Counter(r.recipients[0] for r in smtp.received) == Counter(RECIPIENTS)



async def test_a_malformed_snapshot_is_still_told_and_blocks_nothing(
        runtime: Runtime, smtp: SmtpServer) -> None:
    """An event whose snapshot lacks what templates expect (``names`` not a list) is sent
    with what there is; it does not stop the outbox for the events after it."""
    async with runtime.sessions.begin() as session:
        emit(session, EventType.CERTIFICATE_ISSUED, names=5)
    await _one_event_for_everyone(runtime)
    assert await notify_once(notifier(runtime)) == 2 * len(RECIPIENTS)
    assert "Certificate for (no name) issued" in {m.subject for m in smtp.received}
