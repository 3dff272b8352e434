"""The database-derived metrics: the pure renewal verdict and the rendered families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from shared.metrics_state import (
    CertificateFacts,
    RenewalState,
    StateCollector,
    StateSnapshot,
    renewal_state,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_renewal_is_due_at_its_moment_and_overdue_halfway_to_expiry() -> None:
    assert renewal_state(NOW, None, NOW + HOUR) is RenewalState.NOT_DUE
    assert renewal_state(NOW, NOW + HOUR, NOW + 3 * HOUR) is RenewalState.NOT_DUE
    assert renewal_state(NOW, NOW, NOW + 2 * HOUR) is RenewalState.DUE
    assert renewal_state(NOW, NOW - HOUR, NOW + 2 * HOUR) is RenewalState.DUE
    assert renewal_state(NOW, NOW - HOUR, NOW + HOUR) is RenewalState.OVERDUE
    assert renewal_state(NOW, NOW - 2 * HOUR, NOW) is RenewalState.OVERDUE


def _render(snapshot: StateSnapshot | None) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(snapshot))
    return generate_latest(registry).decode()


def test_a_snapshot_renders_per_certificate_and_totals() -> None:
    cert = CertificateFacts("c1", "www.example.org", NOW - 10 * HOUR, NOW + HOUR, NOW - HOUR,
                            auto_renew=True, renewal_in_flight=False)
    text = _render(StateSnapshot(
        now=NOW, certificates=[cert], certificates_by_status={"active": 1},
        requests_by_status={"issued": 1, "pending": 2}, work_due=2, oldest_due=NOW - 30 * HOUR,
    ))
    labels = 'certificate_id="c1",common_name="www.example.org"'
    expiration = f"certkeeper_certificate_expiration_timestamp_seconds{{{labels}}} "
    assert float(text.split(expiration)[1].split()[0]) == (NOW + HOUR).timestamp()
    assert f"certkeeper_certificate_renewal_in_progress{{{labels}}} 0.0" in text
    assert 'certkeeper_certificates{status="revoked"} 0.0' in text
    assert 'certkeeper_certificate_requests{status="pending"} 2.0' in text
    assert "certkeeper_renewals_overdue 1.0" in text
    assert "certkeeper_renewals_due 0.0" in text
    assert "certkeeper_queue_depth 2.0" in text
    assert f"certkeeper_queue_oldest_pending_age_seconds {30 * 3600:.1f}" in text
    assert "certkeeper_database_up 1.0" in text


def test_without_the_database_only_its_absence_is_told() -> None:
    text = _render(None)
    assert "certkeeper_database_up 0.0" in text
    assert "certkeeper_certificates" not in text
