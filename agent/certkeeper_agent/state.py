"""The agent's state directory: ``agent.json`` (server URL, agent id, CA bundle) and
``credential`` (the agent's bearer token, mode 0600). Both written by temp file + rename."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "agent.json"
CREDENTIAL_FILE = "credential"


def default_state_dir() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("PROGRAMDATA", "C:\\ProgramData")) / "certkeeper-agent"
    return Path("/var/lib/certkeeper-agent")


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` so a reader sees the old content or the new, never part:
    a temp file in the same directory, flushed to disk, given ``mode``, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class AgentState:
    server: str
    agent_id: str
    name: str
    ca_bundle: str | None
    credential: str

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = {"server": self.server, "agent_id": self.agent_id, "name": self.name,
                  "ca_bundle": self.ca_bundle}
        write_atomically(state_dir / CREDENTIAL_FILE, self.credential.encode(), 0o600)
        write_atomically(state_dir / CONFIG_FILE, json.dumps(config, indent=2).encode(), 0o644)

    @classmethod
    def load(cls, state_dir: Path) -> AgentState:
        config = json.loads((state_dir / CONFIG_FILE).read_text())
        credential = (state_dir / CREDENTIAL_FILE).read_text().strip()
        return cls(server=config["server"], agent_id=config["agent_id"], name=config["name"],
                   ca_bundle=config.get("ca_bundle"), credential=credential)
