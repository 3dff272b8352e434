"""The token scope decision, alone."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.domain.scope import (
    InvalidScope,
    NamesOutOfScope,
    name_in_scope,
    names_in_scope,
    normalize_scope,
    require_names_in_scope,
)
from shared.errors import InvalidNames


@pytest.mark.parametrize(("name", "domains", "inside"), [
    ("a.example.com", [], True),
    ("example.com", ["example.com"], True),
    ("a.b.example.com", ["example.com"], True),
    ("*.example.com", ["example.com"], True),
    ("*.example.com", ["a.example.com"], False),
    ("*.a.example.com", ["a.example.com"], True),
    ("badexample.com", ["example.com"], False),
    ("example.com.evil.net", ["example.com"], False),
    ("example.com", ["a.example.com"], False),
    ("x.team-b.example.org", ["team-a.example.org", "team-b.example.org"], True),
])
def test_a_name_is_in_scope_when_it_is_a_suffix_or_under_one(
    name: str, domains: list[str], inside: bool
) -> None:
    assert name_in_scope(name, domains) is inside


def test_every_name_must_be_in_scope() -> None:
    assert names_in_scope(["a.example.com", "b.example.com"], ["example.com"])
    assert not names_in_scope(["a.example.com", "b.example.net"], ["example.com"])
    with pytest.raises(NamesOutOfScope) as refused:
        require_names_in_scope(["a.example.com", "b.example.net"], ["example.com"])
    assert refused.value.status == 403
    assert refused.value.extensions["names"] == ["b.example.net"]


def test_scope_domains_are_normalized_by_the_name_validator() -> None:
    settings = Settings(allowed_private_suffixes=["test"])
    assert normalize_scope(["Team-A.Example.COM.", "bücher.example.com", "team-a.example.com"],
                           settings) == ("team-a.example.com", "xn--bcher-kva.example.com")
    for bad in (["*.example.com"], ["com"], ["exa mple.com"], ["localhost"], ["10.0.0.1"]):
        with pytest.raises((InvalidScope, InvalidNames)):
            normalize_scope(bad, settings)
