"""The agent process against an API that is down, then up, then refusing it: it retries
with a backoff until the server answers, runs the task it gets and reports the result, and
stops with exit code 3 once its credential is refused."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from certkeeper_agent.state import AgentState

from tests.harness.agent import AGENT
from tests.harness.ports import HOST, free_port
from tests.harness.process import child_env, start, stop, wait_until

TASK_ID = "7d3c2a8e-0000-4000-8000-000000000001"
CREDENTIAL = "cka_" + "x" * 43


class FakeApi(BaseHTTPRequestHandler):
    """Hands out one http01.present task and records results; refuses the credential once
    ``refuse`` holds True."""

    results: list[dict[str, Any]]
    polls: list[str]
    refuse: list[bool]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        assert self.headers["Authorization"] == f"Bearer {CREDENTIAL}"
        self.polls.append(self.path)
        if self.refuse:
            self._json(401, {"type": "urn:certkeeper:problem:agent-unauthenticated"})
            return
        if len(self.polls) > 1:
            time.sleep(0.2)  # a long poll with nothing to hand out
        task = {"id": TASK_ID, "kind": "http01.present",
                "payload": {"token": "tok", "key_authorization": "tok.thumb"}}
        self._json(200, {"items": [task] if len(self.polls) == 1 else [],
                         "next_cursor": None})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.results.append({"path": self.path, **json.loads(body)})
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    AgentState(server=f"http://{HOST}:{port}", agent_id="a", name="web", ca_bundle=None,
               credential=CREDENTIAL).save(tmp_path / "state")
    yield tmp_path / "state", port


def test_the_agent_waits_for_the_server_then_works_then_stops_when_refused(
    state_dir: tuple[Path, int], tmp_path: Path,
) -> None:
    state, port = state_dir
    listen = free_port()
    log = tmp_path / "agent.log"
    proc = start([AGENT, "run", "--state-dir", str(state), "--http-listen", f"{HOST}:{listen}"],
                 log_path=log, env=child_env())
    server: ThreadingHTTPServer | None = None
    try:
        wait_until(lambda: "cannot reach Certkeeper" in log.read_text(), 30, "agent", log,
                   proc=proc)
        handler = type("Handler", (FakeApi,), {"results": [], "polls": [], "refuse": []})
        server = ThreadingHTTPServer((HOST, port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        wait_until(lambda: bool(handler.results), 30, "the task's result", log, proc=proc)
        assert handler.results[0] == {"path": f"/v1/agent/tasks/{TASK_ID}/result", "ok": True}
        served = httpx.get(f"http://{HOST}:{listen}/.well-known/acme-challenge/tok")
        assert served.text == "tok.thumb"
        handler.refuse.append(True)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.returncode == 3, log.read_text()
        assert "refuses this agent's credential" in log.read_text()
    finally:
        if proc.poll() is None:
            stop(proc)
        if server is not None:
            server.shutdown()
            server.server_close()
    assert isinstance(proc, subprocess.Popen)
