"""Screenshots of every console page on a running stack (the demo: `python3 run.py demo --keep-running`), taken
with the same headless Chromium as the browser tests. PNGs go to docs/console/.

    .venv/bin/python bench/console_screenshots.py --hub http://127.0.0.1:8100 --key-dir var/demo/keys \
        --world var/demo/world

The Provenance search is shown by NISN (a POST form), the student's NISN read from the demo's world files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.e2e.browser: the tests' own Chromium

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from shared.oidc import LocalIssuer
from tests.e2e.browser import Browser


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hub", default="http://127.0.0.1:8100")
    ap.add_argument("--key-dir", type=Path, default=Path("var/demo/keys"))
    ap.add_argument("--world", type=Path, default=Path("var/demo/world"))
    ap.add_argument("--out", type=Path, default=Path("docs/console"))
    args = ap.parse_args()
    issuer = LocalIssuer(args.key_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    api = httpx.Client(base_url=args.hub, timeout=60,
                       headers={"Authorization": f"Bearer {issuer.issue('shots', ['reviewer', 'viewer'])}"})
    runs = api.get("/api/v1/sync-runs").json()["items"]
    cases = api.get("/api/v1/reviews").json()["items"]
    b = Browser(width=1366, height=900)
    d = b.driver

    def shot(name: str, path: str, height: int = 900) -> None:
        d.get(args.hub + path)
        time.sleep(0.6)
        full = d.execute_script("return Math.min(document.body.scrollHeight, 2400)")
        d.set_window_size(1366, max(height, int(full)))
        d.save_screenshot(str(args.out / f"{name}.png"))
        d.set_window_size(1366, 900)
        print(name, path)

    try:
        d.get(args.hub + "/console/login")
        d.save_screenshot(str(args.out / "login.png"))
        b.sign_in(args.hub, issuer.issue("ayu", ["admin"], name="Ayu (admin)"))
        shot("runs", "/console/runs")
        if runs:
            shot("run", f"/console/runs/{runs[0]['id']}")
        shot("health", "/console/health")
        b.sign_in(args.hub, issuer.issue("vina", ["viewer"], name="Vina (viewer)"))
        shot("outcomes", "/console/outcomes")
        shot("outcomes-province", "/console/outcomes?province=" + _busiest_province(api, runs))
        shot("families", "/console/families")
        if runs:
            student = api.get(f"/api/v1/sync-runs/{runs[-1]['id']}/outcomes", params={"limit": 50}).json()["items"]
            linked = next((o for o in student if o["outcome"] == "PKH_RECIPIENT"), student[0])
            nisn = _nisn_of(args.world, linked["system"], linked["student_id"])
            if nisn:
                d.get(args.hub + "/console/provenance")
                d.find_element(By.ID, "s-nisn").send_keys(nisn, Keys.ENTER)
                time.sleep(0.6)
                d.set_window_size(1366, 900)
                d.save_screenshot(str(args.out / "provenance-search.png"))
                print("provenance-search", "POST /console/provenance (nisn)")
            else:
                shot("provenance-search", f"/console/provenance?student_id={linked['student_id']}")
            shot("provenance-student", f"/console/provenance/{linked['system']}/{linked['student_id']}")
        b.sign_in(args.hub, issuer.issue("rudi", ["reviewer"], name="Rudi (reviewer)"))
        shot("review", "/console/review")
        if cases:
            shot("review-case", f"/console/review/{cases[0]['id']}")
            shot("review-case-blind", f"/console/review/{cases[0]['id']}?blind=1")
        shot("review-history", "/console/review/history")
    finally:
        b.close()


def _nisn_of(world: Path, system: str, student_id: str) -> str | None:
    """The student's NISN in the world the demo loaded (None when it has none, or is not 10 digits)."""
    path, key = ((world / "emis" / "siswa.jsonl", "siswa_id") if system == "emis"
                 else (world / "dapodik" / "peserta_didik.jsonl", "peserta_didik_id"))
    with path.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record[key] == student_id:
                nisn = record.get("nisn")
                return nisn if isinstance(nisn, str) and len(nisn) == 10 and nisn.isdigit() else None
    return None


def _busiest_province(api: httpx.Client, runs: list[dict]) -> str:  # type: ignore[type-arg]
    units = api.get(f"/api/v1/sync-runs/{runs[-1]['id']}/units").json() if runs else []
    best = max((u for u in units if u["kind"] == "decide"), key=lambda u: u["students"], default=None)
    return (best["region"][:2] if best else "32")


if __name__ == "__main__":
    main()
