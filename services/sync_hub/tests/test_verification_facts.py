"""Which record a child's education verification is read from, and what it says (``verification.service``)."""

from __future__ import annotations

from datetime import date

import pytest

from services.sync_hub.domain.students import Month
from services.sync_hub.verification.service import Period, SchoolRecord, decide

T3 = Period.parse("2026-T3")
NIK = "3201011507150001"


def record(system: str = "dapodik", student_id: str = "a", *, aktif: bool = True, keluar_on: date | None = None,
           reason: str | None = None, months: tuple[Month, ...] = (), version: int = 1,
           school: str = "d1c5e2f0-0000-4000-8000-000000000001", npsn: str | None = "20212345") -> SchoolRecord:
    return SchoolRecord(system=system, student_id=student_id, school=school, npsn=npsn, region="3201010001",
                        aktif=aktif, keluar_on=keluar_on, keluar_reason=reason, source_version=version,
                        no_kk="3201010101010001", months=months)


def months(*counts: tuple[int, int, int], year: int = 2026, first: int = 7) -> tuple[Month, ...]:
    return tuple(Month(year, first + i, 20, a, z, s) for i, (a, z, s) in enumerate(counts))


def test_period_of_a_month_and_its_bounds() -> None:
    assert Period.of_month(2026, 9) == T3
    assert (T3.start, T3.end, T3.months) == (date(2026, 7, 1), date(2026, 9, 30), ((2026, 7), (2026, 8), (2026, 9)))
    assert Period.parse("2026-T1").end == date(2026, 3, 31)
    with pytest.raises(ValueError):
        Period.parse("2026-T5")


def test_an_active_record_reports_enrolled_active_and_the_months_of_the_period_only() -> None:
    rec = record(months=(*months((0, 0, 0), (4, 0, 0), (0, 1, 0)), Month(2026, 6, 20, 0, 0, 0)))
    f = decide(NIK, T3, [rec])
    assert (f.enrolled, f.active, f.npsn, f.nsm, f.sumber.value) == (True, True, "20212345", None, "DAPODIK")
    assert [m.bulan for m in f.kehadiran] == [7, 8, 9]  # June belongs to another period
    assert f.months_below == [8]  # 16 of 20 days is 80 %
    assert f.keterangan is None


def test_a_child_who_left_during_the_period_is_enrolled_not_active_with_the_date_and_reason() -> None:
    rec = record(aktif=False, keluar_on=date(2026, 8, 14), reason="PUTUS_SEKOLAH", months=months((0, 0, 0), (9, 0, 0)))
    f = decide(NIK, T3, [rec])
    assert (f.enrolled, f.active, [m.bulan for m in f.kehadiran]) == (True, False, [7, 8])
    assert f.keterangan == "left 2026-08-14 (putus sekolah)"
    nxt = decide(NIK, Period.parse("2026-T4"), [rec])  # and the period after: not enrolled, not omitted
    assert (nxt.enrolled, nxt.active, nxt.kehadiran) == (False, False, ())


def test_a_graduate_is_reported_as_the_end_of_the_component_not_an_error() -> None:
    f = decide(NIK, T3, [record(system="emis", school="111232010001", aktif=False, keluar_on=date(2026, 6, 20),
                                reason="LULUS")])
    assert (f.enrolled, f.active, f.nsm, f.sumber.value) == (False, False, "111232010001", "EMIS")
    assert f.keterangan == "graduated 2026-06-20: the education component ends"


def test_a_child_who_moved_is_verified_from_the_active_record_and_the_other_is_named() -> None:
    left_behind = record(system="emis", student_id="S-1", aktif=False, school="111232010001", version=9)
    current = record(system="dapodik", student_id="pd-2", months=months((0, 0, 0)), version=1)
    f = decide(NIK, T3, [left_behind, current])
    assert f.source.student_id == "pd-2" and (f.enrolled, f.active) == (True, True)
    assert f.others == ({"system": "emis", "student_id": "S-1", "state": "left"},)
    assert f.keterangan == "also recorded: emis S-1 (left)"
    assert decide(NIK, T3, [current, left_behind]).digest() == f.digest()  # the order records come in is no fact


def test_between_two_active_records_the_one_with_the_latest_month_then_the_newest_version_is_current() -> None:
    older = record(student_id="a", months=months((0, 0, 0), (0, 0, 0), (0, 0, 0)), version=1)
    stopped = record(student_id="b", months=months((0, 0, 0)), version=5)
    assert decide(NIK, T3, [stopped, older]).source.student_id == "a"
    twin = record(student_id="c", months=months((0, 0, 0), (0, 0, 0), (0, 0, 0)), version=2)
    assert decide(NIK, T3, [older, twin]).source.student_id == "c"


def test_a_record_left_after_the_period_was_active_in_it() -> None:
    f = decide(NIK, T3, [record(aktif=False, keluar_on=date(2026, 10, 3), reason="MUTASI", months=months((0, 0, 0)))])
    assert (f.enrolled, f.active, f.keterangan) == (True, True, None)


def test_facts_that_differ_have_different_digests() -> None:
    a = decide(NIK, T3, [record(months=months((0, 0, 0)))])
    assert a.digest() == decide(NIK, T3, [record(months=months((0, 0, 0)))]).digest()
    assert a.digest() != decide(NIK, T3, [record(months=months((1, 0, 0)))]).digest()
    assert a.digest() != decide(NIK, T3, [record(months=months((0, 0, 0)), npsn="20219999")]).digest()
    with pytest.raises(ValueError):
        decide(NIK, T3, [])
