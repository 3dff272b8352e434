"""How challenges get answered: the seam where DNS providers and agents plug in.

A solver makes a request's challenges answerable (publish the HTTP-01 file, write the
DNS-01 TXT record and wait for it to propagate). It keeps nothing in memory between
calls: everything it needs is on the challenge rows.
"""

from __future__ import annotations

from typing import Protocol

from shared.choices import ChallengeType, ValidationMode
from shared.errors import InvalidChallengeChoice
from shared.models import CertificateRequest


class ChallengeSolver(Protocol):
    async def prepare(self, request: CertificateRequest) -> float | None:
        """Make every pending challenge answerable. ``None`` when the CA may be told now;
        otherwise the seconds to wait before asking again (e.g. DNS still propagating)."""
        ...


class BuiltinHttpResponder:
    """HTTP-01 through the api process: it serves key authorizations from the database, so
    the rows written when the order was created are all the CA needs."""

    async def prepare(self, request: CertificateRequest) -> float | None:
        return None


_http_responder: ChallengeSolver = BuiltinHttpResponder()


class NoAutomaticSolver(InvalidChallengeChoice):
    """No automatic solver exists for this request. The API refuses such requests, so this
    only fires for rows written some other way; it fails the request at once."""

    slug = "no-automatic-solver"
    title = "No automatic challenge solver exists for this request"


def solver_for(request: CertificateRequest) -> ChallengeSolver:
    if request.challenge_type is ChallengeType.HTTP_01:
        return _http_responder
    if request.validation is ValidationMode.MANUAL:
        raise NoAutomaticSolver("manual requests are solved by a person")
    raise NoAutomaticSolver(f"no DNS provider solver for request {request.id}")
