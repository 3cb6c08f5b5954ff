"""Every route, bad input of every kind: a 422 naming the field and the rule, and nothing changes.

The cases are generated from the app's own OpenAPI document, so a new route is swept without anyone
listing it: each path parameter malformed, an unknown query parameter, each typed query parameter with a
wrong value, and for a body: not JSON, the wrong JSON type, required fields left out, an unknown field,
each top-level field with a value of the wrong type, a list one over its limit (1,001 items), and each
16-digit number (NIK, KK) malformed, at the top and inside list items; and at every depth below the top
(``items[0].kehadiran[0].alpa``, ``items[0].provenance.source_system``): each field with a value of the
wrong type, each number one below its minimum and one above its maximum, each 16-digit number
malformed, an unknown field in each strict object. The valid base of a body is the route's own
documented example, which is checked to be accepted, too.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.kemensos_mock.main import create_app
from services.kemensos_mock.storage import metadata
from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN, make_settings

SPEC: dict[str, Any] = create_app(make_settings("sqlite://")).openapi()
NOT_JSON = object()
WRONG = {"integer": "not-a-number", "number": "not-a-number", "boolean": "maybe", "string": 12345,
         "array": "not-a-list", "object": 7}


def resolve(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Follow ``$ref`` and single-branch ``anyOf`` (an optional field) to the schema that says the type."""
    while schema:
        if "$ref" in schema:
            schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
            if len(branches) != 1:
                return {}
            schema = branches[0]
        else:
            return schema
    return {}


def is_digits16(schema: dict[str, Any]) -> bool:
    return resolve(schema).get("pattern") == r"^\d{16}$"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    field: str | None  # the field the error must name (None: any)
    rule: str | None  # the rule it must name (None: any)
    what: str

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.what}"


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in SPEC["paths"].items():
        if path.startswith("/api/"):
            for method, op in ops.items():
                yield method.upper(), path, op


def path_example(param: dict[str, Any]) -> str:
    examples = param.get("examples") or resolve(param.get("schema")).get("examples")
    assert examples, f"path parameter {param['name']} has no example in the OpenAPI document"
    return str(examples[0] if isinstance(examples, list) else next(iter(examples.values()))["value"])


def body_examples(op: dict[str, Any]) -> list[Any]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return [e["value"] for e in content.get("examples", {}).values()]


def body_cases(method: str, path: str, op: dict[str, Any]) -> Iterator[Case]:
    schema = resolve(op["requestBody"]["content"]["application/json"]["schema"])
    examples = body_examples(op)
    assert examples, f"{method} {path}: the request body has no example"
    base = max(examples, key=lambda e: len(e) if isinstance(e, dict) else 0)

    def case(body: Any, field: str | None, rule: str | None, what: str) -> Case:
        return Case(method, path, {}, body, field, rule, what)

    yield case(NOT_JSON, None, "json_invalid", "not JSON")
    yield case("a string", None, None, "wrong JSON type")
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        yield case({}, name, "missing", f"without {name}")
    if schema.get("additionalProperties") is False:
        yield case({**base, "bogus_field": 1}, "bogus_field", "extra_forbidden", "unknown field")
    for name, prop in properties.items():
        kind = resolve(prop).get("type")
        if kind in WRONG:
            yield case({**base, name: WRONG[kind]}, name, None, f"{name} of the wrong type")
        if is_digits16(prop):
            yield case({**base, name: "32010147051200O1"}, name, "string_pattern_mismatch", f"{name} malformed")
        target = resolve(prop)
        if target.get("type") == "array" and target.get("maxItems") and isinstance(base.get(name), list):
            item = base[name][0] if base[name] else None
            if item is not None:
                yield case({**base, name: [item] * (target["maxItems"] + 1)}, name, "too_long",
                           f"{name} with {target['maxItems'] + 1} items")
                items = resolve(target.get("items"))
                if is_digits16(target.get("items", {})):
                    yield case({**base, name: [item, "123"]}, f"{name}[1]", "string_pattern_mismatch",
                               f"{name}[1] malformed")
                for inner, inner_schema in items.get("properties", {}).items():
                    if is_digits16(inner_schema) and isinstance(item, dict):
                        bad = copy.deepcopy(base)
                        bad[name] = [item, {**item, inner: "123"}]
                        yield case(bad, f"{name}[1].{inner}", "string_pattern_mismatch", f"{name}[1].{inner} malformed")
    for where, value, rule, what in nested(schema, base, ()):
        field = field_name(where)
        yield case(put_at(base, where, value), field, rule, what)


def field_name(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def nested(schema: dict[str, Any] | None, value: Any, path: tuple[str | int, ...]) -> Iterator[
        tuple[tuple[str | int, ...], Any, str | None, str]]:
    """(where, bad value, rule, what) for every field below the top level of the example ``value``."""
    target = resolve(schema)
    if target.get("type") == "array" and isinstance(value, list) and value:
        yield from nested(target.get("items"), value[0], (*path, 0))
    if target.get("type") != "object" or not isinstance(value, dict):
        return
    if len(path) > 1 and target.get("additionalProperties") is False:
        yield (*path, "bogus_field"), 1, "extra_forbidden", f"{field_name(path)} with an unknown field"
    for name, prop in target.get("properties", {}).items():
        if name not in value:
            continue
        where, inner = (*path, name), resolve(prop)
        if len(where) > 2 or (len(where) == 2 and isinstance(where[1], str)):
            kind = inner.get("type")
            if kind in WRONG:
                yield where, WRONG[kind], None, f"{field_name(where)} of the wrong type"
            if kind == "integer" and "minimum" in inner:
                yield where, inner["minimum"] - 1, "greater_than_equal", f"{field_name(where)} below its minimum"
            if kind == "integer" and "maximum" in inner:
                yield where, inner["maximum"] + 1, "less_than_equal", f"{field_name(where)} above its maximum"
            if is_digits16(prop):
                yield where, "32010147051200O1", "string_pattern_mismatch", f"{field_name(where)} malformed"
        yield from nested(prop, value[name], where)


def put_at(body: Any, where: tuple[str | int, ...], value: Any) -> Any:
    out = copy.deepcopy(body)
    node = out
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    return out


def cases() -> list[Case]:
    out: list[Case] = []
    for method, path, op in operations():
        params = op.get("parameters", [])
        values = {p["name"]: path_example(p) for p in params if p["in"] == "path"}
        filled = path.format(**values)
        body = body_examples(op)[0] if "requestBody" in op else None
        for param in (p for p in params if p["in"] == "path"):
            bad = path.format(**{**values, param["name"]: "12AB"})
            out.append(Case(method, bad, {}, body, param["name"], "string_pattern_mismatch",
                            f"path {param['name']} malformed"))
        out.append(Case(method, filled, {"bogus_param": "1"}, body, "bogus_param", "extra_forbidden",
                        "unknown query parameter"))
        for param in (p for p in params if p["in"] == "query"):
            schema = resolve(param.get("schema"))
            if schema.get("type") == "integer":
                out.append(Case(method, filled, {param["name"]: "many"}, None, param["name"], "int_parsing",
                                f"query {param['name']} not a number"))
            elif "enum" in schema:
                out.append(Case(method, filled, {param["name"]: "NOPE"}, None, param["name"], "enum",
                                f"query {param['name']} not in the enum"))
            elif "pattern" in schema or "maxLength" in schema:
                out.append(Case(method, filled, {param["name"]: "x" * 300}, None, param["name"], None,
                                f"query {param['name']} malformed"))
        if "requestBody" in op:
            out += [Case(c.method, filled, c.query, c.body, c.field, c.rule, c.what)
                    for c in body_cases(method, path, op)]
    return out


CASES = cases()


# ---- the app under the sweep: one registry for the whole module, checked unchanged after each case ----


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, template_db: Path) -> Iterator[FastAPI]:
    target = tmp_path_factory.mktemp("sweep") / "kemensos.db"
    shutil.copyfile(template_db, target)
    app = create_app(make_settings(f"sqlite:///{target}"))
    with TestClient(app):
        yield app


def state(app: FastAPI) -> dict[str, Any]:
    """Everything a request could change: the row count of every table, the change sequence, the fault
    and rate-limit settings."""
    with app.state.engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}
        seq = conn.execute(select(metadata.tables["registry_sequence"].c.value)).scalar()
    return {"counts": counts, "seq": seq, "faults": app.state.faults.config, "limits": app.state.limiter.limits}


def send(app: FastAPI, case: Case) -> Any:
    token = ADMIN_TOKEN if case.path.startswith("/api/v1/admin") else API_TOKEN
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    if case.body is NOT_JSON:
        return client.request(case.method, case.path, params=case.query, content=b'{"niks": [',
                              headers={"Content-Type": "application/json"})
    return client.request(case.method, case.path, params=case.query, json=case.body)


def test_the_sweep_covers_every_route() -> None:
    swept = {(c.method, c.path.split("?")[0]) for c in CASES}
    assert len(CASES) > 150
    assert len({m for m, _ in swept}) == 5 and any(p.endswith("/pecah") for _, p in swept)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_a_422_naming_field_and_rule_and_changes_nothing(app: FastAPI, case: Case) -> None:
    before = state(app)
    response = send(app, case)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "InvalidInput" and body["detail"]
    errors = body["errors"]
    assert errors and all(e["field"] is not None and e["rule"] and e["message"] for e in errors)
    named = [(e["field"], e["rule"]) for e in errors]
    if case.field is not None:
        assert any(f == case.field for f, _ in named) or (case.field and case.rule is None and named), named
    if case.rule is not None:
        assert any(r == case.rule and (case.field is None or f == case.field) for f, r in named), named
    assert state(app) == before


@pytest.mark.parametrize(("method", "path", "op"), list(operations()), ids=lambda v: str(v)[:60])
def test_every_route_documents_examples(method: str, path: str, op: dict[str, Any]) -> None:
    assert op.get("summary") and op.get("description"), f"{method} {path}"
    assert "example" in op["responses"]["200"]["content"]["application/json"], f"{method} {path}: 200 example"
    assert "401" in op["responses"] and "422" in op["responses"], f"{method} {path}: error responses"
    if "requestBody" in op:
        assert body_examples(op), f"{method} {path}: request example"


@pytest.mark.parametrize(("method", "path", "example"), [
    (m, p, e) for m, p, op in operations() if "requestBody" in op for e in body_examples(op)
], ids=lambda v: str(v)[:40])
def test_every_documented_request_example_is_accepted(loaded_url: str, method: str, path: str,
                                                      example: Any) -> None:
    op = SPEC["paths"][path][method.lower()]
    values = {p["name"]: path_example(p) for p in op.get("parameters", []) if p["in"] == "path"}
    app = create_app(make_settings(loaded_url))
    token = ADMIN_TOKEN if path.startswith("/api/v1/admin") else API_TOKEN
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.request(method, path.format(**values), json=example)
    assert response.status_code in (200, 404, 409), response.text  # examples name families of their own
