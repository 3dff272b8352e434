"""The OpenAPI document is a contract: generated clients depend on its names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from services.api.app import create_app
from services.api.deps import AppResources

EXPECTED_OPERATIONS = {
    ("post", "/v1/acme-accounts"): ("createAcmeAccount", "acme-accounts"),
    ("get", "/v1/acme-accounts"): ("listAcmeAccounts", "acme-accounts"),
    ("get", "/v1/acme-accounts/{account_id}"): ("getAcmeAccount", "acme-accounts"),
    ("delete", "/v1/acme-accounts/{account_id}"): ("deactivateAcmeAccount", "acme-accounts"),
    ("post", "/v1/acme-accounts/{account_id}/key-rollover"): ("rollOverAcmeAccountKey",
                                                          "acme-accounts"),
    ("post", "/v1/certificate-requests"): ("createCertificateRequest", "certificate-requests"),
    ("get", "/v1/certificate-requests"): ("listCertificateRequests", "certificate-requests"),
    ("get", "/v1/certificate-requests/{request_id}"):
        ("getCertificateRequest", "certificate-requests"),
    ("post", "/v1/certificate-requests/{request_id}/verify"):
        ("verifyCertificateRequest", "certificate-requests"),
    ("post", "/v1/certificate-requests/{request_id}/cancel"):
        ("cancelCertificateRequest", "certificate-requests"),
    ("get", "/v1/certificates"): ("listCertificates", "certificates"),
    ("get", "/v1/certificates/{certificate_id}"): ("getCertificate", "certificates"),
    ("delete", "/v1/certificates/{certificate_id}"): ("deleteCertificate", "certificates"),
    ("post", "/v1/certificates/{certificate_id}/revoke"):
        ("revokeCertificate", "certificates"),
    ("get", "/v1/certificates/{certificate_id}/pem"): ("getCertificatePem", "certificates"),
    ("get", "/v1/certificates/{certificate_id}/private-key"):
        ("getCertificatePrivateKey", "certificates"),
    ("patch", "/v1/certificates/{certificate_id}"): ("updateCertificate", "certificates"),
    ("post", "/v1/certificates/{certificate_id}/renew"): ("renewCertificate", "certificates"),
    ("post", "/v1/dns-providers"): ("createDnsProvider", "dns-providers"),
    ("get", "/v1/dns-providers"): ("listDnsProviders", "dns-providers"),
    ("get", "/v1/dns-providers/{provider_id}"): ("getDnsProvider", "dns-providers"),
    ("patch", "/v1/dns-providers/{provider_id}"): ("updateDnsProvider", "dns-providers"),
    ("delete", "/v1/dns-providers/{provider_id}"): ("deleteDnsProvider", "dns-providers"),
    ("post", "/v1/dns-providers/{provider_id}/test"): ("testDnsProvider", "dns-providers"),
    ("post", "/v1/domain-mappings"): ("createDomainMapping", "domain-mappings"),
    ("get", "/v1/domain-mappings"): ("listDomainMappings", "domain-mappings"),
    ("get", "/v1/domain-mappings/{mapping_id}"): ("getDomainMapping", "domain-mappings"),
    ("patch", "/v1/domain-mappings/{mapping_id}"): ("updateDomainMapping", "domain-mappings"),
    ("delete", "/v1/domain-mappings/{mapping_id}"): ("deleteDomainMapping", "domain-mappings"),
    ("post", "/v1/notification-rules"): ("createNotificationRule", "notification-rules"),
    ("get", "/v1/notification-rules"): ("listNotificationRules", "notification-rules"),
    ("get", "/v1/notification-rules/{rule_id}"): ("getNotificationRule", "notification-rules"),
    ("patch", "/v1/notification-rules/{rule_id}"):
        ("updateNotificationRule", "notification-rules"),
    ("delete", "/v1/notification-rules/{rule_id}"):
        ("deleteNotificationRule", "notification-rules"),
    ("get", "/v1/notifications"): ("listNotifications", "notifications"),
    ("post", "/v1/tokens"): ("createToken", "tokens"),
    ("get", "/v1/tokens"): ("listTokens", "tokens"),
    ("get", "/v1/tokens/{token_id}"): ("getToken", "tokens"),
    ("delete", "/v1/tokens/{token_id}"): ("revokeToken", "tokens"),
    ("get", "/v1/audit-events"): ("listAuditEvents", "audit-events"),
    ("post", "/v1/agents"): ("createAgent", "agents"),
    ("get", "/v1/agents"): ("listAgents", "agents"),
    ("get", "/v1/agents/{agent_id}"): ("getAgent", "agents"),
    ("delete", "/v1/agents/{agent_id}"): ("revokeAgent", "agents"),
    ("post", "/v1/agent/enroll"): ("enrollAgent", "agent"),
    ("get", "/v1/agent/tasks"): ("pollAgentTasks", "agent"),
    ("post", "/v1/agent/tasks/{task_id}/result"): ("reportAgentTaskResult", "agent"),
    ("post", "/v1/deployment-targets"): ("createDeploymentTarget", "deployment-targets"),
    ("get", "/v1/deployment-targets"): ("listDeploymentTargets", "deployment-targets"),
    ("get", "/v1/deployment-targets/{target_id}"):
        ("getDeploymentTarget", "deployment-targets"),
    ("patch", "/v1/deployment-targets/{target_id}"):
        ("updateDeploymentTarget", "deployment-targets"),
    ("delete", "/v1/deployment-targets/{target_id}"):
        ("deleteDeploymentTarget", "deployment-targets"),
    ("get", "/healthz"): ("getHealth", "health"),
    ("get", "/readyz"): ("getReadiness", "health"),
}


@asynccontextmanager
async def _never_opened() -> AsyncIterator[AppResources]:
    raise AssertionError("the schema needs no services")
    yield  # pragma: no cover


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app(_never_opened).openapi()


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }


def test_operation_ids_and_tags_are_stable(schema: dict[str, Any]) -> None:
    found = {key: (op["operationId"], op["tags"][0]) for key, op in _operations(schema).items()}
    assert found == EXPECTED_OPERATIONS


def test_every_v1_operation_needs_a_bearer_token(schema: dict[str, Any]) -> None:
    for (_method, path), op in _operations(schema).items():
        if path.startswith("/v1/"):
            assert op.get("security") == [{"HTTPBearer": []}], path
            assert "401" in op["responses"] and "403" in op["responses"], path


def test_errors_are_documented_as_problem_json(schema: dict[str, Any]) -> None:
    assert "ProblemBody" in schema["components"]["schemas"]
    for (_method, path), op in _operations(schema).items():
        if path.startswith("/v1/"):
            content = op["responses"]["422"]["content"]
            assert "application/problem+json" in content, path


def test_every_v1_operation_documents_what_the_gate_and_the_body_parser_answer(
    schema: dict[str, Any],
) -> None:
    """401/413 from the request gate, 403 from the role check, 422 from validation, 503 while
    the database is down; 400 where a JSON body may not even be text. Only problem+json."""
    for (_method, path), op in _operations(schema).items():
        if not path.startswith("/v1/"):
            continue
        documented = set(op["responses"])
        assert {"401", "403", "413", "422", "503"} <= documented, path
        if "requestBody" in op:
            assert "400" in documented, path
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (path, status)
