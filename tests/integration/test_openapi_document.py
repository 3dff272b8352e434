"""The committed OpenAPI document (docs/openapi.json) is what the app serves, and it is shaped
for generated clients: plain component names, problems wherever errors appear, enums."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.api.openapi_export import openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return openapi_document()


def test_the_committed_document_is_what_the_app_serves() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json differs from the app's document: run `make openapi` and commit it"
    )


def test_component_names_are_plain_class_names(schema: dict[str, Any]) -> None:
    names = list(schema["components"]["schemas"])
    assert {"CertificatePage", "CertificateRequestPage", "AcmeAccountPage"} <= set(names)
    assert [n for n in names if re.fullmatch(r"[A-Z][A-Za-z0-9]*", n) is None] == []


def test_every_error_field_is_a_problem(schema: dict[str, Any]) -> None:
    problem = {"anyOf": [{"$ref": "#/components/schemas/ProblemBody"}, {"type": "null"}]}
    found = 0
    for model in schema["components"]["schemas"].values():
        for name, prop in model.get("properties", {}).items():
            if name == "error" or name.endswith("_error"):
                assert prop["anyOf"] == problem["anyOf"], (model["title"], name)
                found += 1
    assert found >= 5


def test_key_sizes_and_curves_are_enums(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert components["KeySize"]["enum"] == [2048, 3072, 4096]
    assert components["Curve"]["enum"] == ["p-256", "p-384"]
    create = components["CertificateRequestCreate"]["properties"]
    assert {"$ref": "#/components/schemas/KeySize"} in create["key_size"]["anyOf"]
    assert {"$ref": "#/components/schemas/Curve"} in create["curve"]["anyOf"]


def test_pem_downloads_are_described(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    chain = paths["/v1/certificates/{certificate_id}/pem"]["get"]["responses"]["200"]
    key = paths["/v1/certificates/{certificate_id}/private-key"]["get"]["responses"]["200"]
    assert chain["content"] == {"application/pem-certificate-chain": {"schema": {"type": "string"}}}
    assert key["content"] == {"application/x-pem-file": {"schema": {"type": "string"}}}
    assert chain["description"] and key["description"]


def test_every_ref_resolves(schema: dict[str, Any]) -> None:
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs <= set(schema["components"]["schemas"])
