"""RFC 9457 problems (shared.errors)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import shared.domain
from shared.errors import (
    PROBLEM_BASE,
    AcmeError,
    AcmeRateLimited,
    AcmeUnavailable,
    InvalidNames,
    NotFound,
    Problem,
    ValidationProblem,
)


def all_subclasses(cls: type[Problem]) -> list[type[Problem]]:
    found: list[type[Problem]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return found


def import_everything() -> None:
    """Besides shared.errors, domain services define problems beside the code raising them."""
    package = shared.domain
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)


def test_to_dict_has_the_rfc9457_members() -> None:
    body = NotFound("no certificate 42").to_dict()

    assert body == {
        "type": PROBLEM_BASE + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no certificate 42",
    }


def test_to_dict_carries_the_extensions() -> None:
    invalid = [{"name": "bad..name", "reason": "empty-label"}]

    body = InvalidNames("one name cannot be requested", invalid_names=invalid).to_dict()

    assert body["invalid_names"] == invalid
    assert body["status"] == 422
    assert body["type"] == "urn:certkeeper:problem:invalid-names"


def test_problem_is_an_exception_whose_message_is_the_detail() -> None:
    with pytest.raises(Problem, match=r"^something broke$"):
        raise Problem("something broke")


def test_base_problem_is_an_internal_error() -> None:
    body = Problem("boom").to_dict()

    assert body["status"] == 500
    assert body["type"].endswith("internal-error")


def test_subclass_inherits_status_when_it_does_not_set_one() -> None:
    assert InvalidNames.status == ValidationProblem.status == 422


def test_acme_error_keeps_retryable_and_retry_after() -> None:
    error = AcmeError("slow down", retryable=True, retry_after=12.5)

    assert error.retryable is True
    assert error.retry_after == 12.5


def test_acme_error_records_the_acme_type_as_an_extension() -> None:
    acme_type = "urn:ietf:params:acme:error:rejectedIdentifier"

    error = AcmeError("no", retryable=False, acme_type=acme_type)

    assert error.retryable is False
    assert error.retry_after is None
    assert error.acme_type == acme_type
    assert error.to_dict()["acme_type"] == acme_type


def test_acme_error_without_acme_type_has_no_such_extension() -> None:
    assert "acme_type" not in AcmeError("no", retryable=False).to_dict()


def test_acme_unavailable_is_always_retryable() -> None:
    error = AcmeUnavailable("CA down", retry_after=30.0)

    assert isinstance(error, AcmeError)
    assert error.retryable is True
    assert error.retry_after == 30.0
    assert error.to_dict()["status"] == 503


def test_acme_rate_limited_is_a_429() -> None:
    error = AcmeRateLimited("too many", retryable=True, retry_after=60.0)

    assert error.to_dict()["status"] == 429
    assert error.retry_after == 60.0


def test_every_problem_slug_is_unique() -> None:
    """A subclass that sets no slug of its own answers exactly as its parent on purpose
    (OutOfScope is a 404 indistinguishable from a missing row); every other slug is unique."""
    import_everything()
    classes = [Problem, *(c for c in all_subclasses(Problem) if "slug" in vars(c))]

    slugs = [cls.slug for cls in classes]

    duplicates = {slug for slug in slugs if slugs.count(slug) > 1}
    assert not duplicates, {s: [c.__qualname__ for c in classes if c.slug == s] for s in duplicates}


def test_every_problem_has_a_title_and_an_error_status() -> None:
    import_everything()

    for cls in [Problem, *all_subclasses(Problem)]:
        assert cls.title, cls
        assert 400 <= cls.status < 600, cls
        assert cls.type_uri() == PROBLEM_BASE + cls.slug
