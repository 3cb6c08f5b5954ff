"""The monitoring that ships with the stack: alert rules valid and unit-tested by promtool, every metric the
alerts and the dashboard use is one the services expose, and Prometheus / Grafana wired in docker-compose."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jembatan.stack import DEFAULT_PORTS, SERVICES
from shared.testing import on_ci

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if on_ci():
            pytest.fail("promtool missing: `python3 run.py test` installs it (Debian's prometheus package)")
        pytest.skip("promtool missing: `python3 run.py test` installs it as root (apt-get install prometheus)")
    return found


def test_alert_rules_are_valid() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(PROM / "alerts.yml")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_the_series_that_should_fire_them_and_not_before() -> None:
    result = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=PROM, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_named_in_the_brief_exists() -> None:
    names = {r["alert"] for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    assert {"JembatanRunStuck", "JembatanDeadLettersGrowing", "JembatanReplicaLagging", "JembatanHighErrorRate",
            "Jembatan5xx"} <= names


def exposed_metric_names(tmp_path: Path) -> set[str]:
    """What the services expose: the process-level families and the hub's database gauges (on a new hub)."""
    from prometheus_client import REGISTRY
    from prometheus_client.core import Metric

    from services.sync_hub.ops.metrics import HubCollector
    from shared.db import make_engine, migrate
    from shared.observability import metrics

    assert metrics.HTTP_REQUESTS is not None
    names: set[str] = set()

    def add(family: Metric) -> None:
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + x for x in ("_bucket", "_sum", "_count"))

    for family in REGISTRY.collect():
        add(family)
    from services.sync_hub.main import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(MIGRATIONS, url)

    class _App:
        class state:  # stands for FastAPI's app.state
            engine = make_engine(url)

    for family in HubCollector(_App()).collect():  # type: ignore[arg-type]
        add(family)
    return names


def used_metric_names() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used.setdefault("alerts.yml", set()).update(re.findall(r"\bjembatan_[a-z_]+", rule["expr"]))
    dashboard = json.loads((GRAFANA / "dashboards" / "jembatan.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used.setdefault("jembatan.json", set()).update(re.findall(r"\bjembatan_[a-z_]+", target["expr"]))
    return used


def test_alerts_and_dashboard_use_only_metrics_the_services_expose(tmp_path: Path) -> None:
    exposed = exposed_metric_names(tmp_path)
    for where, names in used_metric_names().items():
        assert names, where
        assert names <= exposed, f"{where} uses {sorted(names - exposed)}, which no service exposes"


def test_compose_runs_prometheus_with_the_alerts_and_grafana_with_the_dashboard() -> None:
    prom, grafana = COMPOSE["services"]["prometheus"], COMPOSE["services"]["grafana"]
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in prom["volumes"] if v.startswith("./"))
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./deploy/prometheus/alerts.yml"] in config["rule_files"]
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{s}:{DEFAULT_PORTS[s]}" for s in SERVICES}
    assert {job["metrics_path"] for job in config["scrape_configs"]} == {"/metrics"}
    # Grafana: the datasource points at the compose Prometheus; the dashboards folder is the one mounted
    gmounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert gmounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    [source] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == f"http://prometheus:{prom['ports'][0].split(':')[1]}"
    [provider] = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "jembatan.yml").read_text())["providers"]
    assert gmounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    dashboard = json.loads((GRAFANA / "dashboards" / "jembatan.json").read_text())
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {source["uid"]}
    assert "${GRAFANA_ADMIN_PASSWORD" in grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_and_ready_are_open_routes_of_every_service(service: str) -> None:
    settings = importlib.import_module(f"services.{service}.config").Settings()
    app = importlib.import_module(f"services.{service}.main").create_app(settings)
    paths = {getattr(r, "path", None) for r in app.routes}
    assert {"/metrics", "/ready", "/health"} <= paths
    probe = " ".join(COMPOSE["services"][service]["healthcheck"]["test"])
    assert f"127.0.0.1:{DEFAULT_PORTS[service]}/ready'" in probe  # compose waits for readiness, not liveness
