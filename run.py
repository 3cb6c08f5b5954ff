#!/usr/bin/env python3
"""Set up Jembatan in a local virtual environment and run it. Needs only Python 3.11+ and pip.

    python3 run.py demo [--families N] [--keep-running]   # the main job
    python3 run.py test [pytest args]                     # the full test suite

The virtual environment (.venv) is created on first use and reinstalled when requirements.lock changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".jembatan-installed"


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py is started by whatever python3 the machine has
        sys.exit("Jembatan needs Python 3.11 or newer")
    lock = ROOT / "requirements.lock"
    sdk = ROOT / "clients" / "python"  # the client SDK (jembatan-client), installed beside the services
    digest = hashlib.sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes()
                            + (sdk / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("installing dependencies from requirements.lock", flush=True)
    subprocess.run([*pip, "-r", str(lock)], check=True, cwd=ROOT)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT), "-e", str(sdk)], check=True, cwd=ROOT)
    STAMP.write_text(digest)


# Debian packages the tests need, by the file each provides: Debian's chromium and its chromedriver for the console's
# browser tests; promtool (package prometheus) checks deploy/prometheus/alerts.yml. Nothing is downloaded at test time.
TEST_PACKAGES = {
    "chromium": Path("/usr/bin/chromium"),
    "chromium-driver": Path("/usr/bin/chromedriver"),
    "prometheus": Path("/usr/bin/promtool"),
}


def ensure_test_packages() -> None:
    """Install the Debian packages the tests need when missing (as root, with apt-get). Elsewhere the tests that
    need them say what is missing."""
    missing = [pkg for pkg, path in TEST_PACKAGES.items() if not path.exists()]
    if not missing or sys.platform != "linux":
        return
    if os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        print(f"missing Debian packages (apt-get install {' '.join(missing)}): the tests that need them will say so",
              flush=True)
        return
    print(f"installing {', '.join(missing)} (Debian) for the tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
    done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                          check=False, env=env, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        print(f"apt-get could not install {', '.join(missing)}: the tests that need them will fail and say why",
              flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "shell"):
        print(__doc__)
        return 2
    ensure_env()
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    # The command replaces this process (exec), so a signal sent to it (Ctrl-C, `kill`) reaches the command itself.
    if command == "demo":
        return run([str(BIN / "jembatan"), "demo", *rest])
    if command == "test":
        ensure_test_packages()
        return run([str(PY), "-m", "pytest", "-n", "2", *rest])
    return run([str(PY), *rest])


def run(args: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name != "posix":
        return subprocess.call(args)
    os.execv(args[0], args)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
