"""The issuer's wiring list: arq takes every option it is given, and reconnects back off."""

from __future__ import annotations

import inspect

from arq.worker import Worker

from services.issuer.wiring import JOBS, arq_functions, worker_options
from shared.config import Settings
from shared.queue import RECONNECT_MAX_SECONDS, reconnect_delay


def test_every_worker_option_is_a_worker_parameter() -> None:
    """arq's get_kwargs drops unknown settings silently; a typo here would too."""
    parameters = set(inspect.signature(Worker).parameters)
    given = set(worker_options(Settings())) | {"redis_pool", "ctx"}
    assert given <= parameters, given - parameters


def test_every_job_is_an_arq_function() -> None:
    assert [f.name for f in arq_functions(Settings())] == list(JOBS)


def test_reconnect_delay_doubles_and_is_capped() -> None:
    delays = [reconnect_delay(n) for n in range(10)]
    assert delays[:4] == [0.25, 0.5, 1.0, 2.0]
    assert all(0 < d <= RECONNECT_MAX_SECONDS for d in delays)
    assert delays[-1] == RECONNECT_MAX_SECONDS
    assert reconnect_delay(10_000) == RECONNECT_MAX_SECONDS
