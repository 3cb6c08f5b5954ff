"""A service run as several uvicorn processes gives each process a listening socket of its own (``SO_REUSEPORT``),
so the kernel spreads new connections over the processes instead of the first to wake taking a whole burst
(``shared.http_server.PerProcessListener``). On real processes and sockets: a gateway served with 2 workers."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import httpx
import pytest

from jembatan.stack import free_port
from shared.http_server import PerProcessListener, bind_reuse_port

LISTEN = "0A"  # /proc/net/tcp state of a listening socket
ESTABLISHED = "01"


def test_a_listener_pickled_for_a_worker_is_a_new_socket_on_the_same_port() -> None:
    parent = bind_reuse_port("127.0.0.1", 0)
    try:
        child = pickle.loads(ForkingPickler.dumps(parent))  # how ``spawn`` hands it to a worker process
        try:
            assert isinstance(child, PerProcessListener)
            assert child.fileno() != parent.fileno()
            assert child.getsockname() == parent.getsockname()
            assert child.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            child.listen(8)  # the worker's server listens on it; the supervisor's socket never does
            with socket.create_connection(parent.getsockname(), timeout=5):
                accepted, _ = child.accept()
                accepted.close()
        finally:
            child.close()
    finally:
        parent.close()


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _tcp(port: int) -> list[tuple[str, int, str]]:
    """(state, remote port, inode) of every IPv4 TCP socket whose local port is ``port``."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found.append((fields[3], int(fields[2].split(":")[1], 16), fields[9]))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_two_workers_listen_on_sockets_of_their_own_and_share_a_burst_of_connections(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "EMIS_DATABASE_URL": f"sqlite:///{tmp_path / 'emis.db'}", "EMIS_PORT": str(port),
           "EMIS_HOST": "127.0.0.1", "EMIS_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    subprocess.run([sys.executable, "-m", "services.emis_gateway", "migrate"], env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "services.emis_gateway", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opened: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while True:  # both workers up: two listening sockets on the port
            listening = [inode for state, _, inode in _tcp(port) if state == LISTEN]
            if len(listening) == 2:
                break
            assert server.poll() is None and time.monotonic() < deadline, "the gateway did not start two workers"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        workers = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        owner = {inode: pid for pid in workers for inode in _sockets_of(pid)}
        assert sorted(owner[inode] for inode in listening) == sorted(p for p in workers if p in owner.values()), \
            "each worker process holds a listening socket of its own"
        assert owner[listening[0]] != owner[listening[1]]
        assert server.pid not in {owner.get(inode) for inode in listening}

        opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]  # a burst
        ours = {s.getsockname()[1] for s in opened}
        deadline = time.monotonic() + 30
        while True:
            owner = {inode: pid for pid in workers for inode in _sockets_of(pid)}
            held = [owner.get(inode) for state, remote, inode in _tcp(port) if state == ESTABLISHED and remote in ours]
            if len([p for p in held if p is not None]) == 40 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        per_worker = sorted(held.count(pid) for pid in {owner[i] for i in listening})
        assert sum(per_worker) == 40
        assert min(per_worker) >= 8, per_worker  # hashed over two sockets; one process taking ~all is the old way
    finally:
        for s in opened:
            s.close()
        server.terminate()
        server.wait(30)
