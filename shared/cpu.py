"""CPU-bound work (private key generation) in a small process pool, off the event loop.

An RSA-4096 key takes a core for a third of a second or more. Run in the event loop's thread
pool (one thread per job), a burst of them took every core from the loop: ``/healthz`` and the
HTTP-01 responder answered in seconds. Here the work runs in at most one process per core but
one, so a core stays free for the event loop whatever the GIL does, at a lower scheduling
priority, so the loop wins when cores are shared. Processes come from a ``forkserver``: a
process that already runs threads is never forked.

The pool belongs to the process: :func:`cpu_pool` opens it when a long-running command starts
and closes it when the command ends. Without an open pool (one-shot commands, tests) the work
runs in a thread, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from shared.choices import KeyType
from shared.crypto import generate_private_key

logger = logging.getLogger(__name__)

R = TypeVar("R")
_NICENESS = 10


def default_workers() -> int:
    """One process per usable core but one (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _worker_init() -> None:
    """In each pool process: leave Ctrl-C to the parent and yield the CPU to the event loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)


class _Pool:
    """The process's executor, rebuilt once if a worker process dies (a broken pool)."""

    def __init__(self) -> None:
        self.workers = 0
        self.executor: ProcessPoolExecutor | None = None

    def open(self, workers: int) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["shared.crypto"])
        self.workers = workers
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init)
        for _ in range(workers):  # start the processes now, not when the first key is due
            self.executor.submit(os.getpid)
        return self.executor

    def renew(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A working executor in place of ``broken`` (a worker process died)."""
        if self.executor is None:
            raise BrokenProcessPool("the CPU pool is closed")
        if self.executor is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            return self.open(self.workers)
        return self.executor

    def close(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_POOL = _Pool()


@contextlib.contextmanager
def cpu_pool(workers: int | None = None) -> Iterator[None]:
    """Open the process's CPU pool for the duration of the block."""
    if _POOL.executor is not None:
        raise RuntimeError("the CPU pool is already open")
    _POOL.open(workers or default_workers())
    try:
        yield
    finally:
        _POOL.close()


async def run_cpu(fn: Callable[..., R], *args: object) -> R:
    """``fn(*args)`` in the CPU pool (``fn`` and the arguments must pickle)."""
    executor = _POOL.executor
    if executor is None:
        return await asyncio.to_thread(fn, *args)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(executor, fn, *args)
    except BrokenProcessPool:
        logger.warning("cpu.pool_broken", extra={"workers": _POOL.workers})
        renewed = _POOL.renew(executor)
    return await loop.run_in_executor(renewed, fn, *args)  # once: a second break is raised


async def generate_key(key_type: KeyType, key_size: int | None, curve: str | None) -> bytes:
    """A new private key as PKCS#8 PEM, generated off the event loop.

    RSA keys (up to seconds of CPU each) go to the CPU pool. An EC key takes well under a
    millisecond, so it is made in a thread and never queues behind RSA keys: in all-in-one,
    an ACME account key queued behind a burst of RSA-4096 request keys for up to a minute.
    """
    if key_type is KeyType.EC:
        return await asyncio.to_thread(generate_private_key, key_type, key_size, curve)
    return await run_cpu(generate_private_key, key_type, key_size, curve)
