"""OpenAPI that integrators can use as it is: every service's spec is finished here, once.

* operation ids read ``{tag}_{name}`` (``sync_runs_start_run``), not FastAPI's ``start_run_api_v1_sync_runs_post``;
* a bearer security scheme (Swagger's Authorize button) required by every ``/api`` route;
* every error answer documented as an RFC 9457 problem (``application/problem+json``, ``shared.errors.ErrorBody``)
  with an example: 401 on every ``/api`` route, 403 where the caller's role or scope is checked, 404 where the
  path names a record, 422 wherever there is input, plus what a route declares itself (409, 412, 428, 503...);
* an example for every JSON request body and answer: the route's own when it gives one, otherwise one built
  from the schema (field examples, defaults, enums, formats and patterns), so that Swagger's "Try it out" and
  generated clients' tests start from something that has the right shape.

``docs/openapi/<service>.json`` are these specs, written by ``jembatan openapi`` and checked for drift by
``tests/test_openapi.py``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from shared.errors import PROBLEM_JSON, problem_type

BEARER = "bearer"
_ERROR_REF = "#/components/schemas/ErrorBody"

# (title, a detail that reads like the real one, optional (field, rule)) of the statuses added automatically
_GENERIC: dict[int, tuple[str, str, str, tuple[str, str] | None]] = {
    401: ("Unauthorized", "Missing or invalid bearer credential",
          "a bearer credential is required (Authorization: Bearer <token>)", ("authorization", "missing")),
    403: ("Forbidden", "The credential's role or scope does not allow this call",
          "this credential may not read or change this record", ("authorization", "scope")),
    404: ("NotFound", "No record with this id", "no record with this id", None),
    409: ("Conflict", "Conflicts with the current state", "conflicts with the current state", None),
    412: ("PreconditionFailed", "`If-Match` names a version the record no longer has",
          "the record changed since it was read; read it again and re-apply the edit", ("if-match", "stale")),
    422: ("InvalidInput", "Malformed input; `errors` names each field and the rule it broke",
          "limit: Input should be less than or equal to 1000", ("limit", "less_than_equal")),
    428: ("PreconditionRequired", "`If-Match` is required", "send If-Match with the ETag you read",
          ("if-match", "required")),
    429: ("RateLimited", "Too many requests; honour `Retry-After`", "too many requests", None),
    503: ("UpstreamFailure", "A dependency is unavailable; retry later", "the registry is unavailable", None),
}


def operation_id(route: APIRoute) -> str:
    """``{tag}_{name}``: the route's first tag (spaces and punctuation as ``_``) and its function's name."""
    tag = route.tags[0] if route.tags else "ops"
    return f"{re.sub(r'[^a-z0-9]+', '_', str(tag).lower()).strip('_')}_{route.name}"


def problem_example(error: str, status: int, detail: str, field_rule: tuple[str, str] | None = None,
                    instance: str = "/api/v1/...") -> dict[str, Any]:
    from shared.errors import _TITLES

    return {"type": problem_type(error), "title": _TITLES.get(error, error), "status": status, "error": error,
            "detail": detail, "instance": instance,
            "errors": [{"field": field_rule[0], "rule": field_rule[1], "message": detail}] if field_rule else []}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name] if "components" in spec else spec["$defs"][name]
    return schema


_PATTERN_DIGITS = re.compile(r"^\^\\d\{(\d+)\}\$$")


_ATOM = re.compile(r"(\\d|\\w|\[(?:\\.|[^\]])+\]|\\.|[^\\\[\](){}+*?|^$])(\{\d+(?:,\d*)?\}|[+*?])?")


def _from_pattern(pattern: str) -> str | None:
    """A string matching a simple anchored pattern (literals, ``\\d``, classes, quantifiers), or None."""
    body = pattern.removeprefix("^").removesuffix("$")
    out, pos = "", 0
    while pos < len(body):
        m = _ATOM.match(body, pos)
        if not m:
            return None
        atom, quant = m.group(1), m.group(2) or ""
        if atom in ("\\d", "\\w"):
            char = "1"
        elif atom.startswith("["):
            inner = atom[1:-1]
            char = "1" if inner.startswith("\\d") else inner[1] if inner.startswith("\\") else inner[0]
        elif atom.startswith("\\"):
            char = atom[1]
        else:
            char = atom
        count = int(quant[1:-1].split(",")[0]) if quant.startswith("{") else {"": 1, "+": 1, "*": 0, "?": 0}[quant]
        out += char * count
        pos = m.end()
    return out if re.fullmatch(pattern, out) else None


def _string_example(s: dict[str, Any], name: str) -> str:
    fmt = s.get("format")
    if fmt == "date-time":
        return "2026-07-01T08:00:00Z"
    if fmt == "date":
        return "2026-07-01"
    if fmt == "uuid":
        return "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    pattern = s.get("pattern", "")
    if pattern == r"^[0-9a-f-]{36}$":
        return "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    m = _PATTERN_DIGITS.match(pattern)
    if m:
        n = int(m.group(1))
        return ("3201" + "0" * 20)[: n - 1] + "1" if n > 4 else "1" * n
    if pattern and (made := _from_pattern(pattern)) is not None:
        return made
    length = s.get("minLength", 0)
    base = name or "string"
    return base if len(base) >= length else base + "x" * (length - len(base))


def example_of(schema: dict[str, Any], spec: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """An example value for ``schema`` (an OpenAPI schema object, ``$ref`` resolved against ``spec``)."""
    schema = _resolve(schema, spec)
    for key in ("example", "default", "const"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(o, spec).get("type") != "null"]
            return example_of(options[0], spec, name, depth) if options else None
    if "allOf" in schema:
        return example_of(schema["allOf"][0], spec, name, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        props = schema.get("properties", {})
        out = {k: example_of(v, spec, k, depth + 1) for k, v in props.items()}
        if not props and isinstance(schema.get("additionalProperties"), dict):
            out = {"key": example_of(schema["additionalProperties"], spec, "value", depth + 1)}
        return out
    if kind == "array":
        return [example_of(schema.get("items", {}), spec, name, depth + 1)] if depth <= 6 else []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    if kind == "string":
        return _string_example(schema, name)
    return None


def finish(spec: dict[str, Any], app: FastAPI, *, scoped: bool, security_description: str) -> dict[str, Any]:
    """Complete a spec made by FastAPI (see the module's docstring); ``scoped``: routes check a role or scope."""
    components = spec.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    if not schemes:
        schemes[BEARER] = {"type": "http", "scheme": "bearer", "description": security_description}
    default_security = [{name: []} for name in schemes][:1]
    for path, ops in spec.get("paths", {}).items():
        for op in ops.values():
            is_api = path.startswith("/api/")
            if is_api and "security" not in op:
                op["security"] = default_security
            responses: dict[str, Any] = op.setdefault("responses", {})
            statuses = set()
            if is_api:
                statuses.add(401)
                if scoped:
                    statuses.add(403)
            if "{" in path:
                statuses.add(404)
            if op.get("parameters") or op.get("requestBody"):
                statuses.add(422)
            if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in op.get("parameters", [])):
                statuses.add(409)  # the first request with this key is still being answered
            elif not is_api:
                responses.pop("422", None)
                responses.pop("401", None)
            for status in statuses:
                responses.setdefault(str(status), {"description": _GENERIC[status][1]})
            for code, answer in responses.items():
                if not code.isdigit():
                    continue
                status = int(code)
                if status >= 400:
                    _problem(answer, status, path)
                elif 200 <= status < 300:
                    _example_answer(answer, spec)
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                if "schema" in media and "example" not in media and "examples" not in media:
                    media["example"] = example_of(media["schema"], spec)
    return spec


def _problem(answer: dict[str, Any], status: int, path: str) -> None:
    content = answer.get("content", {})
    given = next((m.get("example") for m in content.values() if "example" in m), None)
    generic = _GENERIC.get(status)
    if isinstance(given, dict) and "error" in given:
        example = problem_example(given["error"], status, given.get("detail", ""), None, path)
        example["errors"] = given.get("errors", [])
    elif generic:
        example = problem_example(generic[0], status, generic[2], generic[3], path)
    else:
        example = problem_example("HTTPError", status, answer.get("description", "error"), None, path)
    answer["content"] = {PROBLEM_JSON: {"schema": {"$ref": _ERROR_REF}, "example": example}}


def _example_answer(answer: dict[str, Any], spec: dict[str, Any]) -> None:
    for media_type, media in answer.get("content", {}).items():
        if "json" not in media_type or "example" in media or "examples" in media:
            continue
        if media.get("schema"):
            media["example"] = example_of(media["schema"], spec)


def install(app: FastAPI, *, scoped: bool, security_description: str) -> None:
    """Replace ``app.openapi`` by one that finishes FastAPI's spec (once, cached like FastAPI's own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                               description=app.description, routes=app.routes, tags=app.openapi_tags,
                               servers=app.servers)
            spec.setdefault("components", {}).setdefault("schemas", {})
            if "ErrorBody" not in spec["components"]["schemas"]:
                from shared.errors import ErrorBody

                spec["components"]["schemas"]["ErrorBody"] = ErrorBody.model_json_schema(
                    ref_template="#/components/schemas/{model}")
            app.openapi_schema = finish(spec, app, scoped=scoped, security_description=security_description)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def errors(**by_status: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for a route's own error statuses: ``errors(e409="the case is already decided")``.
    Each is rendered as an RFC 9457 problem with an example by ``finish``."""
    from shared.errors import ErrorBody

    return {int(key.lstrip("e")): {"model": ErrorBody, "description": text} for key, text in by_status.items()}


def body_example(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """``openapi_extra`` giving a route's JSON body an example built from ``model``'s schema, with ``fields``
    set (``None`` drops the field): for bodies whose fields depend on each other."""
    schema = model.model_json_schema()
    example = example_of(schema, schema)
    for key, value in fields.items():
        if value is None:
            example.pop(key, None)
        else:
            example[key] = value
    return {"requestBody": {"content": {"application/json": {"example": example}}}}
