"""Pure decisions about deployments: what an agent's report means for the deployment, and
when a failed delivery is tried again. Values in, values out; no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import PROBLEM_BASE
from shared.states import DeploymentStatus

MAX_DEPLOY_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 6 * 3600.0

UNCONFIRMED_EVENT = "deployment.unconfirmed"
FAILED_EVENT = "deployment.failed"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DeploymentStatus
    served_serial: str | None
    error: dict[str, Any] | None
    event: str | None  # what the notifier is told, if anything


def deployment_problem(detail: str, *, unconfirmed: bool = False, **extensions: Any
                       ) -> dict[str, Any]:
    """A deployment's ``error``, a problem document like every error the API shows."""
    slug, title = (("deployment-unconfirmed", "The deployed certificate is not the one served")
                   if unconfirmed else ("deployment-failed", "The deployment failed"))
    return {"type": PROBLEM_BASE + slug, "title": title, "status": 502, "detail": detail,
            **extensions}


def normalize_serial(serial: str) -> str:
    """Serials compare as lower-case hex without leading zeros or colons."""
    return serial.replace(":", "").lower().lstrip("0") or "0"


def deploy_verdict(ok: bool, result: dict[str, Any], expected_serial: str) -> Verdict:
    """The agent wrote the files, ran the reload and probed the endpoints: ``confirmed``
    when every endpoint serves ``expected_serial``, ``unconfirmed`` when one serves
    another (or none could be probed), ``deployed`` when there is nothing to probe,
    ``failed`` when writing or reloading failed."""
    if not ok:
        detail = str(result.get("detail") or "the agent reported a failure")
        return Verdict(DeploymentStatus.FAILED, None,
                       deployment_problem(detail, reload=result.get("reload")), FAILED_EVENT)
    served = [s for s in result.get("served", []) if isinstance(s, dict)]
    if not served:
        return Verdict(DeploymentStatus.DEPLOYED, None, None, None)
    wanted = normalize_serial(expected_serial)
    serials = [normalize_serial(str(s["serial"])) if s.get("serial") else None for s in served]
    if all(serial == wanted for serial in serials):
        return Verdict(DeploymentStatus.CONFIRMED, wanted, None, None)
    wrong = [s for s, serial in zip(served, serials, strict=True) if serial != wanted]
    shown = next((serial for serial in serials if serial and serial != wanted), None)
    return Verdict(
        DeploymentStatus.UNCONFIRMED, shown,
        deployment_problem("an endpoint does not serve the deployed certificate",
                           unconfirmed=True, endpoints=wrong),
        UNCONFIRMED_EVENT,
    )


def retry_delay(attempts: int) -> float | None:
    """Seconds before delivery ``attempts + 1`` after a failure; None once given up."""
    if attempts >= MAX_DEPLOY_ATTEMPTS:
        return None
    return float(min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def covers(domains: list[str], names: list[str]) -> bool:
    """True when every name is one of ``domains`` or under one (a wildcard by its base)."""
    if not domains:
        return False
    for name in names:
        base = name.removeprefix("*.")
        if not any(base == d or base.endswith("." + d) for d in domains):
            return False
    return True
