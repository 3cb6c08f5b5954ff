"""What the console's pages show, built from the hub's own services and repositories: run progress, outcomes and
their export, the match-rate chart and the tile map of provinces (server-rendered SVG), what to do about a unit's
error, and upstream health."""

from __future__ import annotations

import csv
import io
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import IO, Any

import httpx
from sqlmodel import Session

from services.sync_hub.config import Settings
from services.sync_hub.console import repository as repo
from services.sync_hub.console.repository import COLUMNS, OutcomeFilters
from shared.clock import as_utc, utcnow
from shared.nik import mask
from shared.regions import provinces

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def region_name(code: str) -> str:
    if len(code) >= 2 and code[:2] in provinces():
        name = provinces()[code[:2]]
        return name if len(code) == 2 else f"{code} · {name}"
    return code or "?"


READING_LABELS = {"emis": "EMIS (siswa · students)", "dapodik": "Dapodik (peserta didik · students)",
                  "kip": "KIP (kartu · cards)", "registry": "DTSEN (perubahan · changes)"}


def reading_label(source: str) -> str:
    """What a plan reads from ``source``, as the run page names it."""
    return READING_LABELS.get(source, source)


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "–"
    seconds = ((as_utc(end) if end else utcnow()) - as_utc(start)).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def masked(text: str | None) -> str:
    """Any NIK- or KK-like run of digits (15 or more) in a text, masked."""
    return re.sub(r"\d{15,}", lambda m: mask(m.group()) or "", text or "")


# ---- what to do about a unit's error ---------------------------------------------------------------------

ADVICE = (
    (("unavailable", "connect", "timed out", "timeout", "503", "502", "refused"),
     "Sistem hulu tidak terjangkau · An upstream could not be reached: check it on the Health page; the next run "
     "plans this region again."),
    (("429", "rate limit"), "Dibatasi · The upstream limited the hub's requests: start the next run later."),
    (("401", "403", "credential", "token"), "Kredensial · The hub's credential for the upstream was refused: check "
     "HUB_*_TOKEN and the upstream's API tokens."),
    (("cancelled",), "Dibatalkan · Cancelled by a person: start a new run when ready."),
    (("rejected", "422", "contract"), "Ditolak · The gateway refused some values: see the gateway's log for the "
     "student ids; the next run sends them again."),
)


def advice(error: str) -> str:
    low = error.lower()
    for words, text in ADVICE:
        if any(w in low for w in words):
            return text
    return ("Gagal · The next run plans this region again; if it fails again, send the unit id and this message "
            "to the hub's operators (the hub's log has the trace).")


# ---- outcomes ------------------------------------------------------------------------------------------


def outcome_line(r: Any) -> list[str]:
    return [r.system, r.student_id, r.school or "", r.region or "", r.outcome, r.matched_by, r.detail or "",
            mask(r.no_kk) or "", r.sync_run_id]


def outcomes_csv(session: Session, f: OutcomeFilters) -> IO[bytes]:
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  (closed by chunks)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in repo.outcomes_all(session, f):
        writer.writerow(outcome_line(r))
    text.detach()
    out.seek(0)
    return out


def outcomes_xlsx(session: Session, f: OutcomeFilters) -> IO[bytes]:
    from openpyxl import Workbook

    from shared.spreadsheet import xlsx_row

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("outcomes")
    ws.append(list(COLUMNS))
    for r in repo.outcomes_all(session, f):
        ws.append(xlsx_row(outcome_line(r)))
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    wb.save(out)
    out.seek(0)
    return out


def chunks(f: IO[bytes], size: int = 1 << 16) -> Iterable[bytes]:
    with f:
        while chunk := f.read(size):
            yield chunk


@dataclass
class RegionRate:
    code: str
    name: str
    students: int
    linked: int

    @property
    def rate(self) -> float:
        return self.linked / self.students if self.students else 0.0


def region_rates(session: Session, f: OutcomeFilters) -> tuple[list[RegionRate], str]:
    """Match rate per province, or per kabupaten once a province (or kabupaten) is chosen."""
    digits, level = (4, "kabupaten") if (f.province or f.kabupaten) else (2, "province")
    rows = repo.rates_by_region(session, f, digits)
    return [RegionRate(code, region_name(code), n, linked) for code, n, linked in rows], level


def rate_chart(rates: list[RegionRate], level: str, link_base: str) -> str:
    """A horizontal bar chart as inline SVG (no script, no external asset): one bar per region, its rate and count
    as text, each bar a link to the region's outcomes. The table beside it carries the same figures."""
    if not rates:
        return ""
    bar_h, gap, label_w, bar_w, right_w = 22, 6, 260, 360, 150
    height = len(rates) * (bar_h + gap) + 30
    width = label_w + bar_w + right_w
    title = f"Tingkat padanan per {level} · Match rate by {level}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="chart-title" '
             f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
             f'<title id="chart-title">{escape(title)}</title>']
    for frac in (0, 0.5, 1):
        x = label_w + frac * bar_w
        parts.append(f'<line x1="{x:.0f}" y1="0" x2="{x:.0f}" y2="{height - 22}" class="grid"/>'
                     f'<text x="{x:.0f}" y="{height - 6}" class="axis" text-anchor="middle">{frac:.0%}</text>')
    for i, r in enumerate(rates):
        y = i * (bar_h + gap) + 2
        w = max(r.rate * bar_w, 1)
        href = escape(f"{link_base}{'kabupaten' if len(r.code) == 4 else 'province'}={r.code}")
        parts.append(
            f'<a href="{href}"><g class="bar-row"><title>{escape(r.name)}: {r.rate:.1%} of {r.students:,} linked'
            f'</title><text x="{label_w - 8}" y="{y + 16}" text-anchor="end" class="label">'
            f'{escape(r.name[:34])}</text><rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
            f'class="bar {"low" if r.rate < 0.8 else "ok"}"/><text x="{label_w + bar_w + 8}" y="{y + 16}" '
            f'class="value">{r.rate:.1%} · {r.linked:,}/{r.students:,}</text></g></a>')
    parts.append("</svg>")
    return "".join(parts)


# Each province (its two-digit code) as one equal tile on a grid, placed roughly where it lies: columns west to
# east, rows north to south (a tile-grid cartogram: no region boundary file ships in a package we can use, and
# equal tiles let Jakarta count as much as Papua). Sumatra runs down the left, Java and Nusa Tenggara along the
# bottom, Kalimantan, Sulawesi and Maluku in the middle, the six Papua provinces on the right.
PROVINCE_TILES: dict[str, tuple[int, int]] = {
    "11": (0, 0), "12": (1, 1), "14": (2, 1), "21": (3, 1), "13": (1, 2), "15": (2, 2), "17": (2, 3),
    "16": (3, 3), "19": (4, 3), "18": (3, 4), "31": (4, 4), "36": (3, 5), "32": (4, 5), "33": (5, 5),
    "34": (5, 6), "35": (6, 5), "51": (7, 5), "52": (8, 5), "53": (9, 5),
    "65": (7, 1), "61": (5, 2), "62": (6, 2), "64": (7, 2), "63": (7, 3),
    "75": (9, 1), "71": (10, 1), "72": (9, 2), "76": (8, 3), "73": (8, 4), "74": (9, 4),
    "82": (11, 1), "81": (11, 3),
    "96": (12, 2), "92": (13, 2), "94": (14, 3), "91": (15, 2), "95": (15, 3), "93": (15, 4),
}
# The label on each tile: the short name Indonesians write for the province (as on BPS and ministry tile maps), at
# most six letters so that it fits a tile; the full name is in the tile's <title> and in the table beside the map.
PROVINCE_SHORT: dict[str, str] = {
    "11": "ACEH", "12": "SUMUT", "13": "SUMBAR", "14": "RIAU", "15": "JAMBI", "16": "SUMSEL", "17": "BKL",
    "18": "LPG", "19": "BABEL", "21": "KEPRI", "31": "DKI", "32": "JABAR", "33": "JATENG", "34": "DIY",
    "35": "JATIM", "36": "BANTEN", "51": "BALI", "52": "NTB", "53": "NTT", "61": "KALBAR", "62": "KALTEN",
    "63": "KALSEL", "64": "KALTIM", "65": "KALTAR", "71": "SULUT", "72": "SULTEN", "73": "SULSEL", "74": "SULTRA",
    "75": "GTLO", "76": "SULBAR", "81": "MALUKU", "82": "MALUT", "91": "PAPUA", "92": "PABAR", "93": "PASEL",
    "94": "PATENG", "95": "PAPEG", "96": "PBD",
}
# Match-rate classes, lowest first: (lower bound, fill, text colour, legend). A blue sequential scale that reads in
# greyscale and for colour-blind people; every text colour has at least 4.5:1 contrast on its fill.
RATE_CLASSES = ((0.0, "#eff3ff", "#1b1f24", "< 60%"), (0.6, "#c6dbef", "#1b1f24", "60–70%"),
                (0.7, "#6baed6", "#1b1f24", "70–80%"), (0.8, "#2171b5", "#ffffff", "80–90%"),
                (0.9, "#08306b", "#ffffff", "≥ 90%"))
NO_DATA = ("#e6e6e6", "#1b1f24", "tanpa siswa · no students")


def rate_class(rate: float) -> tuple[float, str, str, str]:
    return next(c for c in reversed(RATE_CLASSES) if rate >= c[0])


def province_map(rates: list[RegionRate], link_base: str) -> str:
    """A tile-grid map of Indonesia's provinces as inline SVG (no script, no external asset): one tile per province
    where it roughly lies, coloured by its match rate, with a legend; each tile's ``<title>`` names the province and
    its figures (a screen reader reads them; the table beside carries the same), and links to its outcomes."""
    by_code = {r.code: r for r in rates if r.code in PROVINCE_TILES}
    names = provinces()
    tile, gap, top = 52, 4, 4
    cols = max(c for c, _ in PROVINCE_TILES.values()) + 1
    rows = max(r for _, r in PROVINCE_TILES.values()) + 1
    width, grid_h = cols * (tile + gap), rows * (tile + gap) + top
    height = grid_h + 34
    title = "Peta tingkat padanan per provinsi · Match rate by province, as a tile map"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="tilemap" id="province-map" role="group" '
             f'aria-labelledby="map-title" viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
             f'<title id="map-title">{escape(title)}</title>']
    for code, (col, row) in sorted(PROVINCE_TILES.items()):
        x, y = col * (tile + gap), top + row * (tile + gap)
        name = names.get(code, code)
        r = by_code.get(code)
        if r is None or not r.students:
            fill, ink, label = NO_DATA[0], NO_DATA[1], "–"
            text = f"{name} ({code}): tanpa siswa · no students"
        else:
            _, fill, ink, _ = rate_class(r.rate)
            label = f"{r.rate:.0%}"
            text = f"{name} ({code}): {r.rate:.1%} padan · linked, {r.linked:,} / {r.students:,} siswa · students"
        mid = f'x="{x + tile / 2:.0f}" text-anchor="middle" fill="{ink}"'
        body = (f'<title>{escape(text)}</title>'
                f'<rect x="{x}" y="{y}" width="{tile}" height="{tile}" rx="4" fill="{fill}" stroke="#8a949e"/>'
                f'<text {mid} y="{y + 20}" class="code">{PROVINCE_SHORT.get(code, code)}</text>'
                f'<text {mid} y="{y + 40}" class="rate">{label}</text>')
        attrs = f'class="tile" data-province="{code}"'
        parts.append(f'<a {attrs} href="{escape(link_base)}province={code}">{body}</a>' if r is not None
                     else f'<g {attrs}>{body}</g>')
    x = 0
    for _, fill, _, legend in (*RATE_CLASSES, (None, NO_DATA[0], None, NO_DATA[2])):
        parts.append(f'<rect x="{x}" y="{grid_h + 8}" width="18" height="18" fill="{fill}" stroke="#8a949e"/>'
                     f'<text x="{x + 24}" y="{grid_h + 22}" class="legend">{escape(legend)}</text>')
        x += 24 + 8 * len(legend) + 16
    parts.append("</svg>")
    return "".join(parts)


# ---- health --------------------------------------------------------------------------------------------


@dataclass
class Upstream:
    name: str
    url: str
    ok: bool
    detail: str
    ms: float


def upstreams(settings: Settings, timeout: float = 2.0) -> list[Upstream]:
    """Each upstream's ``/health`` (open, no credential), bounded by ``timeout`` each."""
    out = []
    with httpx.Client(timeout=timeout) as http:
        for name, url in (("kemensos_mock", settings.kemensos_url), ("emis_gateway", settings.emis_url),
                          ("dapodik_gateway", settings.dapodik_url)):
            started = time.perf_counter()
            try:
                r = http.get(url.rstrip("/") + "/health")
                ok, detail = r.status_code == 200, f"HTTP {r.status_code}"
                if ok:
                    detail = f"{r.json().get('service', name)} {r.json().get('version', '')}".strip()
            except (httpx.HTTPError, ValueError) as exc:
                ok, detail = False, type(exc).__name__
            out.append(Upstream(name, url, ok, detail, (time.perf_counter() - started) * 1000))
    return out
