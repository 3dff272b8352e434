"""A token's domain scope: the suffixes it may reach. Empty means every domain.

A name is in scope when it equals a suffix or lies under one (``*.a.example.com`` lies
under ``example.com`` and under ``a.example.com``). A scoped token sees only the
certificates and requests whose every name is in scope: anything else answers 404, as if it
did not exist, so ids of other teams' rows do not leak. Asking for names outside the scope
answers 403. Lists filter in SQL over the one-row-per-name tables (``certificate_names``,
``certificate_request_names``): a row is listed when none of its names lies outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, exists, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from shared.choices import ChallengeType
from shared.config import Settings
from shared.errors import Forbidden, NotFound, ValidationProblem
from shared.models import Certificate, CertificateName, CertificateRequest, RequestName
from shared.names import normalize_names

MAX_SCOPE_DOMAINS = 100


class InvalidScope(ValidationProblem):
    slug = "invalid-scope"
    title = "The token's domains are not valid"


class OutOfScope(NotFound):
    """The row exists but lies outside the token's scope: answered exactly as a missing
    row (same type, title and status), audited as a refusal."""

    def __init__(self, detail: str, *, target_type: str, target_id: UUID) -> None:
        super().__init__(detail)
        self.target_type, self.target_id = target_type, target_id


class NamesOutOfScope(Forbidden):
    slug = "names-out-of-scope"
    title = "The token's domain scope does not cover these names"


def normalize_scope(domains: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """Each suffix as names are stored (A-labels, lower case, no trailing dot), checked by
    the name validator; no wildcards (a suffix covers everything under it)."""
    if len(domains) > MAX_SCOPE_DOMAINS:
        raise InvalidScope(f"at most {MAX_SCOPE_DOMAINS} domains")
    normalized: list[str] = []
    for domain in domains:
        if domain.lstrip().startswith("*"):
            raise InvalidScope(f"{domain!r}: a domain covers every name under it; give it "
                               "without '*.'")
        normalized.extend(normalize_names(
            domain, [], challenge_type=ChallengeType.DNS_01,
            allowed_private_suffixes=settings.allowed_private_suffixes,
            allow_mixed_scripts=settings.allow_mixed_script_names,
        ))
    return tuple(dict.fromkeys(normalized))


def name_in_scope(name: str, domains: Sequence[str]) -> bool:
    if not domains:
        return True
    base = name.removeprefix("*.")
    return any(base == d or base.endswith("." + d) for d in domains)


def names_in_scope(names: Sequence[str], domains: Sequence[str]) -> bool:
    return all(name_in_scope(name, domains) for name in names)


def require_names_in_scope(names: Sequence[str], domains: Sequence[str]) -> None:
    outside = [name for name in names if not name_in_scope(name, domains)]
    if outside:
        raise NamesOutOfScope(
            f"outside the token's domains ({', '.join(domains)}): {', '.join(outside)}",
            names=outside,
        )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_in_scope_sql(column: InstrumentedAttribute[str], domains: Sequence[str]
                       ) -> ColumnElement[bool]:
    """SQL for :func:`name_in_scope` (a wildcard ``*.x`` ends with ``.x`` as well)."""
    return or_(*(
        or_(column == d, column.like("%." + _like_escaped(d), escape="\\")) for d in domains
    ))


def certificates_in_scope(domains: Sequence[str]) -> ColumnElement[bool]:
    """A WHERE clause on ``certificates``: every name of the row is in scope."""
    if not domains:
        return true()
    outside = select(CertificateName.certificate_id).where(
        CertificateName.certificate_id == Certificate.id,
        not_(_name_in_scope_sql(CertificateName.name, domains)),
    )
    return not_(exists(outside))


def requests_in_scope(domains: Sequence[str]) -> ColumnElement[bool]:
    """A WHERE clause on ``certificate_requests``: every name of the row is in scope."""
    if not domains:
        return true()
    outside = select(RequestName.request_id).where(
        RequestName.request_id == CertificateRequest.id,
        not_(_name_in_scope_sql(RequestName.name, domains)),
    )
    return not_(exists(outside))


def hide_unless_in_scope(
    names: Sequence[str], domains: Sequence[str], *, target_type: str, target_id: UUID
) -> None:
    """404 (:class:`OutOfScope`) when a row's names are not all in scope."""
    if not names_in_scope(names, domains):
        raise OutOfScope(f"no {target_type.replace('_', ' ')} {target_id}",
                         target_type=target_type, target_id=target_id)

