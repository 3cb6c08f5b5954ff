"""One error envelope for every service, and the exception tree that produces it.

Every non-2xx answer is an RFC 9457 problem (``Content-Type: application/problem+json``) with the body
``{"type": "urn:jembatan:problem:<name>", "title", "status", "detail", "instance", "error": "<Name>",
"errors": [{"field", "rule", "message"}]}``: the RFC's members plus the envelope every client already reads
(``error``, ``detail``, ``errors``). docs/errors.md lists the problem types. Clients parse it back into typed
exceptions.

Personal data never goes back in an error: a validation error names the field and the rule, never the value
the caller sent (pydantic's ``input`` is not rendered), messages are written without NIK, KK numbers or
names, and as a safety net every run of 15 or more digits in an error body (a NIK, a KK number, one with a
digit too many) is masked to its first six and last four digits (``scrub``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("jembatan.errors")
_LONG_DIGITS = re.compile(r"(?<!\d)(\d{6})(\d{5,})(\d{4})(?!\d)")


def scrub(text: str) -> str:
    """``text`` with every run of 15 or more digits (NIK- or KK-shaped) masked as ``PPKKCC******SSSS``."""
    return _LONG_DIGITS.sub(lambda m: f"{m.group(1)}******{m.group(3)}", text)


class FieldError(BaseModel):
    field: str
    rule: str
    message: str


PROBLEM_JSON = "application/problem+json"
_TITLES = {
    "InvalidInput": "Malformed input", "NotFound": "No such record", "Conflict": "Conflicts with the current state",
    "Unauthorized": "Missing or invalid bearer credential", "Forbidden": "Not allowed for this caller",
    "RateLimited": "Too many requests", "UpstreamFailure": "A dependency failed",
    "MethodNotAllowed": "Method not allowed", "PreconditionFailed": "The record changed since it was read",
    "PreconditionRequired": "If-Match is required", "IdempotencyConflict": "Idempotency-Key reused with another body",
    "InternalError": "Internal error", "DatabaseUnavailable": "The service's database is not available now",
}


def problem_type(error: str) -> str:
    """The RFC 9457 ``type`` of an error name: ``InvalidInput`` -> ``urn:jembatan:problem:invalid-input``."""
    return "urn:jembatan:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", error).lower()


class ErrorBody(BaseModel):
    """The error envelope, an RFC 9457 problem. ``type``/``title``/``status``/``instance`` are the RFC's members
    (optional here so that a client still reads answers of older servers); ``error``, ``detail`` and ``errors``
    are the envelope every Jembatan client reads."""

    type: str | None = Field(None, description="Problem type URI (urn:jembatan:problem:<name>; docs/errors.md)")
    title: str | None = Field(None, description="Short, fixed summary of the problem type")
    status: int | None = Field(None, description="The HTTP status code")
    error: str = Field(..., description="The error's name (InvalidInput, NotFound, Conflict, ...)")
    detail: str = Field(..., description="What went wrong in this occurrence (never repeats personal data)")
    instance: str | None = Field(None, description="The path of the request that failed")
    errors: list[FieldError] = Field([], description="Each field that broke a rule, and the rule")


class ApiError(Exception):
    """Base of every error a route may raise on purpose. Rendered with its class name."""

    status_code = 400

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, rule: str, message: str) -> ApiError:
        return cls(message, [FieldError(field=field, rule=rule, message=message)])


class InvalidInput(ApiError):
    status_code = 422


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class RateLimited(ApiError):
    status_code = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PreconditionFailed(ApiError):
    """``If-Match`` names a version the record no longer has (someone else edited it)."""

    status_code = 412


class PreconditionRequired(ApiError):
    status_code = 428


class IdempotencyConflict(ApiError):
    """An ``Idempotency-Key`` reused with another request body (or still being answered)."""

    status_code = 422


class UpstreamFailure(ApiError):
    """A dependency of this service failed; the caller may retry later."""

    status_code = 503


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "Missing or invalid bearer credential"),
        (422, "Malformed input; `errors` names each field and the rule it broke"),
    )
}


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or ".".join(str(p) for p in loc)


def _render(name: str, status: int, detail: str, errors: list[FieldError], headers: dict[str, str] | None = None,
            instance: str | None = None) -> JSONResponse:
    body = ErrorBody(type=problem_type(name), title=_TITLES.get(name, name), status=status, error=name,
                     detail=scrub(detail), instance=scrub(instance) if instance else None,
                     errors=[FieldError(field=scrub(e.field), rule=e.rule, message=scrub(e.message)) for e in errors])
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True), headers=headers,
                        media_type=PROBLEM_JSON)


def error_response(exc: ApiError, instance: str | None = None) -> JSONResponse:
    """The envelope for an error raised on purpose (also used by middleware, outside the handlers)."""
    headers = {"Retry-After": f"{max(1, round(exc.retry_after))}"} if isinstance(exc, RateLimited) else None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    return _render(type(exc).__name__, exc.status_code, exc.detail, exc.errors, headers, instance)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # field, rule and pydantic's message only: the offending ``input`` (FastAPI's default body has it) is
        # never echoed, whatever the field holds
        errors = [
            FieldError(field=_loc_to_field(tuple(e.get("loc", ()))), rule=str(e.get("type", "invalid")),
                       message=str(e.get("msg", "invalid value")))
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return _render("InvalidInput", 422, detail or "invalid input", errors, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized", 403: "Forbidden"}
        return _render(names.get(exc.status_code, "HTTPError"), exc.status_code, str(exc.detail), [],
                       getattr(exc, "headers", None), request.url.path)

    @app.exception_handler(sa_exc.DBAPIError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        """The database could not answer now (a lost connection: a restart, a failover; no pooled connection free in
        time; a deadlock chosen against this request): 503 with ``Retry-After``, as for a failing upstream; nothing
        was stored (the request's transaction rolled back). Any other database error is a bug: 500."""
        from shared.db import database_unavailable

        why = database_unavailable(exc)
        if why is None:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return _render("InternalError", 500, "internal error; see the service log", [], instance=request.url.path)
        log.warning("%s %s: 503, %s", request.method, request.url.path, why)
        return _render("DatabaseUnavailable", 503, "the service's database is not available now; nothing was "
                       "stored: try again shortly", [], {"Retry-After": "1"}, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - safety net
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _render("InternalError", 500, "internal error; see the service log", [], instance=request.url.path)
