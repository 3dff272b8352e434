"""Every error leaves as RFC 9457 ``application/problem+json`` with a stable ``type``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.access import audit_refusal, is_refusal
from shared.db_errors import DATABASE_ERRORS, database_problem
from shared.errors import PROBLEM_BASE, Problem

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "A valid bearer token is required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=int(body["status"]), media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def render_problem(problem: Problem) -> JSONResponse:
    """A problem as a response, with Retry-After or WWW-Authenticate where it applies."""
    headers = None
    retry_after = getattr(problem, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, int(retry_after)))}
    if problem.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return problem_response(problem.to_dict(), headers)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, Problem):
        raise exc
    if is_refusal(exc):
        await audit_refusal(request, exc)
    return render_problem(exc)


def database_error_response(path: str, exc: Exception) -> JSONResponse:
    """Database errors: an outage is a 503 with Retry-After, a lost race a 409; anything
    else is a bug, logged and answered with a 500."""
    problem = database_problem(exc)
    if problem is None:
        return crash_response(path)
    logger.warning("api.database_error", extra={"path": path, "error": type(exc).__name__})
    return render_problem(problem)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    return database_error_response(request.url.path, exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]  # ``input`` is left out on purpose: it may hold secrets such as eab_hmac_key.
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return problem_response(
        {
            "type": PROBLEM_BASE + "validation-error",
            "title": "The request is not valid",
            "status": 422,
            "detail": summary,
            "errors": errors,
        }
    )


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    slug, title = _HTTP_SLUGS.get(exc.status_code, (f"http-{exc.status_code}", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        {"type": PROBLEM_BASE + slug, "title": title, "status": exc.status_code, "detail": detail},
        dict(exc.headers) if exc.headers else None,
    )


def crash_response(path: str) -> JSONResponse:
    """Called while an unexpected error is handled: logs it with its traceback."""
    logger.exception("api.unhandled", extra={"path": path})
    return problem_response(Problem("the server failed; the error was logged").to_dict())


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _on_database_error)
    # Any other error reaches services.api.boundary.ResponseBoundary (a handler for
    # Exception here would answer, then re-raise: logged twice, the connection dropped).
