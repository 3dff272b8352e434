"""What a process counts, for Prometheus. Names follow cert-manager's where they mean the
same (``certkeeper_acme_client_request_count``, ``..._duration_seconds``); counters carry
the ``_total`` suffix the exposition format adds.

These live in the process's default registry and are updated where things happen: the api's
HTTP middleware, the ACME boundary, the issuer's jobs. What the database knows (certificates,
requests, renewals, work waiting) is read when scraped: ``shared.metrics_state``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

# Seconds: from a few milliseconds (one ACME call) to the hours a DNS change may take.
_SECONDS_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                           120, 300, 600, 1800, 3600)

HTTP_REQUESTS = Counter(
    "certkeeper_http_requests", "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
ACME_REQUESTS = Counter(
    "certkeeper_acme_client_request_count",
    "HTTP requests sent to ACME servers, by action and HTTP status (0: no answer)",
    ["action", "status"],
)
ACME_DURATION = Histogram(
    "certkeeper_acme_client_request_duration_seconds",
    "Time ACME servers took to answer, by action", ["action"], buckets=_SECONDS_BUCKETS,
)
ACME_ERRORS = Counter(
    "certkeeper_acme_errors", "ACME calls that ended in an error, by ACME problem type "
    "(or Certkeeper's problem slug when the CA sent none)", ["type"],
)
JOB_DURATION = Histogram(
    "certkeeper_job_duration_seconds", "Time one job (one step of a request) took",
    ["job"], buckets=_SECONDS_BUCKETS,
)
JOB_FAILURES = Counter(
    "certkeeper_job_failures", "Jobs that raised instead of recording an outcome", ["job"],
)
ISSUANCE_DURATION = Histogram(
    "certkeeper_issuance_duration_seconds",
    "Time from a certificate request's creation to its certificate being stored",
    buckets=_SECONDS_BUCKETS,
)
DNS_PROPAGATION_WAIT = Histogram(
    "certkeeper_dns_propagation_wait_seconds",
    "Time from presenting a DNS-01 record to every checked server serving it",
    buckets=_SECONDS_BUCKETS,
)
NOTIFICATIONS = Counter(
    "certkeeper_notifications", "Notifications sent, by channel and outcome",
    ["channel", "outcome"],
)


def acme_response(action: str, status: int, seconds: float) -> None:
    ACME_REQUESTS.labels(action=action, status=str(status)).inc()
    ACME_DURATION.labels(action=action).observe(seconds)


def acme_error(problem_type: str) -> None:
    ACME_ERRORS.labels(type=problem_type).inc()


def notification_sent(channel: str, outcome: str) -> None:
    """The notifier's hook: ``channel`` email or webhook, ``outcome`` sent, failed or dead."""
    NOTIFICATIONS.labels(channel=channel, outcome=outcome).inc()
