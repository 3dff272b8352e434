"""Request states and role ranks (shared.states)."""

from __future__ import annotations

import pytest

from shared.roles import Role
from shared.states import RequestStatus

S = RequestStatus

FINAL = {S.ISSUED, S.FAILED, S.CANCELLED}
WORKED = {S.PENDING, S.PROCESSING, S.VALIDATING}


def test_the_tables_below_cover_every_request_status() -> None:
    assert set(S) == FINAL | WORKED | {S.AWAITING_MANUAL_VALIDATION}


@pytest.mark.parametrize(
    ("status", "final", "worked"),
    [
        (S.PENDING, False, True),
        (S.PROCESSING, False, True),
        (S.AWAITING_MANUAL_VALIDATION, False, False),
        (S.VALIDATING, False, True),
        (S.ISSUED, True, False),
        (S.FAILED, True, False),
        (S.CANCELLED, True, False),
    ],
)
def test_request_status_is_final_and_is_worked(
    status: RequestStatus, final: bool, worked: bool
) -> None:
    assert status.is_final is final
    assert status.is_worked is worked


def test_final_and_worked_are_disjoint() -> None:
    assert not any(status.is_final and status.is_worked for status in S)


def test_request_status_values_are_the_stored_strings() -> None:
    assert S("awaiting_manual_validation") is S.AWAITING_MANUAL_VALIDATION
    assert S.ISSUED == "issued"


ALLOWS = {
    (Role.ADMIN, Role.ADMIN): True,
    (Role.ADMIN, Role.OPERATOR): True,
    (Role.ADMIN, Role.VIEWER): True,
    (Role.OPERATOR, Role.ADMIN): False,
    (Role.OPERATOR, Role.OPERATOR): True,
    (Role.OPERATOR, Role.VIEWER): True,
    (Role.VIEWER, Role.ADMIN): False,
    (Role.VIEWER, Role.OPERATOR): False,
    (Role.VIEWER, Role.VIEWER): True,
}


def test_role_matrix_covers_every_pair() -> None:
    assert set(ALLOWS) == {(have, need) for have in Role for need in Role}


@pytest.mark.parametrize(("have", "needed"), list(ALLOWS))
def test_role_allows(have: Role, needed: Role) -> None:
    assert have.allows(needed) is ALLOWS[(have, needed)]
