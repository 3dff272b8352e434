"""Property-based tests: the input decoders raise their own problem or nothing at all."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.choices import ChallengeType
from shared.domain.pagination import InvalidCursor, decode_cursor, encode_cursor
from shared.errors import InvalidNames
from shared.names import normalize_names

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_times = st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()) | st.text()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_cursors = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(_b64),
    _json.map(lambda doc: _b64(json.dumps(doc).encode())),
    st.tuples(_times, st.uuids().map(str) | st.text(max_size=40)).map(
        lambda pair: _b64(json.dumps(list(pair)).encode())
    ),
    st.integers(1, 5000).map(lambda depth: _b64(b"[" * depth)),
)


@settings(max_examples=400, deadline=None)
@given(_cursors)
def test_decode_cursor_raises_only_invalid_cursor(cursor: str) -> None:
    try:
        created_at, _row_id = decode_cursor(cursor)
    except InvalidCursor:
        return
    assert created_at.utcoffset() is not None and created_at.tzinfo is UTC


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_a_cursor_this_service_hands_out_decodes(created_at: datetime, row_id: UUID) -> None:
    assert decode_cursor(encode_cursor(created_at, row_id)) == (created_at, row_id)


_labels = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=70
) | st.from_regex(r"[a-z0-9-]{1,63}", fullmatch=True)
_names = st.lists(_labels, min_size=1, max_size=6).map(".".join) | st.text(max_size=300)


@settings(max_examples=400, deadline=None)
@given(
    _names,
    st.lists(_names, max_size=4),
    st.sampled_from(list(ChallengeType)),
    st.booleans(),
)
def test_normalize_names_raises_only_invalid_names(
    common_name: str, sans: list[str], challenge_type: ChallengeType, mixed: bool
) -> None:
    try:
        names = normalize_names(
            common_name, sans, challenge_type=challenge_type,
            allowed_private_suffixes=["test"], allow_mixed_scripts=mixed,
        )
    except InvalidNames as refused:
        assert refused.extensions["invalid_names"]
        return
    assert names and all(name.isascii() and len(name) <= 253 for name in names)
