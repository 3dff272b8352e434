"""The parts every process opens once: database, keyring, ACME clients, queue."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.acme_clients import AcmeClients
from shared.config import Settings
from shared.crypto import Keyring, load_keyring
from shared.db import Sessions, create_engine, create_sessions
from shared.domain.dns_tools import DnsTools, dns_tools


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: Sessions
    keyring: Keyring
    acme: AcmeClients
    dns: DnsTools

    async def aclose(self) -> None:
        self.acme.close()
        await self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Open the process's shared parts. Raises ConfigError for a missing keyring."""
    keyring = load_keyring(
        settings.encryption_keys.get_secret_value() if settings.encryption_keys else None,
        data_dir=settings.data_dir,
        embedded=settings.embedded_database,
    )
    engine = create_engine(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=create_sessions(engine),
        keyring=keyring,
        acme=AcmeClients(
            ca_bundle=str(settings.acme_ca_bundle) if settings.acme_ca_bundle else None,
            request_timeout=settings.acme_timeout_seconds,
            allowed_networks=settings.acme_allowed_networks,
        ),
        dns=dns_tools(settings),
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: a worker process stops gracefully when it is."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
