"""all-in-one keeps its data private: a 0700 data dir, 0600 files, and no secret or SQL
parameter in a DEBUG log."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from shared.crypto import KEY_FILE_NAME
from shared.domain.tokens import hash_token
from tests.e2e.conftest import with_account
from tests.e2e.stack import CERTKEEPER, embedded_stack

DEBUG = {"CERTKEEPER_LOG_LEVEL": "DEBUG"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_debug_run_keeps_files_private_and_logs_no_secret_or_parameter() -> None:
    with embedded_stack(settings=DEBUG) as stack:
        with_account(stack)
        response = stack.client().post("/v1/certificate-requests",
                                       json={"common_name": "private.example.test"})
        assert response.status_code == 202, response.text
        assert stack.wait_final(response.json()["id"])["status"] == "issued"
        data = Path(stack.env["CERTKEEPER_DATA_DIR"])
        modes = {p.name: _mode(p) for p in data.iterdir()}
        assert _mode(data) == 0o700
        db = "certkeeper.db"
        assert {db, f"{db}-wal", f"{db}-shm", KEY_FILE_NAME} <= set(modes), modes
        assert modes == dict.fromkeys(modes, 0o600), modes
        key_id = (data / KEY_FILE_NAME).read_text().split(":")[0]
        log = (stack.log_dir / "all-in-one.log").read_text()
        sql_log = _token_create_log(stack.env)
    assert '"level": "DEBUG"' in log, "the run did not log at DEBUG"
    for secret in (hash_token(stack.admin_token), stack.admin_token, key_id):
        assert secret not in log
    for sql in ("SELECT ", "INSERT INTO", "[generated in", "[cached since"):
        assert sql not in log, sql
    assert "INSERT INTO api_tokens" in sql_log
    assert "[SQL parameters hidden due to hide_parameters=True]" in sql_log


def _token_create_log(env: dict[str, str]) -> str:
    """``certkeeper token create`` with CERTKEEPER_LOG_SQL: statements, never parameters."""
    done = subprocess.run(
        [CERTKEEPER, "token", "create", "--role", "viewer", "--name", "sql-log"],
        env={**env, **DEBUG, "CERTKEEPER_LOG_SQL": "true"},
        capture_output=True, text=True, timeout=60, check=True,
    )
    token = done.stdout.strip()
    assert hash_token(token) not in done.stderr and token not in done.stderr
    return done.stderr
