"""``certkeeper responder`` alone: no Redis, no encryption keys; challenges and /healthz only,
and /metrics on its own port. A responder port equal to the api port is refused."""

from __future__ import annotations

import subprocess

import httpx

from shared.crypto import new_key_spec
from tests.e2e.stack import CERTKEEPER, run_cli
from tests.harness.ports import free_port
from tests.harness.process import child_env, run_process, temp_dir


def test_the_responder_needs_only_the_database() -> None:
    port, metrics_port = free_port(), free_port()
    with temp_dir("ck-responder-") as tmp:
        database = f"sqlite:///{tmp}/ck.db"
        run_cli(child_env({"CERTKEEPER_DATABASE_URL": database,
                           "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec()}), "migrate")
        env = child_env({"CERTKEEPER_DATABASE_URL": database,
                         "CERTKEEPER_RESPONDER_PORT": str(port),
                         "CERTKEEPER_METRICS_PORT": str(metrics_port)})
        base = f"http://127.0.0.1:{port}"
        with run_process([CERTKEEPER, "responder"], env=env, log_path=tmp / "responder.log",
                         ready_url=f"{base}/healthz"):
            unknown = httpx.get(f"{base}/.well-known/acme-challenge/abcDEF123_-")
            assert unknown.status_code == 404
            assert unknown.json()["detail"] == "no such challenge token"
            assert httpx.get(f"{base}/v1/certificates").status_code == 404
            scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert 'route="/.well-known/acme-challenge/{token}"' in scrape


def test_the_responder_port_must_differ_from_the_api_port() -> None:
    with temp_dir("ck-responder-") as tmp:
        env = child_env({"CERTKEEPER_DATABASE_URL": f"sqlite:///{tmp}/ck.db",
                         "CERTKEEPER_HTTP_PORT": "8081", "CERTKEEPER_RESPONDER_PORT": "8081"})
        done = subprocess.run([CERTKEEPER, "responder"], env=env, capture_output=True,
                              text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr == ("certkeeper: CERTKEEPER_RESPONDER_PORT must differ from "
                           "CERTKEEPER_HTTP_PORT\n")
