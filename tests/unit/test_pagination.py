"""Opaque keyset cursors (shared.domain.pagination)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from shared.domain.pagination import InvalidCursor, decode_cursor, encode_cursor
from shared.errors import ValidationProblem

CREATED = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
ROW_ID = UUID("12345678-1234-5678-1234-567812345678")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def json_cursor(value: object) -> str:
    return b64(json.dumps(value).encode())


def test_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(CREATED, ROW_ID)) == (CREATED, ROW_ID)


def test_decoded_timestamp_is_aware_utc() -> None:
    created, _ = decode_cursor(encode_cursor(CREATED, uuid4()))

    assert created.utcoffset() == timedelta(0)


def test_cursor_round_trips_another_offset_as_the_same_instant() -> None:
    created = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))

    decoded, _ = decode_cursor(encode_cursor(created, ROW_ID))

    assert decoded == CREATED.replace(microsecond=0)


def test_cursor_is_url_safe_without_padding() -> None:
    cursor = encode_cursor(CREATED, ROW_ID)

    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("!!!", id="not-base64"),
        pytest.param(b64(b"hello, world"), id="not-json"),
        pytest.param(b64(b"\xff\xfe\x00garbage"), id="not-utf8"),
        pytest.param(json_cursor({"created": "x", "id": "y"}), id="object"),
        pytest.param(json_cursor([CREATED.isoformat()]), id="one-item"),
        pytest.param(json_cursor([CREATED.isoformat(), str(ROW_ID), 1]), id="three-items"),
        pytest.param(json_cursor(5), id="number"),
        pytest.param(json_cursor(None), id="null"),
        pytest.param(json_cursor(["yesterday", str(ROW_ID)]), id="bad-timestamp"),
        pytest.param(json_cursor([CREATED.isoformat(), "not-a-uuid"]), id="bad-uuid"),
        pytest.param(json_cursor([1, str(ROW_ID)]), id="numeric-timestamp"),
        pytest.param(json_cursor([CREATED.isoformat(), None]), id="null-id"),
        pytest.param(json_cursor([CREATED.isoformat(), 5]), id="numeric-id"),
        pytest.param(json_cursor([CREATED.isoformat(), ["x"]]), id="list-id"),
    ],
)
def test_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_cursor_with_a_naive_timestamp_is_refused() -> None:
    """encode_cursor only ever sees aware timestamps (UTCDateTime columns); a naive one
    would reach the keyset query, where UTCDateTime refuses to bind it."""
    cursor = json_cursor(["2030-01-02T03:04:05", str(ROW_ID)])

    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_invalid_cursor_is_a_422_problem() -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor("!!!")

    body = caught.value.to_dict()
    assert isinstance(caught.value, ValidationProblem)
    assert body["status"] == 422
    assert body["type"].endswith("invalid-cursor")
    assert body["detail"]
