"""Domain errors. Each one is an RFC 9457 problem: a stable ``type``, a title and a status.

The API turns a :class:`Problem` into ``application/problem+json``; the issuer stores
:meth:`Problem.to_dict` on a failed request. Lower layers (ACME, DNS, database) are
translated into these at their boundary, never matched by message text.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "urn:certkeeper:problem:"


class Problem(Exception):
    """Base of every error a client may see. Subclasses fix ``slug``, ``title`` and ``status``."""

    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500
    # True when trying again later may succeed (an outage, throttling): the issuer retries
    # after a backoff instead of failing the request.
    retryable: bool = False

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extensions)
        return body


class ValidationProblem(Problem):
    slug = "validation-error"
    title = "The request is not valid"
    status = 422


class InvalidNames(ValidationProblem):
    """One or more requested names may not be put in a certificate."""

    slug = "invalid-names"
    title = "One or more names cannot be requested"


class InvalidKeySpec(ValidationProblem):
    slug = "invalid-key-spec"
    title = "The key type and size or curve do not go together"


class InvalidChallengeChoice(ValidationProblem):
    slug = "invalid-challenge"
    title = "The challenge type and validation mode cannot be used for these names"


class AccountAmbiguous(Problem):
    slug = "acme-account-required"
    title = "Say which ACME account to use"
    status = 422


class NotFound(Problem):
    slug = "not-found"
    title = "Not found"
    status = 404


class Conflict(Problem):
    """The resource is not in a state that allows the operation."""

    slug = "conflict"
    title = "The resource is not in a state that allows this"
    status = 409


class Unauthenticated(Problem):
    slug = "unauthenticated"
    title = "A valid bearer token is required"
    status = 401


class Forbidden(Problem):
    slug = "forbidden"
    title = "The token's role does not allow this"
    status = 403


class AcmeError(Problem):
    """The CA refused or failed. ``retryable`` tells the issuer whether to try again."""

    slug = "acme-error"
    title = "The ACME server refused the operation"
    status = 422

    def __init__(
        self,
        detail: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        acme_type: str | None = None,
        **extensions: Any,
    ) -> None:
        if acme_type is not None:
            extensions["acme_type"] = acme_type
        super().__init__(detail, **extensions)
        self.retryable = retryable
        self.retry_after = retry_after
        self.acme_type = acme_type


class AcmeUnavailable(AcmeError):
    """The CA could not be reached or answered 5xx: always retryable."""

    slug = "acme-unavailable"
    title = "The ACME server could not be reached"
    status = 503

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail, retryable=True, retry_after=retry_after)


class AcmeRateLimited(AcmeError):
    slug = "acme-rate-limited"
    title = "The ACME server rate-limited the request"
    status = 429


class ValidationFailed(Problem):
    """The CA could not validate control of one or more names."""

    slug = "validation-failed"
    title = "The CA could not validate control of the names"
    status = 422


class ConfigError(Exception):
    """Settings are missing or wrong. The CLI prints it as one line and exits."""
