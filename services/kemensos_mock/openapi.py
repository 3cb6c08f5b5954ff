"""OpenAPI `responses` entries the routers share (all error bodies are ``shared.errors.ErrorBody``)."""

from __future__ import annotations

from typing import Any

from shared.errors import ErrorBody


def _error(description: str, error: str, detail: str, field: str | None = None,
           rule: str | None = None) -> dict[str, Any]:
    example: dict[str, Any] = {"error": error, "detail": detail, "errors": []}
    if field and rule:
        example["errors"] = [{"field": field, "rule": rule, "message": detail}]
    return {"model": ErrorBody, "description": description,
            "content": {"application/json": {"example": example}}}


UNAUTHORIZED = _error("Missing or invalid bearer credential", "Unauthorized",
                      "a bearer credential is required (Authorization: Bearer <token>)")

# What fault injection (off by default) may answer on any /api/v1 call but the admin ones.
FAULTS: dict[int | str, dict[str, Any]] = {
    429: _error("Injected rate limit; honour `Retry-After`", "RateLimited", "injected fault: too many requests"),
    500: _error("Injected server error", "InjectedFailure", "injected fault: HTTP 500"),
    502: _error("Injected bad gateway", "InjectedFailure", "injected fault: HTTP 502"),
    503: _error("Injected unavailability", "InjectedFailure", "injected fault: HTTP 503"),
    504: _error("Injected timeout (after hanging `timeout_s`)", "InjectedFailure",
                "injected fault: upstream timed out"),
}


def invalid(field: str, rule: str, detail: str) -> dict[str, Any]:
    return _error("Malformed input; `errors` names each field and the rule it broke", "InvalidInput",
                  f"{field}: {detail}", field, rule)


def not_found(field: str, detail: str) -> dict[str, Any]:
    return _error("No such record", "NotFound", detail, field, "not_found")


def conflict(field: str, detail: str) -> dict[str, Any]:
    return _error("Conflicts with the registry's state", "Conflict", detail, field, "unique")


def ok(example: object) -> dict[str, Any]:
    """A 200 entry with an example body."""
    return {"content": {"application/json": {"example": example}}}
