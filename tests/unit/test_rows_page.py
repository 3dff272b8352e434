"""The certificate list writes its rows as JSON itself (``rows_page``): the document its
response model, ``CertificatePage``, gives for the same rows, whatever the values, with the
keys in the same order. Rows come as ``paginate_rows`` hands them over: dicts keyed in the
order of the list's columns, which are the model's fields in the model's order, enums and
UUIDs as their strings and JSON columns as the text the database holds
(``orjson.Fragment``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.schemas.certificates import CertificatePage, CertificatePublic
from services.api.schemas.common import rows_page
from shared.choices import KeyType, RevocationReason
from shared.domain.certificates import LIST_COLUMNS
from shared.domain.pagination import Page
from shared.states import CertificateStatus, RenewalSource

# What a database hands back: text without surrogates (neither Postgres nor SQLite keeps
# them), aware UTC times.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TIMES = st.datetimes(  # hypothesis takes naive bounds and adds the zone itself
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=datetime(9000, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC))
UUIDS = st.uuids()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
PROBLEMS = st.none() | st.fixed_dictionaries(
    {"type": TEXT, "title": TEXT, "status": st.integers(400, 599), "detail": TEXT},
    optional={"retry_after": JSON_VALUES, "errors": JSON_VALUES},
)

FIELDS = list(CertificatePublic.model_fields)
ROWS = st.fixed_dictionaries({
    "id": UUIDS, "request_id": UUIDS, "acme_account_id": UUIDS,
    "replaces_id": st.none() | UUIDS, "common_name": TEXT, "names": st.lists(TEXT, max_size=4),
    "serial": TEXT, "not_before": TIMES, "not_after": TIMES, "issuer": TEXT,
    "fingerprint_sha256": TEXT, "key_type": st.sampled_from(KeyType),
    "status": st.sampled_from(CertificateStatus), "auto_renew": st.booleans(),
    "lineage_id": UUIDS, "replaced_by_id": st.none() | UUIDS, "renewal_at": st.none() | TIMES,
    "renewal_source": st.none() | st.sampled_from(RenewalSource),
    "renew_before_seconds": st.none() | st.integers(0, 2**31),
    "renewal_attempts": st.integers(0, 2**31), "renewal_error": PROBLEMS,
    "revoked_at": st.none() | TIMES,
    "revocation_reason": st.none() | st.sampled_from(RevocationReason),
    "alternate_chains": st.integers(0, 100), "created_at": TIMES,
    "created_by_token_id": st.none() | UUIDS, "created_by_name": st.none() | TEXT,
}).map(lambda row: {name: row[name] for name in FIELDS})  # the columns' order


def test_the_list_selects_the_models_fields_in_its_order() -> None:
    assert [column.key for column in LIST_COLUMNS] == FIELDS


JSON_COLUMNS = ("names", "renewal_error")


def model_json(rows: list[dict[str, Any]], cursor: str | None) -> bytes:
    return CertificatePage.model_validate(
        {"items": rows, "next_cursor": cursor}).model_dump_json().encode()


def as_read(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the list reads it: JSON columns as stored (SQLAlchemy writes them with
    ``json.dumps``), enums and UUIDs as their strings."""
    return {key: orjson.Fragment(json.dumps(value)) if key in JSON_COLUMNS and value is not None
            else str(value) if isinstance(value, StrEnum | uuid.UUID) else value
            for key, value in row.items()}


def page_json(rows: list[dict[str, Any]], cursor: str | None) -> bytes:
    return bytes(rows_page(Page(items=[as_read(row) for row in rows], next_cursor=cursor)).body)


def keys_in_order(document: Any) -> Any:
    """The document with every object as a list of its (key, value) pairs in order."""
    if isinstance(document, dict):
        return [(key, keys_in_order(value)) for key, value in document.items()]
    if isinstance(document, list):
        return [keys_in_order(value) for value in document]
    return document


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(ROWS, max_size=5), cursor=st.none() | TEXT)
def test_a_page_of_rows_is_written_as_its_response_model_writes_it(
    rows: list[dict[str, Any]], cursor: str | None
) -> None:
    written = json.loads(page_json(rows, cursor))
    assert keys_in_order(written) == keys_in_order(json.loads(model_json(rows, cursor)))


def a_row(**values: Any) -> dict[str, Any]:
    """A row in the list's column order; ``values`` replace columns or add keys at the end."""
    when = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return {
        "id": uuid.uuid4(), "request_id": uuid.uuid4(), "acme_account_id": uuid.uuid4(),
        "replaces_id": None, "common_name": "a.example.test", "names": ["a.example.test"],
        "serial": "0f", "not_before": when, "not_after": when, "issuer": "CN=CA",
        "fingerprint_sha256": "00", "key_type": KeyType.EC, "status": CertificateStatus.ACTIVE,
        "auto_renew": True, "lineage_id": uuid.uuid4(), "replaced_by_id": None,
        "renewal_at": when, "renewal_source": RenewalSource.LIFETIME,
        "renew_before_seconds": None, "renewal_attempts": 0, "renewal_error": None,
        "revoked_at": None, "revocation_reason": None, "alternate_chains": 0,
        "created_at": when, "created_by_token_id": None, "created_by_name": None, **values,
    }


def test_times_keep_their_microseconds_and_write_none_of_them_when_whole() -> None:
    whole = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = a_row(not_before=whole, not_after=whole + timedelta(microseconds=400000))
    body = page_json([row], None)

    assert b'"not_before":"2030-01-02T03:04:05Z"' in body
    assert b'"not_after":"2030-01-02T03:04:05.400000Z"' in body
    assert body == model_json([row], None)


def test_json_columns_are_written_as_the_database_holds_them() -> None:
    row = a_row(names=["a.example.test", "b.example.test"])
    body = page_json([row], None)

    assert b'"names":["a.example.test", "b.example.test"]' in body


def test_a_value_no_row_holds_is_refused_not_written_as_text() -> None:
    with pytest.raises(TypeError, match="object"):
        rows_page(Page(items=[a_row(odd=object())], next_cursor=None))
