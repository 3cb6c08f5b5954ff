"""Every route of every service is documented for integrators (issue 13 point 5), and docs/openapi/ is what the
code makes: a summary and a description, an example for each JSON body and answer, every error status as an
RFC 9457 problem with the error envelope, a bearer scheme on every /api route, ids ``{tag}_{name}``."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from jembatan import openapi as specs
from jembatan.stack import SERVICES
from services.sync_hub.deps import api_routes
from shared.errors import PROBLEM_JSON


@functools.cache
def _spec(service: str) -> dict[str, Any]:
    return specs.spec(service)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


@pytest.fixture(scope="module", params=SERVICES)
def service(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, _spec(request.param)


def test_every_route_has_a_summary_a_description_and_a_readable_operation_id(service) -> None:  # type: ignore[no-untyped-def]
    name, spec = service
    ids = []
    for method, path, op in _operations(spec):
        where = f"{name} {method} {path}"
        assert op.get("summary", "").strip(), f"{where}: no summary"
        assert len(op.get("description", "").strip()) >= 20, f"{where}: no description"
        tag = re.sub(r"[^a-z0-9]+", "_", op["tags"][0].lower()).strip("_")
        assert re.fullmatch(rf"{tag}_[a-z][a-z0-9_]*", op["operationId"]), f"{where}: operationId {op['operationId']}"
        assert "_api_v1_" not in op["operationId"], where
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


def test_every_api_route_requires_a_declared_bearer_scheme(service) -> None:  # type: ignore[no-untyped-def]
    name, spec = service
    schemes = spec["components"]["securitySchemes"]
    assert schemes and all(s == {**s, "type": "http", "scheme": "bearer"} for s in schemes.values())
    for method, path, op in _operations(spec):
        if path.startswith("/api/"):
            assert op.get("security"), f"{name} {method} {path}: no security"
            assert all(set(req) <= set(schemes) for req in op["security"])
            assert "401" in op["responses"], f"{name} {method} {path}: 401 undocumented"


def test_every_error_status_is_a_problem_with_the_envelope_and_an_example(service) -> None:  # type: ignore[no-untyped-def]
    name, spec = service
    envelope = spec["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"type", "title", "status", "detail", "instance", "error", "errors"} <= set(envelope)
    for method, path, op in _operations(spec):
        where = f"{name} {method} {path}"
        codes = set(op["responses"])
        if "{" in path:
            assert "404" in codes, f"{where}: 404 undocumented"
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in codes, f"{where}: 422 undocumented"
        for code, answer in op["responses"].items():
            if int(code) < 400:
                continue
            media = answer["content"][PROBLEM_JSON]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, f"{where} {code}"
            example = media["example"]
            assert example["status"] == int(code) and example["type"].startswith("urn:jembatan:problem:"), where
            assert {"error", "detail", "errors", "title"} <= set(example), f"{where} {code}"


def test_every_json_body_and_answer_has_an_example(service) -> None:  # type: ignore[no-untyped-def]
    name, spec = service
    for method, path, op in _operations(spec):
        where = f"{name} {method} {path}"
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if "json" in media_type:
                assert "example" in media or "examples" in media, f"{where}: request body without example"
        for code, answer in op["responses"].items():
            if code.startswith("2"):
                for media_type, media in answer.get("content", {}).items():
                    if "json" in media_type and media.get("schema"):
                        assert "example" in media or "examples" in media, f"{where} {code}: answer without example"


@pytest.mark.parametrize("name", SERVICES)
def test_request_body_examples_are_accepted_by_the_route_model(name: str) -> None:
    """The examples are not decoration: each JSON body example validates against the model the route parses."""
    import importlib

    app = importlib.import_module(f"services.{name}.main").create_app()
    spec = app.openapi()
    bad = []
    for method, path, route in api_routes(app):
        body = spec["paths"][path][method.lower()].get("requestBody", {}).get("content", {}).get("application/json")
        if not body or route.body_field is None:
            continue
        examples = [body["example"]] if "example" in body else [e["value"] for e in body["examples"].values()]
        try:
            for example in examples:
                TypeAdapter(route.body_field.field_info.annotation).validate_python(example)
        except ValidationError as exc:
            bad.append(f"{method} {path}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}")
    assert not bad, "\n".join(bad)


def test_hub_documents_no_scope_that_does_not_exist() -> None:
    """The hub has roles (viewer, reviewer, admin, auditor, gateway), no scopes: no field may promise one."""
    spec = specs.spec("sync_hub")
    assert "nik:read" not in specs.render("sync_hub")
    kk_fields = [(name, prop) for name, schema in spec["components"]["schemas"].items()
                 for key, prop in schema.get("properties", {}).items() if key == "no_kk"]
    assert kk_fields
    for name, prop in kk_fields:
        assert "scope" not in prop.get("description", ""), name


def test_published_specs_are_what_the_code_makes() -> None:
    assert specs.stale() == [], "docs/openapi is stale: run `jembatan openapi`"
