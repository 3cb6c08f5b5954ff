"""The operator console in a real browser: headless Chromium (Debian's) over the four services on real sockets.

One story, in order (one test: the steps depend on each other and must not be spread over pytest workers):
an admin starts a run from the Runs page and watches it progress to its end without reloading; a viewer filters
the outcomes, downloads the CSV and finds exactly the rows the hub's API gives; bad filters get a visible message;
a reviewer decides the planted review case with the keyboard; the next sync writes the value with
``matched_by=review``; the student's provenance page shows it; a NISN search finds the student.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jembatan.changes import plant_parent_conflict
from jembatan.stack import Stack
from shared.clients import DapodikClient, HubClient
from shared.contracts.hub import RunStatus
from tests.e2e import browser as chromium
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, tuple[str, str, str]]]:
    chromium.require()
    root = tmp_path_factory.mktemp("console-e2e")
    generate_world(WorldConfig(seed=11, n_families=60), root / "world")
    planted = plant_parent_conflict(root / "world")
    with Stack.on_free_ports(root / "stack").serving(root / "world") as stack:
        yield stack, planted


@pytest.fixture(scope="module")
def browser() -> Iterator[chromium.Browser]:
    chromium.require()
    b = chromium.Browser()
    try:
        yield b
    finally:
        b.close()


def wait_for(condition, timeout: float = 120.0, every: float = 0.25):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(every)


def snap(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    """With JEMBATAN_CONSOLE_SHOTS=DIR, a full-page screenshot for docs/console.md (the planted review case is only
    in this test's world)."""
    folder = os.environ.get("JEMBATAN_CONSOLE_SHOTS")
    if not folder:
        return
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 2400)")
    driver.set_window_size(1366, max(900, int(height)))
    driver.save_screenshot(str(Path(folder) / f"{name}.png"))
    driver.set_window_size(1366, 900)


def all_outcomes(http: httpx.Client, run_id: str) -> list[dict[str, object]]:
    out, cursor = [], None
    while True:
        page = http.get(f"/api/v1/sync-runs/{run_id}/outcomes",
                        params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        out += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def test_the_console_in_a_browser(system, browser: chromium.Browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    stack, (student_id, own_kk, _other_kk) = system
    base, d = stack.url("sync_hub"), browser.driver
    admin_api = {"Authorization": f"Bearer {stack.hub_token('api', 'admin', 'viewer')}"}

    # -- runs: an admin starts a run and watches it to its end, the page never reloads -------------------------
    browser.sign_in(base, stack.hub_token("ayu", "admin"))
    assert d.current_url.endswith("/console/runs"), d.current_url
    cookie = d.get_cookie("jembatan_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    d.find_element(By.CSS_SELECTOR, "#start-run button[type=submit]").click()
    wait_for(lambda: re.search(r"/console/runs/[0-9a-f-]{36}$", d.current_url))
    run_id = d.current_url.rsplit("/", 1)[1]
    d.execute_script("window.__sameDocument = true;")
    seen_units = set()

    def ended() -> bool:  # read in one script: htmx replaces the block every second
        status, units = d.execute_script(
            "const t = id => (document.getElementById(id) || {}).textContent || '';"
            "return [t('run-status').trim(), t('units-done').trim()];")
        if units:
            seen_units.add(units)
        return status in ("SUCCEEDED", "FAILED", "CANCELLED")

    wait_for(ended, timeout=300)
    assert d.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    assert d.find_element(By.ID, "run-status").text == "SUCCEEDED"
    done, total = (int(x) for x in d.find_element(By.ID, "units-done").text.split("/"))
    assert done == total > 0 and d.find_element(By.ID, "units-failed").text == "0"
    assert len(seen_units) >= 1
    assert d.find_elements(By.CSS_SELECTOR, "#units tbody tr")

    # -- outcomes: a viewer filters, downloads the CSV, finds the API's rows -----------------------------------
    browser.sign_in(base, stack.hub_token("vina", "viewer"))
    d.get(f"{base}/console/outcomes")
    assert d.find_element(By.CSS_SELECTOR, "svg.chart")  # the match-rate chart
    # the tile map of the provinces: every province a tile, those with students a link naming their figures
    tiles = d.find_elements(By.CSS_SELECTOR, "#province-map .tile")
    linked = d.find_elements(By.CSS_SELECTOR, "#province-map a.tile")
    assert len(tiles) == 38 and linked
    assert re.search(r"\(\d\d\): \d+\.\d% padan · linked, [\d,]+ / [\d,]+",
                     linked[0].find_element(By.TAG_NAME, "title").get_attribute("textContent"))
    Select(d.find_element(By.ID, "f-system")).select_by_value("dapodik")
    wait_for(lambda: "system=dapodik" in d.current_url)  # htmx: the filter applies on change
    Select(d.find_element(By.ID, "f-outcome")).select_by_value("NOT_PKH_RECIPIENT")
    wait_for(lambda: "outcome=NOT_PKH_RECIPIENT" in d.current_url)
    wait_for(lambda: d.find_element(By.ID, "export-csv").get_attribute("href").count("outcome=NOT_PKH") == 1)
    d.find_element(By.ID, "export-csv").click()
    path: Path = wait_for(lambda: next((p for p in browser.downloads.glob("outcomes-*.csv")), None), timeout=60)
    wait_for(lambda: path.stat().st_size > 0 and not list(browser.downloads.glob("*.crdownload")))
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with httpx.Client(base_url=base, headers=admin_api, timeout=60) as http:
        api = [o for o in all_outcomes(http, run_id)
               if o["system"] == "dapodik" and o["outcome"] == "NOT_PKH_RECIPIENT"]
    assert rows, "the filter kept no row"
    assert sorted((r["student_id"], r["outcome"], r["matched_by"], r["no_kk"]) for r in rows) == sorted(
        (str(o["student_id"]), o["outcome"], o["matched_by"], o["no_kk"] or "") for o in api)
    assert int(d.find_element(By.ID, "total").text.replace(",", "")) == len(rows)
    # a bad filter: a visible, specific message, and no rows
    d.get(f"{base}/console/outcomes?province=3x&outcome=MAYBE")
    alert = d.find_element(By.CSS_SELECTOR, ".problems[role=alert]")
    fields = {li.get_attribute("data-field") for li in alert.find_elements(By.TAG_NAME, "li")}
    assert fields == {"province", "outcome"} and "2 digits" in alert.text
    # a viewer sees no full NIK or KK number anywhere on the outcomes page
    d.get(f"{base}/console/outcomes?system=dapodik")
    assert not re.search(r"\d{16}", d.find_element(By.TAG_NAME, "main").text)

    # -- review: a reviewer decides the planted case with the keyboard ----------------------------------------
    browser.sign_in(base, stack.hub_token("rudi", "reviewer"))
    d.get(f"{base}/console/review")
    snap(d, "review")
    d.find_element(By.LINK_TEXT, student_id).click()
    snap(d, "review-case")
    d.find_element(By.ID, "toggle-blind").click()
    wait_for(lambda: "blind=1" in d.current_url and d.find_elements(By.ID, "decide"))
    snap(d, "review-case-blind")
    assert "p = " not in d.find_element(By.ID, "side-by-side").text  # blind: no score shown
    case_path = d.current_url.split("?")[0].split("/console", 1)[1]
    radio = d.find_element(By.CSS_SELECTOR, f"input[type=radio][value='link:{own_kk}']")
    key = radio.get_attribute("data-key")
    # a decision without a reason is refused, visibly, and changes nothing
    d.find_element(By.TAG_NAME, "body").send_keys(key)
    assert radio.is_selected() and d.switch_to.active_element.get_attribute("id") == "reason"
    d.execute_script("document.getElementById('reason').removeAttribute('required');")
    d.switch_to.active_element.send_keys("x", Keys.ENTER)
    alert = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".problems[role=alert]"))
    assert "reason" in alert[0].text and d.find_element(By.ID, "case-status").text == "OPEN"
    d.find_element(By.TAG_NAME, "body").send_keys(key)
    d.switch_to.active_element.send_keys(Keys.CONTROL, "a")
    d.switch_to.active_element.send_keys("KK scan shows the child", Keys.ENTER)
    wait_for(lambda: case_path not in d.current_url)  # saved: on to the next case, or back to the queue
    d.get(f"{base}/console/review/history")
    snap(d, "review-history")
    assert student_id in d.find_element(By.ID, "decisions").text and "rudi" in d.find_element(By.ID, "decisions").text

    # -- the next sync writes the reviewer's value, with matched_by=review --------------------------------------
    with HubClient(base, stack.hub_operator) as hub:
        second = hub.wait(hub.start_run().id, timeout=300)
        assert second.status is RunStatus.SUCCEEDED, second.errors
    with DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik:
        prov = {p.field: p for p in dapodik.get_student(student_id).provenance}
    assert prov["penerima_kps"].matched_by.value == "review"

    # -- provenance: the student's page shows the value and its source ----------------------------------------
    browser.sign_in(base, stack.hub_token("vina", "viewer"))
    d.get(f"{base}/console/provenance")
    d.find_element(By.ID, "s-student").send_keys(student_id, Keys.ENTER)
    wait_for(lambda: d.find_elements(By.LINK_TEXT, student_id))[0].click()
    table = wait_for(lambda: d.find_elements(By.ID, "values"))[0].text
    assert "penerima_kps" in table and "review" in table and second.id[:8] in table
    assert not re.search(r"\d{16}", d.find_element(By.TAG_NAME, "main").text)  # KK numbers masked for a viewer
    # a NISN search (a POST body, like a NIK) finds the student; a bad NISN is refused visibly
    with DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik:
        everyone = list(dapodik.iter_peserta_didik())
    with_nisn = [p for p in everyone if p.nisn and re.fullmatch(r"\d{10}", p.nisn)]
    nisn = next((p.nisn for p in with_nisn if p.peserta_didik_id == student_id), with_nisn[0].nisn)
    holders = {p.peserta_didik_id for p in with_nisn if p.nisn == nisn}
    d.get(f"{base}/console/provenance")
    d.find_element(By.ID, "s-nisn").send_keys(nisn, Keys.ENTER)
    found = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#students tbody a"))
    assert {a.text for a in found} >= holders and nisn not in d.current_url
    d.find_element(By.ID, "s-nisn").send_keys("12345", Keys.ENTER)
    alert = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".problems[role=alert]"))[0]
    assert "nisn" in alert.text and "10 digits" in alert.text and "12345" not in d.current_url
    # a NIK search goes in a POST body: the URL never carries it
    d.get(f"{base}/console/provenance")
    d.find_element(By.ID, "s-nik").send_keys("12345", Keys.ENTER)
    alert = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".problems[role=alert]"))[0]
    assert "nik" in alert.text and "12345" not in d.current_url
