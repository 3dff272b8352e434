"""The gate in front of the app: name the request, authenticate ``/v1`` before any body is
read, cap bodies.

The request id :class:`services.api.observe.Observe` gave the request (outside this gate)
is handed on in the request state, so every audit event the request writes records it.

A pure ASGI middleware, so it decides before FastAPI reads the body: a request under
``/v1`` without a valid bearer token gets a 401 problem at once (its body never read), and
any body longer than :data:`MAX_BODY_BYTES` gets a 413 ``payload-too-large`` problem, at once
when the Content-Length says so, or as soon as a chunked body passes the limit. The
principal is handed to the route dependencies in the request state, so the token is looked
up once. A body within the limit is read here and handed on whole.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.deps import PRINCIPAL_STATE, REQUEST_ID_STATE, AppResources
from services.api.problems import render_problem
from shared.db_errors import database_problem
from shared.domain.tokens import Principal
from shared.errors import Problem, Unauthenticated
from shared.logs import request_id_var

MAX_BODY_BYTES = 256 * 1024
GUARDED_PREFIX = "/v1/"
# Agents carry their own bearer (enrollment token, then agent credential), checked by the
# agent routes' dependency, not an API token.
AGENT_PREFIX = "/v1/agent/"


class PayloadTooLarge(Problem):
    slug = "payload-too-large"
    title = "The request body is too large"
    status = 413


class RequestGate:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id_var.get()
        try:
            path = str(scope["path"])
            if path.startswith(GUARDED_PREFIX) and not path.startswith(AGENT_PREFIX):
                principal = await _authenticate(scope)
                scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
            receive = await self._read_body(scope, receive)
        except Problem as problem:
            await render_problem(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the body (refusing it past the limit) and return a receive that replays it."""
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "chunked" not in headers.get("transfer-encoding", "").lower():
            return receive  # no body
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"the body may be at most {self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay(message, receive)  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"the body may be at most {self.max_body_bytes} bytes")
            if not message.get("more_body", False):
                whole: Message = {"type": "http.request", "body": b"".join(chunks)}
                return _replay(whole, receive)


def _replay(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _authenticate(scope: Scope) -> Principal:
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>")
    resources: AppResources = scope["app"].state.resources
    try:
        principal = await resources.tokens.verify(resources.runtime.sessions, token.strip())
    except Exception as exc:
        problem = database_problem(exc)
        if problem is None:
            raise
        raise problem from exc
    if principal is None:
        raise Unauthenticated("the token is unknown, expired or revoked")
    return principal
