"""Every non-2xx answer of a Jembatan service is an RFC 9457 problem; it becomes one of these exceptions.

``ApiError`` (any problem, ``.problem`` holds the body) is the base of ``InvalidInput`` (422: ``.problem.errors``
names each field and rule), ``NotFound`` (404), ``Conflict`` (409), ``PreconditionFailed`` (412: re-read and
re-apply), ``Unauthorized`` (401), ``Forbidden`` (403), ``RateLimited`` (429, ``.retry_after``) and
``Unavailable`` (5xx, or no answer at all: ``.problem`` is None then); ``UnexpectedAnswer`` is a 2xx whose body
does not fit the SDK's model.
"""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")
    field: str
    rule: str
    message: str


class Problem(BaseModel):
    """The error body: RFC 9457's members and Jembatan's envelope (``error``, ``detail``, ``errors``)."""

    model_config = ConfigDict(extra="allow")
    type: str | None = None
    title: str | None = None
    status: int | None = None
    error: str = "HTTPError"
    detail: str = ""
    instance: str | None = None
    errors: list[FieldError] = []


class ApiError(Exception):
    """``request_id``: the call's ``X-Request-ID`` (the service logs it): quote it when asking about a failure."""

    request_id: str | None = None

    def __init__(self, status: int | None, problem: Problem | None, message: str | None = None) -> None:
        self.status, self.problem = status, problem
        super().__init__(message or (f"{status} {problem.error}: {problem.detail}" if problem else f"HTTP {status}"))


class InvalidInput(ApiError): ...


class NotFound(ApiError): ...


class Conflict(ApiError): ...


class PreconditionFailed(ApiError): ...


class Unauthorized(ApiError): ...


class Forbidden(ApiError): ...


class RateLimited(ApiError):
    retry_after: float | None = None


class UnexpectedAnswer(ApiError):
    """A 2xx whose body does not fit the SDK's model: the service and this SDK disagree (upgrade the SDK)."""


class Unavailable(ApiError):
    """The service did not answer, or answered 5xx: the call may succeed later."""


_BY_STATUS: dict[int, type[ApiError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
                                         412: PreconditionFailed, 422: InvalidInput, 428: PreconditionFailed,
                                         429: RateLimited}


def error_for(status: int, body: bytes, retry_after: str | None = None, request_id: str | None = None) -> ApiError:
    try:
        problem: Problem | None = Problem.model_validate_json(body)
    except ValueError:
        problem = Problem(status=status, error="HTTPError", detail=body[:200].decode(errors="replace"))
    cls = Unavailable if status >= 500 else _BY_STATUS.get(status, ApiError)
    exc = cls(status, problem)
    exc.request_id = request_id
    if isinstance(exc, RateLimited) and retry_after:
        with contextlib.suppress(ValueError):
            exc.retry_after = float(retry_after)
    return exc
