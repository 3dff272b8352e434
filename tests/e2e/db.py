"""Read the production stack's Postgres directly, as an operator would with psql."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.stack import Stack

TABLES = (
    "acme_accounts", "certificate_requests", "challenges", "certificates",
    "certificate_names", "api_tokens", "audit_events", "dns_providers", "domain_mappings",
    "lineages", "agents", "agent_tasks", "deployment_targets", "deployments",
)


def query(stack: Stack, sql: str) -> list[list[str]]:
    assert stack.postgres is not None, "needs the production stack"
    done = subprocess.run(
        ["psql", stack.postgres.dsn, "-AtX", "-F", "\t", "-c", sql],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def row_counts(stack: Stack) -> dict[str, int]:
    """Row count of every table, once the issuer has nothing left to do."""
    deadline = time.monotonic() + 60
    while query(stack, "SELECT count(*) FROM certificate_requests "
                       "WHERE status IN ('pending', 'processing', 'validating')")[0][0] != "0":
        assert time.monotonic() < deadline, "the issuer never went quiet"
        time.sleep(0.1)
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {name: int(count) for name, count in query(stack, sql)}
