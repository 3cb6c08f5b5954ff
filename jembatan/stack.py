"""Run the four services as local processes on 127.0.0.1, each with its own database.

Used by ``jembatan demo`` (the README's main job), by the end-to-end tests and by ``bench/``. Every
stack gets fresh bearer credentials; nothing secret is written anywhere but the child processes' env and
the local issuer's signing key (``<workdir>/keys``, 0600): people reach the hub with short-lived tokens it
signs (``Stack.hub_token``; the operator is an admin person), machines with their own credentials.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.oidc import LocalIssuer

SERVICES = ("kemensos_mock", "emis_gateway", "dapodik_gateway", "sync_hub")
PREFIX = {"kemensos_mock": "KEMENSOS_", "emis_gateway": "EMIS_", "dapodik_gateway": "DAPODIK_", "sync_hub": "HUB_"}
DEFAULT_PORTS = {"sync_hub": 8100, "kemensos_mock": 8101, "emis_gateway": 8102, "dapodik_gateway": 8103}
# Which world sub-directory each service loads.
WORLD_DIRS = {"kemensos_mock": "kemensos", "emis_gateway": "emis", "dapodik_gateway": "dapodik"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Credentials:
    """One bearer token per calling client: the hub to each upstream, the gateways to the hub, an operator to the
    gateways and the registry. (At the hub the operator is a person: ``Stack.hub_token``.)"""

    hub_to_kemensos: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hub_to_emis: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hub_to_dapodik: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    operator: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    emis_to_hub: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    dapodik_to_hub: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    kemensos_admin: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # registry edits (tests, bench)


_PROBLEM = re.compile(r'"level": "(WARNING|ERROR|CRITICAL)"|^\S+ \S+ (WARNING|ERROR|CRITICAL) ')


@dataclass
class Stack:
    workdir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    database_urls: dict[str, str] = field(default_factory=dict)
    creds: Credentials = field(default_factory=Credentials)
    log_level: str = "INFO"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # worker processes of the hub (PostgreSQL only: the embedded SQLite hub runs its jobs itself)
    hub_workers: int = 1
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service, e.g. {"sync_hub": {...}}

    @classmethod
    def on_free_ports(cls, workdir: Path, **options: Any) -> Stack:
        """A stack whose services listen on ports nobody holds now (tests and benchmarks: several stacks, one
        machine). ``options`` are the other fields (``database_urls``, ``log_level``, ``extra_env``, ...)."""
        return cls(workdir, ports={name: free_port() for name in SERVICES}, **options)

    @contextmanager
    def serving(self, world_dir: Path, clean_stop: bool = False) -> Iterator[Stack]:
        """Load ``world_dir`` into the upstream services, start every service, yield, stop them all.

        ``clean_stop``: raise unless every process ended by itself on SIGTERM (0, or -15: uvicorn re-raises
        SIGTERM after a graceful shutdown; -9 means it had to be killed). Not checked when the body raised."""
        self.load_world(world_dir)
        self.start()
        try:
            yield self
        finally:
            codes = self.stop()
        if clean_stop and not all(code in (0, -15) for code in codes.values()):
            raise RuntimeError(f"services did not stop cleanly: {codes}")

    @property
    def issuer(self) -> LocalIssuer:
        """The hub's local identity provider (the embedded default): its key in ``<workdir>/keys``."""
        return LocalIssuer(self.workdir / "keys")

    def hub_token(self, user: str = "operator", *roles: str, ttl_seconds: int = 3600) -> str:
        """A fresh token for a person at the hub (default: the operator, an admin), valid an hour."""
        return self.issuer.issue(user, roles or ("admin",), ttl_seconds=ttl_seconds)

    @property
    def hub_operator(self) -> str:
        """The operator's token at the hub: the person ``operator`` with the admin role (start and cancel runs,
        read runs and outcomes). Issued afresh on each use; reviewing takes a reviewer's token."""
        return self.hub_token("operator", "admin")

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def database_url(self, service: str) -> str:
        return self.database_urls.get(service) or f"sqlite:///{self.workdir / 'db' / f'{service}.db'}"

    def env(self, service: str) -> dict[str, str]:
        p = PREFIX[service]
        c = self.creds
        env = dict(os.environ)
        env.update({
            f"{p}DATABASE_URL": self.database_url(service),
            f"{p}HOST": "127.0.0.1",
            f"{p}PORT": str(self.ports[service]),
            f"{p}LOG_LEVEL": self.log_level,
            "PYTHONUNBUFFERED": "1",
        })
        tokens = {
            "kemensos_mock": {"sync_hub": c.hub_to_kemensos, "operator": c.operator},
            "emis_gateway": {"sync_hub": c.hub_to_emis, "operator": c.operator},
            "dapodik_gateway": {"sync_hub": c.hub_to_dapodik, "operator": c.operator},
            "sync_hub": {"emis_gateway": c.emis_to_hub, "dapodik_gateway": c.dapodik_to_hub},
        }[service]
        env[f"{p}API_TOKENS"] = json.dumps(tokens)
        if service == "kemensos_mock":
            env["KEMENSOS_ADMIN_TOKEN"] = c.kemensos_admin
        if service in ("emis_gateway", "dapodik_gateway"):  # "Request Data PKH" asks the hub
            env[f"{p}HUB_URL"] = self.url("sync_hub")
            env[f"{p}HUB_TOKEN"] = c.emis_to_hub if service == "emis_gateway" else c.dapodik_to_hub
        if service == "sync_hub":
            env.update({
                "HUB_KEMENSOS_URL": self.url("kemensos_mock"), "HUB_KEMENSOS_TOKEN": c.hub_to_kemensos,
                "HUB_EMIS_URL": self.url("emis_gateway"), "HUB_EMIS_TOKEN": c.hub_to_emis,
                "HUB_DAPODIK_URL": self.url("dapodik_gateway"), "HUB_DAPODIK_TOKEN": c.hub_to_dapodik,
                "HUB_LOCAL_KEY_DIR": str(self.workdir / "keys"),
            })
        env.update(self.extra_env.get(service, {}))
        return env

    def _cli(self, service: str, *args: str) -> None:
        cmd = [sys.executable, "-m", f"services.{service}", *args]
        result = subprocess.run(cmd, env=self.env(service), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def load_world(self, world_dir: Path, on_step: Callable[[str], None] | None = None) -> None:
        """Migrate each service's database and load its part of the world (all-or-nothing per service).
        ``on_step(service)`` is called as each service has been loaded (a progress bar follows it)."""
        for service, sub in WORLD_DIRS.items():
            self._cli(service, "load", str(world_dir / sub), "--replace")
            if on_step is not None:
                on_step(service)
        self._cli("sync_hub", "migrate")
        if on_step is not None:
            on_step("sync_hub")

    # seconds for every service to answer /health: a process that exits fails at once, a live one may be slow to
    # start on a loaded 2-core machine (two stacks starting at once beside a test suite took over 60 s)
    START_TIMEOUT = 180.0

    def start(self, timeout: float = START_TIMEOUT, services: Sequence[str] = SERVICES) -> None:
        """Start ``services`` (every one by default; a benchmark may start only the upstreams) and wait until each
        answers ``/health``; with the hub on PostgreSQL, its worker processes too."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        for service in services:
            log = (self.workdir / "logs" / f"{service}.log").open("ab")
            self.procs[service] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}", "serve"], env=self.env(service),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        for service in services:
            self._wait_healthy(service, deadline)
        if "sync_hub" in services and self.hub_on_postgres:
            for _ in range(self.hub_workers):
                self.start_worker()

    @property
    def hub_on_postgres(self) -> bool:
        return self.database_url("sync_hub").startswith("postgres")

    def start_worker(self) -> str:
        """Start one more hub worker process (``python -m services.sync_hub worker``); returns its name: the first
        ``sync_hub_worker_<n>`` no running worker has (after a kill, counting the workers gave the name of one still
        running, which was then forgotten and never stopped)."""
        n = 1
        while f"sync_hub_worker_{n}" in self.procs:
            n += 1
        name = f"sync_hub_worker_{n}"
        log = (self.workdir / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "services.sync_hub", "worker"],
                                            env=self.env("sync_hub"), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return name

    def kill(self, name: str) -> None:
        """SIGKILL one process (a crash: no clean shutdown) and forget it."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    def restart(self, service: str, timeout: float = START_TIMEOUT) -> None:
        """Start a service again (after ``kill``) and wait until it is healthy."""
        log = (self.workdir / "logs" / f"{service}.log").open("ab")
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}", "serve"], env=self.env(service),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_healthy(service, time.monotonic() + timeout)

    def _wait_healthy(self, service: str, deadline: float) -> None:
        while True:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited with {proc.returncode}; see {self.workdir}/logs/{service}.log")
            try:
                if httpx.get(f"{self.url(service)}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} not healthy in time; see {self.workdir}/logs/{service}.log")
            time.sleep(0.1)

    def problems(self, limit: int = 40) -> list[str]:
        """The WARNING, ERROR and CRITICAL lines of every process's log (JSON lines or text), oldest first per
        log, at most ``limit`` in all: what a test shows when the services answered something unexpected."""
        out: list[str] = []
        for path in sorted((self.workdir / "logs").glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if _PROBLEM.search(line[:120]):
                    out.append(f"{path.stem}: {line[:600]}")
        return out[:limit]

    def peak_rss_mib(self) -> dict[str, float]:
        """Peak resident memory of each running service (Linux ``VmHWM``)."""
        out: dict[str, float] = {}
        for service, proc in self.procs.items():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[service] = int(line.split()[1]) / 1024
            except OSError:
                continue
        return out

    def stop(self, timeout: float = 15.0) -> dict[str, int | None]:
        """SIGTERM every service (uvicorn shuts down cleanly), then wait; SIGKILL only as a last resort."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for service, proc in self.procs.items():
            try:
                codes[service] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[service] = proc.wait()
        self.procs.clear()
        return codes

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
