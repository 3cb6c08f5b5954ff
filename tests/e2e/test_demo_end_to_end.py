"""The README's main command as a user runs it: ``jembatan demo`` (what ``python3 run.py demo`` runs) on a small
world, kept running, then stopped with SIGTERM as a service manager or a closed terminal would: the report is
printed, and the four services stop with it instead of being left behind on their ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_demo_reports_and_sigterm_stops_every_service(tmp_path: Path) -> None:
    proc = subprocess.Popen([str(BIN / "jembatan"), "demo", "--families", "40", "--free-ports", "--keep-running",
                             "--workdir", str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "COLUMNS": "160"})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 600
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C to stop them" in line or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert "press Ctrl-C to stop them" in out, out[-3000:]
        assert "SUCCEEDED" in out and "operator console:" in out
        ports = [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)/docs", out)]
        assert len(ports) == 4 and all(_listening(p) for p in ports)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-3000:]
    assert re.search(r"services: kemensos_mock stopped, emis_gateway stopped, dapodik_gateway stopped,\s+sync_hub "
                     r"stopped", rest), rest[-3000:]
    assert not any(_listening(p) for p in ports)
