"""What the agent does with each task kind. Every handler returns the report sent back to
``POST /v1/agent/tasks/{id}/result`` and is safe to run twice (a task is handed out again
when its report was lost)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from certkeeper_agent.files import FileSpec, install
from certkeeper_agent.http01 import Responder
from certkeeper_agent.probe import confirm, same_serial
from certkeeper_agent.reload import run_reload

logger = logging.getLogger("certkeeper_agent")

PUBLIC_MODE = 0o644
KEY_MODE = 0o600
MAX_DETAIL_CHARS = 1000  # the API takes at most 4096
Report = dict[str, Any]


class TaskRunner:
    def __init__(self, responder: Responder, state_dir: Path) -> None:
        self.responder = responder
        self.state_dir = state_dir

    async def run(self, kind: str, payload: dict[str, Any]) -> Report:
        try:
            if kind == "http01.present":
                await self.responder.present(str(payload["token"]),
                                             str(payload["key_authorization"]),
                                             float(payload.get("expires_in_seconds", 3600)))
                return {"ok": True}
            if kind == "http01.cleanup":
                await self.responder.remove(str(payload["token"]))
                return {"ok": True}
            if kind == "deploy":
                return await self.deploy(payload)
        except (KeyError, ValueError, OSError) as exc:
            return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]}
        return {"ok": False, "detail": f"this agent does not know tasks of kind {kind!r}"}

    async def deploy(self, payload: dict[str, Any]) -> Report:
        files = self._files(payload)
        install(files, self.state_dir, payload.get("file_owner"))
        written = [str(f.path) for f in files]
        logger.info("deployed certificate %s to %s", payload["serial"], ", ".join(written))
        report: Report = {"ok": True, "files": written}
        command = payload.get("reload_command")
        if command:
            outcome = await run_reload(list(command),
                                       float(payload.get("reload_timeout_seconds", 60)))
            report["reload"] = outcome.report()
            if not outcome.ok:
                report.update(ok=False, detail="the reload command failed"
                              + (" (timed out)" if outcome.timed_out else
                                 f" (exit code {outcome.exit_code})"))
                return report
        endpoints = list(payload.get("confirm_endpoints") or [])
        if endpoints:
            served = await confirm(endpoints, str(payload["sni"]), str(payload["serial"]),
                                   float(payload.get("confirm_grace_seconds", 30)))
            report["served"] = [s.report() for s in served]
            if not all(same_serial(s.serial, str(payload["serial"])) for s in served):
                logger.warning("an endpoint does not serve certificate %s", payload["serial"])
        return report

    def _files(self, payload: dict[str, Any]) -> list[FileSpec]:
        wanted = [("fullchain_path", "fullchain_pem", PUBLIC_MODE),
                  ("cert_path", "cert_pem", PUBLIC_MODE),
                  ("chain_path", "chain_pem", PUBLIC_MODE),
                  ("key_path", "key_pem", KEY_MODE)]
        return [FileSpec(Path(payload[path]), str(payload[pem]).encode(), mode)
                for path, pem, mode in wanted if payload.get(path)]
