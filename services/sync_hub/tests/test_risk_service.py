"""The families-at-risk rules (``risk.service``) on small hand-built frames."""

from __future__ import annotations

from datetime import date

import polars as pl

from services.sync_hub.risk import service as rs
from services.sync_hub.verification.service import Period

P = Period.parse("2026-T3")  # first day 2026-07-01
KK, KK2, KK3 = "3201010101200001", "3201010101200002", "3201010101200003"
REGION = "3201012001"
ANI, BUDI, CICI, DEDI, EKO = ("3201014101140001", "3201010202120002", "3201014303100003", "3201010404200004",
                              "3201010505060005")


def members(*rows: tuple[str, str, str, date, str]) -> pl.DataFrame:
    return pl.DataFrame([(nik, kk, nama, dob, rel, REGION) for nik, kk, nama, dob, rel in rows],
                        schema=rs.MEMBERS_SCHEMA, orient="row")


FAMILY = members((ANI, KK, "ani lestari", date(2014, 1, 1), "ANAK"),
                 (BUDI, KK, "budi santoso", date(2012, 2, 2), "ANAK"),
                 (CICI, KK, "cici", date(1990, 3, 3), "ISTRI"))


def unlinked(*rows: dict[str, object]) -> pl.DataFrame:
    base = {"system": "dapodik", "student_id": "pd-1", "outcome": "NIK_MISMATCH", "detail": "identity disagrees",
            "nik": None, "nama": "ANI LESTARI", "dob": date(2014, 1, 1), "school": "sek-1", "npsn": "20100001",
            "region": "3201022001", "aktif": True, "keluar_on": None, "held_back": False}
    return pl.DataFrame([{**base, **r} for r in rows], schema=rs.UNLINKED_SCHEMA)


def attributed(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame([("dapodik", sid, kk, REGION, ev) for sid, kk, ev in rows], schema=rs.ATTRIBUTION_SCHEMA,
                        orient="row")


def verified(*rows: dict[str, object]) -> pl.DataFrame:
    base = {"nik": ANI, "no_kk": KK, "family_region": REGION, "enrolled": True, "active": True, "months_below": [],
            "system": "emis", "student_id": "s-1", "school": "111232010001", "npsn": "69900001",
            "region": "3201030001", "keluar_on": None, "keluar_reason": None}
    return pl.DataFrame([{**base, **r} for r in rows], schema=rs.VERIFIED_SCHEMA)


NONE_LINKED = pl.Series("nik", [], dtype=pl.String)


def build(m: pl.DataFrame = FAMILY, linked: list[str] | None = None, v: pl.DataFrame | None = None,
          u: pl.DataFrame | None = None, a: pl.DataFrame | None = None) -> list[dict[str, object]]:
    rows = rs.build(P, m, pl.Series("nik", linked or [], dtype=pl.String),
                    v if v is not None else pl.DataFrame(schema=rs.VERIFIED_SCHEMA),
                    u if u is not None else pl.DataFrame(schema=rs.UNLINKED_SCHEMA),
                    a if a is not None else pl.DataFrame(schema=rs.ATTRIBUTION_SCHEMA))
    return rows.to_dicts()


def reasons(rows: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(r["child_nik"], r["reason"]) for r in rows}


def test_school_age_is_7_to_18_on_the_first_day_of_the_period() -> None:
    after, by = rs.school_age_bounds(P)
    assert (after, by) == (date(2007, 7, 1), date(2019, 7, 1))
    kids = members((ANI, KK, "a", date(2019, 7, 1), "ANAK"),  # 7 that day
                   (BUDI, KK, "b", date(2019, 7, 2), "ANAK"),  # 6
                   (CICI, KK, "c", date(2007, 7, 2), "CUCU"),  # 18
                   (DEDI, KK, "d", date(2007, 7, 1), "ANAK"),  # 19
                   (EKO, KK, "e", date(2012, 1, 1), "KEPALA_KELUARGA"))  # not a child's relation
    rows = build(kids)
    assert reasons(rows) == {(ANI, rs.NO_SCHOOL_RECORD), (CICI, rs.NO_SCHOOL_RECORD)}
    assert {r["child_nik"]: r["age"] for r in rows} == {ANI: 7, CICI: 18}
    assert all(r["actor"] == rs.FAMILY and r["error"] for r in rows)


def test_a_family_whose_children_link_and_attend_is_not_listed() -> None:
    v = verified({"nik": ANI}, {"nik": BUDI, "student_id": "s-2"})
    assert build(linked=[ANI, BUDI], v=v) == []


def test_attendance_below_85_and_the_component_ending() -> None:
    v = verified({"nik": ANI, "months_below": [7, 9]},
                 {"nik": BUDI, "student_id": "s-2", "active": False, "keluar_on": date(2026, 8, 3),
                  "keluar_reason": "PUTUS_SEKOLAH"})
    rows = {r["child_nik"]: r for r in build(linked=[ANI, BUDI], v=v)}
    assert rows[ANI]["reason"] == rs.ATTENDANCE_BELOW_85 and rows[ANI]["months_below"] == [7, 9]
    assert rows[ANI]["actor"] == rs.SCHOOL_AND_FAMILY and rows[ANI]["error"]
    assert rows[BUDI]["reason"] == rs.LEFT_SCHOOL and not rows[BUDI]["error"]
    assert "not an error" in str(rows[BUDI]["detail"]) and rows[BUDI]["months_below"] == []
    graduated = build(linked=[ANI, BUDI], v=verified({"nik": BUDI, "active": False, "enrolled": False,
                                                      "keluar_on": date(2026, 6, 20), "keluar_reason": "LULUS"}))
    assert reasons(graduated) == {(BUDI, rs.GRADUATED_REASON)} and not graduated[0]["error"]
    counts = rs.counts(rs.build(P, FAMILY, pl.Series("nik", [ANI, BUDI]), v, pl.DataFrame(schema=rs.UNLINKED_SCHEMA),
                                pl.DataFrame(schema=rs.ATTRIBUTION_SCHEMA)))
    assert counts["families"] == 1 and counts["families_component_ends"] == 0
    assert counts["by_reason"] == {rs.ATTENDANCE_BELOW_85: 1, rs.LEFT_SCHOOL: 1}
    assert counts["by_province"] == {"32": {"families": 1, "families_component_ends": 0,
                                            "by_reason": {rs.ATTENDANCE_BELOW_85: 1, rs.LEFT_SCHOOL: 1}}}


def test_an_unlinked_record_names_its_school_and_stands_for_the_child_it_pins() -> None:
    rows = build(linked=[BUDI], u=unlinked({}), a=attributed(("pd-1", KK, "no_kk")))
    assert len(rows) == 1
    row = rows[0]
    assert (row["child_nik"], row["reason"], row["actor"]) == (ANI, rs.NIK_MISMATCH, rs.SCHOOL)
    assert (row["school"], row["npsn"], row["region"], row["evidence"]) == ("sek-1", "20100001", "3201022001", "no_kk")
    assert "attributed by no_kk" in str(row["detail"])


def test_reasons_of_unlinked_records() -> None:
    u = unlinked({"student_id": "a", "outcome": "NIK_INVALID", "nama": "ANI L", "dob": date(2014, 1, 1)},
                 {"student_id": "b", "outcome": "IN_REVIEW", "nama": "BUDI SANTOSO", "dob": date(2012, 2, 2)},
                 {"student_id": "c", "outcome": "NO_NIK", "nama": "ZED", "dob": date(2011, 1, 1),
                  "held_back": True})
    kids = members((ANI, KK, "ani lestari", date(2014, 1, 1), "ANAK"),
                   (BUDI, KK, "budi santoso", date(2012, 2, 2), "ANAK"),
                   (CICI, KK2, "cici", date(2011, 1, 1), "ANAK"))
    rows = build(kids, u=u, a=attributed(("a", KK, "nik_ibu"), ("b", KK, "review"), ("c", KK2, "no_kk_lama")))
    got = {r["student_id"]: (r["child_nik"], r["reason"], r["actor"]) for r in rows if r["student_id"]}
    assert got == {"a": (ANI, rs.NIK_INVALID, rs.SCHOOL),  # pinned by birth date alone
                   "b": (BUDI, rs.IN_REVIEW, rs.REVIEWER),
                   "c": (CICI, rs.HELD_BACK, rs.SCHOOL)}  # the family's one unlinked school-age child
    # a review case's candidate may be a homonym: until a reviewer links the record, the child has none
    assert [r["child_nik"] for r in rows if r["reason"] == rs.NO_SCHOOL_RECORD] == [BUDI]


def test_a_record_keeps_only_the_families_of_its_strongest_evidence() -> None:
    other = members((DEDI, KK2, "dedi", date(2013, 4, 4), "ANAK"))
    rows = build(pl.concat([FAMILY, other]), linked=[BUDI], u=unlinked({}),
                 a=attributed(("pd-1", KK, "no_kk"), ("pd-1", KK2, "nik_ayah")))
    assert {(r["no_kk"], r["reason"]) for r in rows} == {(KK, rs.NIK_MISMATCH), (KK2, rs.NO_SCHOOL_RECORD)}


def test_records_that_do_not_put_the_component_at_risk() -> None:
    # pinned to a child linked through another record: that record is verified
    assert build(linked=[ANI, BUDI], u=unlinked({"nik": ANI}), a=attributed(("pd-1", KK, "no_kk"))) == []
    # left before the period: not the child's schooling now, so the child has no record
    left = unlinked({"aktif": False, "keluar_on": date(2026, 6, 30)})
    assert reasons(build(linked=[BUDI], u=left, a=attributed(("pd-1", KK, "no_kk")))) == {(ANI, rs.NO_SCHOOL_RECORD)}
    # attributed to no PKH family
    assert reasons(build(linked=[BUDI], u=unlinked({}))) == {(ANI, rs.NO_SCHOOL_RECORD)}


def test_an_unpinned_record_is_listed_without_a_child() -> None:
    u = unlinked({"nama": "SOMEONE ELSE", "dob": date(2009, 9, 9)})
    rows = build(linked=[], u=u, a=attributed(("pd-1", KK, "no_kk")))
    assert reasons(rows) == {(None, rs.NIK_MISMATCH), (ANI, rs.NO_SCHOOL_RECORD), (BUDI, rs.NO_SCHOOL_RECORD)}
    assert len({r["family_seq"] for r in rows}) == 1
