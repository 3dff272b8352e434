"""Renewal on real servers: Pebble issues one-minute certificates, and the running renewer
renews one before it expires, with no setting changed, in both topologies. Then many
renewers against one Postgres: each due certificate renewed exactly once, even when a
renewer is SIGKILLed mid-claim."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.crypto import new_key_spec
from tests.e2e.conftest import with_account
from tests.e2e.stack import (
    Stack,
    WorkerProcess,
    base_env,
    embedded_stack,
    production_stack,
    run_cli,
)
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import temp_dir
from tests.harness.redis import redis_server
from tests.harness.seed import certificates_sql

LIFETIME = {"certificateValidityPeriod": 60}


@contextlib.contextmanager
def short_lived(topology: str) -> Iterator[Stack]:
    if topology == "prod":
        with production_stack(pebble_config=LIFETIME) as stack:
            yield with_account(stack)
    else:
        with embedded_stack(pebble_config=LIFETIME) as stack:
            yield with_account(stack)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize("topology", ["prod", "embedded"])
def test_a_one_minute_certificate_is_renewed_before_it_expires(topology: str) -> None:
    with short_lived(topology) as stack:
        client = stack.client()
        created = client.post("/v1/certificate-requests",
                              json={"common_name": "short.example.test", "key_type": "ec"})
        assert created.status_code == 202, created.text
        done = stack.wait_final(created.json()["id"])
        assert done["status"] == "issued", done
        first = client.get(f"/v1/certificates/{done['certificate_id']}").json()
        lifetime = at(first["not_after"]) - at(first["not_before"])
        assert lifetime.total_seconds() <= 61, first
        assert first["renewal_source"] == "lifetime" and first["auto_renew"] is True
        assert at(first["renewal_at"]) == at(first["not_after"]) - lifetime / 2
        renewed = stack.wait_certificate(first["id"], lambda c: c["status"] == "renewed",
                                         timeout=lifetime.total_seconds())
        second = client.get(f"/v1/certificates/{renewed['replaced_by_id']}").json()
        assert second["status"] == "active" and second["replaces_id"] == first["id"]
        assert second["lineage_id"] == first["lineage_id"]
        assert at(second["created_at"]) < at(first["not_after"])
        listed = client.get("/v1/certificate-requests").json()["items"]
        in_lineage = [r for r in listed if r["lineage_id"] == first["lineage_id"]]
        assert sorted(str(r["replaces_certificate_id"]) for r in in_lineage) == sorted(
            ["None", first["id"]]
        )


DUE = 200
SEED = certificates_sql(DUE, DUE)


def psql(pg: PostgresServer, sql: str) -> list[str]:
    done = subprocess.run(["psql", pg.dsn, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize("kill_one", [False, True], ids=["both-alive", "one-sigkilled"])
def test_two_renewers_renew_each_due_certificate_exactly_once(kill_one: bool) -> None:
    with temp_dir("ck-renewers-") as logs, postgres_server() as pg, redis_server() as rd:
        bundle = logs / "unused-ca.pem"
        bundle.write_text("")
        env = base_env(
            1, "https://ca.test/dir", str(bundle), CERTKEEPER_DATABASE_URL=pg.dsn,
            CERTKEEPER_REDIS_URL=rd.url, CERTKEEPER_ENCRYPTION_KEYS=new_key_spec(),
            CERTKEEPER_DATA_DIR=str(logs / "data"),
        )
        run_cli(env, "migrate")
        renewers = [WorkerProcess(env, logs / f"renewer-{n}.log", kind="renewer")
                    for n in (1, 2)]
        for renewer in renewers:
            renewer.start()
        try:
            psql(pg, SEED)
            if kill_one:
                wait_until(pg, "SELECT count(*) > 0 FROM certificates "
                               "WHERE renewal_lease_owner IS NOT NULL "
                               "OR renewal_request_id IS NOT NULL", logs)
                renewers[0].kill()
            wait_until(pg, "SELECT count(*) = 0 FROM certificates WHERE "
                           "renewal_request_id IS NULL OR renewal_lease_owner IS NOT NULL", logs)
        finally:
            for renewer in renewers:
                renewer.stop()
        per_lineage = psql(pg, "SELECT count(*) FROM certificate_requests GROUP BY lineage_id")
        assert per_lineage == ["2"] * DUE
        assert psql(pg, "SELECT count(DISTINCT replaces_certificate_id), count(*) "
                        "FROM certificate_requests WHERE replaces_certificate_id IS NOT NULL"
                        ) == [f"{DUE}|{DUE}"]
        both = [r.log_path.read_text() for r in renewers]
        assert all("renewal.started" in log for log in both) or kill_one, both


def wait_until(pg: PostgresServer, sql: str, logs: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while psql(pg, sql) != ["t"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {sql}\n" + "\n".join(
                p.read_text()[-3000:] for p in sorted(logs.glob("*.log"))))
        time.sleep(0.05)


def test_operator_renews_now_and_changes_the_renewal_time(embedded: Stack) -> None:
    client = embedded.client()
    created = client.post("/v1/certificate-requests",
                          json={"common_name": "patch.example.test", "key_type": "ec"})
    done = embedded.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    cert_id = done["certificate_id"]
    viewer = embedded.client(embedded.create_token("viewer", "e2e-renew-viewer"))
    assert viewer.patch(f"/v1/certificates/{cert_id}", json={"auto_renew": False}
                        ).status_code == 403
    assert viewer.post(f"/v1/certificates/{cert_id}/renew").status_code == 403
    bad = client.patch(f"/v1/certificates/{cert_id}", json={"renew_before_seconds": 0})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    changed = client.patch(f"/v1/certificates/{cert_id}",
                           json={"renew_before_seconds": 86400, "auto_renew": False})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["renewal_source"], body["renew_before_seconds"], body["auto_renew"]) == (
        "override", 86400, False)
    assert at(body["renewal_at"]) == max(
        at(body["not_after"]) - timedelta(days=1), at(body["not_before"]))
    back = client.patch(f"/v1/certificates/{cert_id}", json={"renew_before_seconds": None})
    assert back.json()["renewal_source"] == "lifetime"
    assert back.json()["auto_renew"] is False
    renewal = client.post(f"/v1/certificates/{cert_id}/renew")
    assert renewal.status_code == 202, renewal.text
    assert renewal.json()["replaces_certificate_id"] == cert_id
    again = client.post(f"/v1/certificates/{cert_id}/renew")  # in flight, or renewed
    assert again.status_code == 409, again.text
    assert again.json()["type"] == "urn:certkeeper:problem:conflict"
    issued = embedded.wait_final(renewal.json()["id"])
    assert issued["status"] == "issued", issued
    old = client.get(f"/v1/certificates/{cert_id}").json()
    assert (old["status"], old["replaced_by_id"]) == ("renewed", issued["certificate_id"])
    gone = client.post(f"/v1/certificates/{cert_id}/renew")
    assert gone.status_code == 409 and gone.json()["type"] == "urn:certkeeper:problem:conflict"
    missing = client.patch("/v1/certificates/00000000-0000-4000-8000-000000000009", json={})
    assert missing.status_code == 404
