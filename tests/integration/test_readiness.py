"""/readyz reports the queue and database; it turns 503 when Redis goes away."""

from __future__ import annotations

import contextlib
import subprocess

import httpx

from shared.crypto import new_key_spec
from tests.e2e.stack import CERTKEEPER, run_cli
from tests.harness.ports import free_port
from tests.harness.process import child_env, run_process, temp_dir
from tests.harness.redis import redis_server


def test_readyz_follows_redis() -> None:
    port = free_port()
    with temp_dir("ck-ready-") as tmp, contextlib.ExitStack() as redis_scope:
        redis = redis_scope.enter_context(redis_server())
        env = child_env({
            "CERTKEEPER_DATABASE_URL": f"sqlite:///{tmp}/ck.db",
            "CERTKEEPER_REDIS_URL": redis.url,
            "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(),
            "CERTKEEPER_HTTP_PORT": str(port),
        })
        run_cli(env, "migrate")
        url = f"http://127.0.0.1:{port}/readyz"
        with run_process([CERTKEEPER, "api"], env=env, log_path=tmp / "api.log", ready_url=url):
            assert httpx.get(url).json() == {"status": "ok", "database": "ok", "queue": "ok"}
            redis_scope.close()
            down = httpx.get(url, timeout=10)
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            body = down.json()
            assert body["type"] == "urn:certkeeper:problem:not-ready"
            assert body["checks"]["database"] == "ok" and body["checks"]["queue"] != "ok"
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


def test_api_without_redis_refuses_to_start_with_one_line() -> None:
    with temp_dir("ck-noredis-") as tmp:
        env = child_env({"CERTKEEPER_DATABASE_URL": f"sqlite:///{tmp}/ck.db",
                         "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec()})
        done = subprocess.run(
            [CERTKEEPER, "api"], env=env, capture_output=True, text=True, timeout=30, check=False
        )
    assert done.returncode == 2
    assert done.stderr.startswith("certkeeper: CERTKEEPER_REDIS_URL is required for `api`")
    assert done.stderr.count("\n") == 1
