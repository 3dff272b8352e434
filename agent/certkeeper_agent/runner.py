"""The agent's main loop: long-poll the API for tasks, run each, report its result. Rides
out server restarts and network trouble with a capped backoff; stops on a refused
credential (the agent was revoked)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from pathlib import Path

from certkeeper_agent.client import ApiClient, ApiError
from certkeeper_agent.files import recover
from certkeeper_agent.http01 import Responder
from certkeeper_agent.state import AgentState
from certkeeper_agent.tasks import TaskRunner

logger = logging.getLogger("certkeeper_agent")

POLL_WAIT_SECONDS = 25
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class CredentialRefused(Exception):
    """The server refuses the agent's credential: revoked, or enrolled elsewhere."""


def backoff(failures: int) -> float:
    delay = min(FIRST_BACKOFF_SECONDS * 2 ** min(failures - 1, 16), MAX_BACKOFF_SECONDS)
    return float(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not a secret


async def run_agent(state: AgentState, state_dir: Path, responder: Responder,
                    stop: asyncio.Event) -> None:
    if recover(state_dir):
        logger.warning("finished the renames of a deploy an earlier run was stopped in")
    client = ApiClient(state.server, state.credential, state.ca_bundle)
    runner = TaskRunner(responder, state_dir)
    failures = 0
    try:
        while not stop.is_set():
            try:
                await _poll_once(client, runner)
                failures = 0
            except ApiError as exc:
                if exc.refused_credential:
                    raise CredentialRefused(str(exc)) from exc
                failures += 1
                delay = backoff(failures)
                logger.warning("cannot reach Certkeeper (%s); again in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            await responder.expire()
    finally:
        await client.aclose()


async def _poll_once(client: ApiClient, runner: TaskRunner) -> None:
    response = await client.request("GET", "/v1/agent/tasks",
                                    params={"wait": POLL_WAIT_SECONDS})
    for task in response.json()["items"]:
        logger.info("task %s: %s", task["id"], task["kind"])
        report = await runner.run(task["kind"], task["payload"])
        await client.request("POST", f"/v1/agent/tasks/{task['id']}/result", json=report)
