"""docker-compose.yml cannot run here (no Docker engine), so it is checked against the real services:
names, ports, settings, health paths, dependencies, Dockerfiles and database names."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

from jembatan.stack import DEFAULT_PORTS, PREFIX, SERVICES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_class(service: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{service}.config").Settings


def test_compose_runs_exactly_the_four_services_the_hub_workers_postgres_the_identity_provider_and_monitoring() -> None:
    assert set(COMPOSE["services"]) == {*SERVICES, "sync_hub_worker", "postgres", "oidc", "prometheus", "grafana"}
    assert "healthcheck" in COMPOSE["services"]["postgres"]


def test_hub_workers_run_the_real_worker_command_against_the_hubs_database() -> None:
    from typer.main import get_command

    from services.sync_hub.cli import app

    worker, hub = COMPOSE["services"]["sync_hub_worker"], COMPOSE["services"]["sync_hub"]
    assert worker["command"] == ["python", "-m", "services.sync_hub", "worker"]
    assert "worker" in get_command(app).commands  # type: ignore[attr-defined]
    assert worker["build"] == hub["build"] and worker["environment"] == hub["environment"]
    assert worker["depends_on"]["sync_hub"]["condition"] == "service_healthy"  # the API migrated the database
    assert worker["deploy"]["replicas"] >= 2
    assert "ports" not in worker


def test_each_gateway_has_a_process_per_hub_worker() -> None:
    """The hub's workers push result batches to a gateway at once; in one gateway process they wait for each other
    (two workers' push 1.42x one's with one gateway process, 1.72-2.14x with two: docs/benchmarks.md, "Session 15")."""
    replicas = COMPOSE["services"]["sync_hub_worker"]["deploy"]["replicas"]
    for service in ("emis_gateway", "dapodik_gateway"):
        environment = COMPOSE["services"][service]["environment"]
        workers = int(environment.get(f"{PREFIX[service]}WORKERS", settings_class(service)().workers))
        assert workers >= min(replicas, 2), service


@pytest.mark.parametrize("service", SERVICES)
def test_service_port_matches_settings_and_dockerfile(service: str) -> None:
    spec = COMPOSE["services"][service]
    default_port = settings_class(service).model_fields["port"].default
    assert default_port == DEFAULT_PORTS[service]
    assert spec["ports"] == [f"{default_port}:{default_port}"]
    assert spec["environment"][f"{PREFIX[service]}PORT"] == str(default_port)
    build = spec["build"]
    assert build["context"] == "." and build["args"] == {"SERVICE": service, "PORT": str(default_port)}
    dockerfile = (ROOT / build["dockerfile"]).read_text()
    assert "ARG SERVICE" in dockerfile and "EXPOSE ${PORT}" in dockerfile
    assert "python -m services.${SERVICE} serve" in dockerfile
    assert (ROOT / "services" / service / "__main__.py").exists()  # what `python -m services.<name>` runs


@pytest.mark.parametrize("service", SERVICES)
def test_every_environment_variable_is_a_real_setting(service: str) -> None:
    prefix = PREFIX[service]
    fields = set(settings_class(service).model_fields)
    for name in COMPOSE["services"][service]["environment"]:
        assert name.startswith(prefix), name
        assert name[len(prefix):].lower() in fields, f"{name} is not a setting of {service}"


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_hits_the_real_health_route(service: str) -> None:
    spec = COMPOSE["services"][service]
    probe = " ".join(spec["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\S+?)'", probe)
    assert match, probe
    assert int(match.group(1)) == DEFAULT_PORTS[service]
    app = importlib.import_module(f"services.{service}.main").create_app(settings_class(service)())
    assert match.group(2) in {getattr(r, "path", None) for r in app.routes}


@pytest.mark.parametrize("service", SERVICES)
def test_databases_are_separate_and_created(service: str) -> None:
    init = (ROOT / "deploy" / "postgres-init.sql").read_text()
    url = COMPOSE["services"][service]["environment"][f"{PREFIX[service]}DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")
    assert f"CREATE DATABASE {url.rsplit('/', 1)[1]};" in init
    depends = COMPOSE["services"][service]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"


def test_hub_waits_for_and_points_at_the_other_services() -> None:
    hub = COMPOSE["services"]["sync_hub"]
    for upstream, key in (("kemensos_mock", "KEMENSOS"), ("emis_gateway", "EMIS"), ("dapodik_gateway", "DAPODIK")):
        assert hub["depends_on"][upstream]["condition"] == "service_healthy"
        assert hub["environment"][f"HUB_{key}_URL"] == f"http://{upstream}:{DEFAULT_PORTS[upstream]}"
        # the hub presents the very token the upstream accepts for client "sync_hub"
        accepted = COMPOSE["services"][upstream]["environment"][f"{PREFIX[upstream]}API_TOKENS"]
        variable = re.search(r'"sync_hub": "(\$\{[A-Z_]+)', accepted)
        assert variable and hub["environment"][f"HUB_{key}_TOKEN"].startswith(variable.group(1))


def _tokens(service: str) -> dict[str, str]:
    raw = COMPOSE["services"][service]["environment"][f"{PREFIX[service]}API_TOKENS"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "x" * 20, raw))  # type: ignore[no-any-return]


def test_token_settings_are_json_maps_of_client_to_token() -> None:
    for service in SERVICES:
        if service != "sync_hub":
            assert "operator" in _tokens(service)
    # at the hub only machine clients hold static tokens, each speaking for one system; people use OIDC
    hub = settings_class("sync_hub")
    assert "operator" not in _tokens("sync_hub")
    assert set(_tokens("sync_hub")) <= set(hub.model_fields["client_systems"].default_factory())


def test_hub_trusts_the_compose_identity_provider_with_its_real_settings() -> None:
    """The hub's OIDC settings are real Settings fields and agree with the provider's realm: issuer, JWKS,
    audience, roles claim, the hub's roles; tokens are short-lived; the realm holds no users or secrets."""
    from services.sync_hub.deps import PERSON_ROLES

    env = COMPOSE["services"]["sync_hub"]["environment"]
    oidc = COMPOSE["services"]["oidc"]
    realm = json.loads((ROOT / "deploy" / "keycloak" / "jembatan-realm.json").read_text())
    mount = next(v for v in oidc["volumes"] if "jembatan-realm.json" in v)
    assert mount.startswith("./deploy/keycloak/jembatan-realm.json:/opt/keycloak/data/import/")
    assert "--import-realm" in oidc["command"]
    port = oidc["command"][-1].removeprefix("--http-port=")
    issuer = f"http://oidc:{port}/realms/{realm['realm']}"
    assert oidc["environment"]["KC_HOSTNAME"] == f"http://oidc:{port}"  # the `iss` every token carries
    assert env["HUB_OIDC_ISSUER"] == issuer
    assert env["HUB_OIDC_JWKS_URL"] == f"{issuer}/protocol/openid-connect/certs"
    mappers = {m["protocolMapper"]: m["config"] for c in realm["clients"] for m in c.get("protocolMappers", [])}
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == env["HUB_OIDC_AUDIENCE"]
    assert mappers["oidc-usermodel-realm-role-mapper"]["claim.name"] == env["HUB_OIDC_ROLES_CLAIM"]
    assert mappers["oidc-usermodel-realm-role-mapper"]["access.token.claim"] == "true"
    assert {r["name"] for r in realm["roles"]["realm"]} == set(PERSON_ROLES)
    assert realm["accessTokenLifespan"] <= 3600
    assert "users" not in realm and all(c.get("publicClient") and "secret" not in c for c in realm["clients"])
    assert COMPOSE["services"]["sync_hub"]["depends_on"]["oidc"]["condition"] == "service_healthy"
    hub = settings_class("sync_hub")
    for name in ("HUB_OIDC_ISSUER", "HUB_OIDC_AUDIENCE", "HUB_OIDC_JWKS_URL", "HUB_OIDC_ROLES_CLAIM"):
        assert name.removeprefix("HUB_").lower() in hub.model_fields
    settings = hub(**{k.removeprefix("HUB_").lower(): v for k, v in env.items() if k.startswith("HUB_OIDC_")},
                   api_tokens=_tokens("sync_hub"))  # the compose configuration validates
    assert settings.oidc_jwks_url == env["HUB_OIDC_JWKS_URL"]


def test_emis_gateway_asks_the_hub_with_a_token_the_hub_accepts() -> None:
    emis = COMPOSE["services"]["emis_gateway"]["environment"]
    assert emis["EMIS_HUB_URL"] == f"http://sync_hub:{DEFAULT_PORTS['sync_hub']}"
    accepted = COMPOSE["services"]["sync_hub"]["environment"]["HUB_API_TOKENS"]
    variable = re.search(r'"emis_gateway": "(\$\{[A-Z_]+)', accepted)
    assert variable and emis["EMIS_HUB_TOKEN"].startswith(variable.group(1))


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_image_installs_the_production_lock_without_dev_tools_at_the_tested_versions() -> None:
    """Issue 13 point 9: requirements.prod.lock is pyproject's runtime dependencies (no ``--extra dev``), pinned
    to the versions requirements.lock (what the tests ran with) holds; the Dockerfile installs it, not the dev lock.
    Regenerate: uv pip compile pyproject.toml -c requirements.lock -o requirements.prod.lock --python-version 3.11"""
    import tomllib

    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "requirements.prod.lock" in dockerfile and "requirements.lock" not in dockerfile.replace(
        "requirements.prod.lock", "")
    prod, dev = _pins(ROOT / "requirements.prod.lock"), _pins(ROOT / "requirements.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev_only = {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["optional-dependencies"]["dev"]}
    runtime = {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert not dev_only & set(prod), "dev tools in the production lock"
    assert {"pytest", "hypothesis", "ruff", "respx"}.isdisjoint(prod)
    assert {n.replace("_", "-") for n in runtime} <= set(prod)
    assert {n: v for n, v in prod.items() if dev.get(n) != v} == {}, "prod pins differ from the tested lock"
