from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack, embedded_stack, production_stack


def with_account(stack: Stack) -> Stack:
    response = stack.client().post(
        "/v1/acme-accounts",
        json={"contact_email": "ops@certkeeper.dev", "terms_of_service_agreed": True},
    )
    assert response.status_code == 201, response.text
    return stack


@pytest.fixture(scope="session")
def prod() -> Iterator[Stack]:
    """Postgres + Redis + ``certkeeper api`` + ``certkeeper worker issuer`` + Pebble."""
    with production_stack({"PEBBLE_ALTERNATE_ROOTS": "1"}) as stack:
        yield with_account(stack)


@pytest.fixture(scope="session")
def embedded() -> Iterator[Stack]:
    """``certkeeper all-in-one`` with SQLite and the in-process queue + Pebble."""
    with embedded_stack() as stack:
        yield with_account(stack)
