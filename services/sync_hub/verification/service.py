"""What the hub tells Kemensos of one child in one PKH period (pure functions; ``sync/verify.py`` sends it).

A child (a registry member the hub linked one or more school records to) is verified from the record that is
current in the period:

1. a record still active (not marked as left, or left after the period) before one the student left during the
   period, before one left earlier or inactive (an EMIS record left behind by a transfer);
2. among equals, the one with the latest month of attendance in the period, then the newest version.

The child is *enrolled* when that record is active or was left during the period, *active* only when it is
still active; the months are the record's attendance in the period (a student who left has none after the
month it left). A child whose only records were left before the period is reported not enrolled and not active,
with the date and the reason (``LULUS``: the education component ends; not an error). The other records are
named in the remark and kept at the hub as evidence.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date

from services.sync_hub.domain.students import Month
from shared.contracts.kemensos import PERIODE_PATTERN, SumberPendidikan
from shared.kehadiran import memenuhi, months_of

ACTIVE, LEFT_IN_PERIOD, LEFT = "active", "left_in_period", "left"
_RANK = {ACTIVE: 0, LEFT_IN_PERIOD: 1, LEFT: 2}
GRADUATED = "LULUS"
_NSM = re.compile(r"^\d{12}$")
_NPSN = re.compile(r"^[0-9A-Z]{8}$")


@dataclass(frozen=True)
class Period:
    periode: str  # 2026-T3
    tahun: int
    tahap: int
    months: tuple[tuple[int, int], ...]  # (year, month) x 3
    start: date
    end: date

    @classmethod
    def parse(cls, periode: str) -> Period:
        if not re.match(PERIODE_PATTERN, periode):
            raise ValueError(f"periode must look like 2026-T3, got {periode!r}")
        tahun, tahap = int(periode[:4]), int(periode[-1])
        months = tuple(months_of(tahun, tahap))
        last_y, last_m = months[-1]
        return cls(periode, tahun, tahap, months, date(tahun, months[0][1], 1),
                   date(last_y, last_m, calendar.monthrange(last_y, last_m)[1]))

    @classmethod
    def of_month(cls, tahun: int, bulan: int) -> Period:
        return cls.parse(f"{tahun}-T{(bulan - 1) // 3 + 1}")


@dataclass(frozen=True)
class SchoolRecord:
    """One school record of a child, as the hub's copy holds it."""

    system: str  # emis | dapodik
    student_id: str
    school: str  # NSM (EMIS) or sekolah_id (Dapodik)
    npsn: str | None
    region: str
    aktif: bool
    keluar_on: date | None
    keluar_reason: str | None
    source_version: int
    no_kk: str | None
    months: tuple[Month, ...] = ()

    def state(self, period: Period) -> str:
        if self.keluar_on is not None:
            if self.keluar_on > period.end:
                return ACTIVE
            return LEFT_IN_PERIOD if self.keluar_on >= period.start else LEFT
        return ACTIVE if self.aktif else LEFT

    def in_period(self, period: Period) -> tuple[Month, ...]:
        wanted = set(period.months)
        return tuple(sorted((m for m in self.months if (m.tahun, m.bulan) in wanted), key=lambda m: (m.tahun, m.bulan)))


@dataclass(frozen=True)
class Facts:
    """A verification's facts (everything but its provenance, observation time and version)."""

    nik_anak: str
    periode: str
    enrolled: bool
    active: bool
    npsn: str | None
    nsm: str | None
    sumber: SumberPendidikan
    kehadiran: tuple[Month, ...]
    keterangan: str | None
    source: SchoolRecord
    others: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def months_below(self) -> list[int]:
        return [m.bulan for m in self.kehadiran if not memenuhi(m.hari_efektif, m.alpa, m.izin, m.sakit)]

    def wire(self) -> dict[str, object]:
        """The VerifikasiPendidikan fields these facts fill (without provenance, observed_at, version)."""
        return {
            "nik_anak": self.nik_anak, "periode": self.periode, "enrolled": self.enrolled, "active": self.active,
            "npsn": self.npsn, "nsm": self.nsm, "sumber": self.sumber.value,
            "kehadiran": [{"bulan": m.bulan, "hari_efektif": m.hari_efektif, "alpa": m.alpa, "izin": m.izin,
                           "sakit": m.sakit} for m in self.kehadiran],
            "keterangan": self.keterangan,
        }

    def digest(self) -> str:
        """Equal for equal facts: what decides whether anything new is to be sent."""
        data = {**self.wire(), "source": [self.source.system, self.source.student_id], "others": list(self.others)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _order(period: Period):  # type: ignore[no-untyped-def]
    def key(r: SchoolRecord) -> tuple[int, int, int, str, str]:
        months = r.in_period(period)
        latest = months[-1].tahun * 100 + months[-1].bulan if months else 0
        return (_RANK[r.state(period)], -latest, -r.source_version, r.system, r.student_id)
    return key


def _left_text(r: SchoolRecord) -> str:
    if r.keluar_on is None:
        return "record not active"
    if r.keluar_reason == GRADUATED:
        return f"graduated {r.keluar_on.isoformat()}: the education component ends"
    return f"left {r.keluar_on.isoformat()} ({(r.keluar_reason or 'reason not given').lower().replace('_', ' ')})"


def decide(nik_anak: str, period: Period, records: list[SchoolRecord]) -> Facts:
    """The facts of one child from all its linked school records (at least one)."""
    if not records:
        raise ValueError("a verification needs at least one school record")
    ranked = sorted(records, key=_order(period))
    current, rest = ranked[0], ranked[1:]
    state = current.state(period)
    remarks = [] if state == ACTIVE else [_left_text(current)]
    others = tuple({"system": r.system, "student_id": r.student_id, "state": r.state(period)} for r in rest)
    if rest:
        remarks.append("also recorded: " + ", ".join(f"{o['system']} {o['student_id']} ({o['state']})" for o in others))
    remark = "; ".join(remarks)[:200] or None
    is_emis = current.system == "emis"
    return Facts(
        nik_anak=nik_anak, periode=period.periode, enrolled=state != LEFT, active=state == ACTIVE,
        npsn=current.npsn if current.npsn and _NPSN.match(current.npsn) else None,
        nsm=current.school if is_emis and _NSM.match(current.school) else None,
        sumber=SumberPendidikan.EMIS if is_emis else SumberPendidikan.DAPODIK,
        kehadiran=current.in_period(period) if state != LEFT else (), keterangan=remark, source=current,
        others=others)
