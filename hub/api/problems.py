"""One handler turns every error into an RFC 9457 problem document (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import HubError, RateLimitedError

logger = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
_BASE = "https://tracseq.example/problems/"
_HTTP = {
    401: ("Not authenticated", "unauthenticated"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    413: ("Payload too large", "too-large"),
}


def document(
    status: int, title: str, detail: str, slug: str, *, instance: str, request_id: str | None, **extra: Any
) -> dict[str, Any]:
    """The problem document itself; also used by the ASGI middleware that answers before the app runs."""
    return {
        "type": _BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }


def problem(request: Request, status: int, title: str, detail: str, slug: str, **extra: Any) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = document(status, title, detail, slug, instance=request.url.path, request_id=request_id, **extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub(request: Request, exc: HubError) -> JSONResponse:
        extra = dict(exc.extra.items())
        if isinstance(exc, RateLimitedError):
            extra["retry_after"] = exc.retry_after
        return problem(request, exc.status, exc.title, exc.detail, exc.type_slug, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return problem(request, 422, "Validation failed", "the request is not valid", "validation", errors=errors)

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> JSONResponse:
        """A domain model built from a valid request can still refuse its values (a rule across fields):
        the caller's input, so a 422 like any other."""
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        return problem(request, 422, "Validation failed", "the request is not valid", "validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title, slug = _HTTP.get(exc.status_code, ("Error", "http"))
        return problem(request, exc.status_code, title, str(exc.detail), slug)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("22"):  # SQL "data exception": the input, not the hub
            detail = "the request holds a value the database cannot store (a NUL character, a text too long)"
            return problem(request, 422, "Validation failed", detail, "validation")
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "Internal error", "the hub could not complete the request", "internal")
