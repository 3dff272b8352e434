"""The new account key's type, size and curve: as asked, or else the old key's."""

from __future__ import annotations

from typing import get_args

import pytest

from services.api.schemas.common import EcCurve, RsaKeySize
from shared.choices import KeyType
from shared.crypto import EC_CURVES, RSA_SIZES, generate_private_key
from shared.domain.key_rollover import AccountKeySpec, key_spec_of, new_key_spec
from shared.errors import InvalidKeySpec

EC256 = AccountKeySpec(KeyType.EC, curve="p-256")
RSA3072 = AccountKeySpec(KeyType.RSA, key_size=3072)


def test_nothing_asked_keeps_the_old_type_size_and_curve() -> None:
    assert new_key_spec(EC256, None, None, None) == EC256
    assert new_key_spec(RSA3072, None, None, None) == RSA3072


@pytest.mark.parametrize(("old", "asked", "expected"), [
    (EC256, (KeyType.EC, None, "p-384"), AccountKeySpec(KeyType.EC, curve="p-384")),
    (EC256, (KeyType.EC, None, None), EC256),
    (EC256, (KeyType.RSA, None, None), AccountKeySpec(KeyType.RSA, key_size=2048)),
    (RSA3072, (KeyType.RSA, None, None), RSA3072),
    (RSA3072, (KeyType.RSA, 4096, None), AccountKeySpec(KeyType.RSA, key_size=4096)),
    (RSA3072, (KeyType.EC, None, None), EC256),
])
def test_what_is_asked_wins_and_gaps_come_from_the_old_key(
    old: AccountKeySpec, asked: tuple[KeyType, int | None, str | None],
    expected: AccountKeySpec,
) -> None:
    assert new_key_spec(old, *asked) == expected


@pytest.mark.parametrize("asked", [
    (None, 2048, None), (None, None, "p-384"), (KeyType.RSA, None, "p-256"),
    (KeyType.EC, 2048, None), (KeyType.RSA, 1024, None), (KeyType.EC, None, "p-521"),
])
def test_mismatched_specs_are_refused(asked: tuple[KeyType | None, int | None, str | None]
                                      ) -> None:
    with pytest.raises(InvalidKeySpec):
        new_key_spec(EC256, *asked)


def test_the_spec_of_a_key_is_read_back() -> None:
    assert key_spec_of(generate_private_key(KeyType.EC, None, "p-384")) == AccountKeySpec(
        KeyType.EC, curve="p-384")
    assert key_spec_of(generate_private_key(KeyType.RSA, 2048, None)) == AccountKeySpec(
        KeyType.RSA, key_size=2048)


def test_the_schema_enums_are_the_sizes_and_curves_made() -> None:
    assert set(get_args(RsaKeySize)) == set(RSA_SIZES)
    assert set(get_args(get_args(EcCurve)[0])) == set(EC_CURVES)
