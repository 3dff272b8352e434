"""The outermost layer of the app: security headers on every response, and the one place
an unexpected error becomes a 500.

Starlette's own handler for ``Exception`` sends the 500 and then re-raises, so the server
logs the error a second time and drops the keep-alive connection. Here the error is logged
once (with its traceback, never the request's body) and answered with a problem document;
the connection stays open for the client's next request.
"""

from __future__ import annotations

import logging

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import problem_response
from shared.errors import Problem

logger = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Nothing a JSON (or PEM) answer could make a browser load or run; the Swagger UI's HTML
# page loads its scripts, so HTML keeps only the framing rule.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"
HTML_CSP = "frame-ancestors 'none'"


class ResponseBoundary:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", HTML_CSP if html else STRICT_CSP)
            await send(message)

        try:
            await self.app(scope, receive, send_secured)
        except Exception:
            logger.exception("api.unhandled", extra={"method": scope.get("method"),
                                                      "path": scope.get("path")})
            if started:
                return  # the answer is half sent: nothing sensible can follow it
            crash = problem_response(Problem("the server failed; the error was logged").to_dict())
            await crash(scope, receive, send_secured)
