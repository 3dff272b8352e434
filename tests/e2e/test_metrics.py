"""Prometheus metrics after a real issuance: the api's ``/metrics`` (its own counters and what
the database knows), a worker's on ``CERTKEEPER_METRICS_PORT``; and the log format."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import Stack, WorkerProcess
from tests.harness.ports import free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)




def test_api_metrics_after_an_issuance(embedded: Stack) -> None:
    done = embedded.issue("metrics.example.test")
    cert = embedded.client().get(f"/v1/certificates/{done['certificate_id']}").json()
    response = httpx.get(f"{embedded.base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(response.text)
    labels = {"certificate_id": cert["id"], "common_name": "metrics.example.test"}
    expires = datetime.fromisoformat(cert["not_after"]).timestamp()
    renews = datetime.fromisoformat(cert["renewal_at"]).timestamp()
    assert _value(samples, "certkeeper_certificate_expiration_timestamp_seconds",
                  **labels) == expires
    assert _value(samples, "certkeeper_certificate_renewal_timestamp_seconds",
                  **labels) == renews
    assert _value(samples, "certkeeper_certificate_not_before_timestamp_seconds", **labels) > 0
    assert _value(samples, "certkeeper_certificates", status="active") >= 1
    assert _value(samples, "certkeeper_certificate_requests", status="issued") >= 1
    assert _value(samples, "certkeeper_database_up") == 1
    assert ("certkeeper_queue_depth", frozenset()) in samples
    assert ("certkeeper_renewals_overdue", frozenset()) in samples
    # all-in-one runs the issuer in the same process: its counters are here too
    assert _value(samples, "certkeeper_acme_client_request_count_total",
                  action="newOrder", status="201") >= 1
    assert _value(samples, "certkeeper_acme_client_request_duration_seconds_count",
                  action="finalize") >= 1
    assert _value(samples, "certkeeper_issuance_duration_seconds_count") >= 1
    assert _value(samples, "certkeeper_job_duration_seconds_count", job="advance") >= 1
    assert _value(samples, "certkeeper_http_requests_total", method="POST",
                  route="/v1/certificate-requests", status="202") >= 1


def test_every_answer_carries_a_request_id(embedded: Stack) -> None:
    given = embedded.client().get("/v1/certificates", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    # Not an id of ours (a space, angle brackets); a control character would not even pass
    # the HTTP parser (400 before the app).
    made = embedded.client().get("/v1/certificates", headers={"X-Request-ID": "bad id <x>"})
    assert len(made.headers["x-request-id"]) == 32
    refused = httpx.get(f"{embedded.base_url}/v1/certificates", timeout=10)
    assert refused.status_code == 401 and refused.headers["x-request-id"]


def test_a_worker_serves_its_metrics_on_its_own_port(prod: Stack) -> None:
    assert prod.worker is not None
    port = free_port()
    prod.worker.stop()
    worker = WorkerProcess({**prod.env, "CERTKEEPER_METRICS_PORT": str(port)},
                           prod.log_dir / "metrics-worker.log")
    worker.start()
    try:
        prod.issue("worker-metrics.example.test")
        url = f"http://127.0.0.1:{port}/metrics"
        samples = _samples(httpx.get(url, timeout=5).text)
        assert _value(samples, "certkeeper_acme_client_request_count_total",
                      action="newOrder", status="201") >= 1
        assert _value(samples, "certkeeper_job_duration_seconds_count", job="advance") >= 1
        assert _value(samples, "certkeeper_issuance_duration_seconds_count") >= 1
        _assert_json_lines(worker.log_path.read_text())
    finally:
        worker.stop()
        prod.worker.start()


def _assert_json_lines(log: str) -> None:
    """One JSON event a line (no arq per-job lines, no plain text)."""
    lines = log.splitlines()
    assert lines, "the worker logged nothing"
    for line in lines:
        event = json.loads(line)
        assert {"time", "level", "event"} <= set(event), line


def test_an_accounts_next_issuances_reuse_its_ca_conversation(embedded: Stack) -> None:
    """The issuer keeps an account's ACME conversation between jobs: once warm, issuances ask
    the CA for a fresh nonce only after it rejected one (Pebble rejects 5 % of nonces at
    random); every other POST uses the Replay-Nonce of the answer before it, over the same
    keep-alive connection."""
    embedded.issue("warm.conversation.example.test")

    def counts() -> tuple[float, float]:
        text = httpx.get(f"{embedded.base_url}/metrics", timeout=10).text
        acme = [(dict(labels), value) for (name, labels), value in _samples(text).items()
                if name == "certkeeper_acme_client_request_count_total"]
        fresh = sum(value for labels, value in acme if labels["action"] == "newNonce")
        refused = sum(value for labels, value in acme if labels["status"] == "400")
        return fresh, refused

    fresh_before, refused_before = counts()
    assert fresh_before >= 1  # the first conversation asked for its first nonce
    for name in ("one.reused.example.test", "two.reused.example.test"):
        embedded.issue(name)
    fresh, refused = counts()
    assert fresh - fresh_before <= refused - refused_before
