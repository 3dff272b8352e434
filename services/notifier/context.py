"""What every part of the notifier is handed: settings, database, keyring, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

from shared.config import Settings
from shared.crypto import Keyring
from shared.db import Sessions
from shared.models.base import utcnow


@dataclass
class Notifier:
    settings: Settings
    sessions: Sessions
    keyring: Keyring
    clock: Callable[[], datetime] = field(default=utcnow)
    owner: str = field(default_factory=lambda: f"notifier:{uuid4()}")
    last_sweep: datetime | None = None

    @property
    def lease(self) -> timedelta:
        # Longer than one send may take (the SMTP timeout covers each of its steps).
        longest = max(self.settings.smtp_timeout_seconds * 3,
                      self.settings.webhook_timeout_seconds * 2)
        return timedelta(seconds=max(self.settings.job_lease_seconds, longest))

    @property
    def overdue_margin(self) -> timedelta:
        return timedelta(seconds=self.settings.notifier_overdue_margin_seconds)
