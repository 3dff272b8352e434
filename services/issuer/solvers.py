"""How challenges get answered: the seam where the HTTP-01 responder, agents and DNS
providers plug in.

Making a request's challenges answerable keeps nothing in memory between jobs: everything
is on the challenge rows (for dns-01, the record's life: see ``services.issuer.dns01``).
"""

from __future__ import annotations

from services.issuer.agent_http01 import prepare_agent_http01
from services.issuer.context import Step
from services.issuer.dns01 import prepare_dns
from shared.choices import ChallengeType, ValidationMode
from shared.errors import InvalidChallengeChoice


class NoAutomaticSolver(InvalidChallengeChoice):
    """No automatic solver exists for this request. The API refuses such requests, so this
    only fires for rows written some other way; it fails the request at once."""

    slug = "no-automatic-solver"
    title = "No automatic challenge solver exists for this request"


async def make_answerable(step: Step) -> float | None:
    """Make every pending challenge answerable. ``None`` when the CA may be told now;
    otherwise the seconds to wait before asking again (e.g. DNS still propagating).

    HTTP-01 is served by the api process from the rows written when the order was created,
    so it is answerable at once, except for names mapped to an agent, which wait for their
    agent to serve the token; automatic dns-01 presents and checks its records."""
    req = step.request
    if req.validation is ValidationMode.MANUAL:
        raise NoAutomaticSolver("manual requests are solved by a person")
    if req.challenge_type is ChallengeType.HTTP_01:
        return await prepare_agent_http01(step)
    return await prepare_dns(step)
