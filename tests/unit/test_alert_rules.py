"""docs/alerts.yaml is a well-formed Prometheus rule file whose expressions use only metrics
Certkeeper exports."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

import shared.metrics  # noqa: F401 - registers the process metrics
from shared.metrics_state import CertificateFacts, StateCollector, StateSnapshot

RULES = Path(__file__).resolve().parents[2] / "docs" / "alerts.yaml"
DURATION = re.compile(r"\d+[smhdwy]")
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _exported_names() -> set[str]:
    state = CollectorRegistry(auto_describe=False)
    cert = CertificateFacts("c", "n", NOW, NOW, NOW, auto_renew=True, renewal_in_flight=False)
    state.register(StateCollector(StateSnapshot(now=NOW, certificates=[cert])))
    text = (generate_latest(REGISTRY) + generate_latest(state)).decode()
    names = set(re.findall(r"^# TYPE (\S+)", text, re.MULTILINE))
    counters = set(re.findall(r"^# TYPE (\S+) counter", text, re.MULTILINE))
    return names | {f"{name}_total" for name in counters}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_complete() -> None:
    rules = _rules()
    assert len(rules) >= 4
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Certkeeper[A-Za-z]+", rule["alert"])
        assert DURATION.fullmatch(rule["for"]), rule
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]")


def test_expressions_use_exported_metrics() -> None:
    exported = _exported_names()
    for rule in _rules():
        used = set(re.findall(r"\bcertkeeper_[a-z_]+", rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)


def test_the_four_operational_alerts_are_there() -> None:
    names = {rule["alert"] for rule in _rules()}
    assert {"CertkeeperCertificateExpiringWithoutRenewal", "CertkeeperRenewalOverdue",
            "CertkeeperQueueStuck", "CertkeeperAcmeErrorsRising"} <= names
