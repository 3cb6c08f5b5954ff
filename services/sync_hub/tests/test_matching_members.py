"""Which member of a linked family a student is (``matching.members``)."""

from __future__ import annotations

from datetime import date

import polars as pl

from services.sync_hub.matching.frames import Registry, StudentRow, students_frame
from services.sync_hub.matching.members import find_children

KK = "3201010101010001"


def registry(*members: tuple[str, str, date]) -> Registry:
    persons = pl.DataFrame([{"nik": nik, "no_kk": KK, "nama": nama, "sex": "L", "dob": dob, "ibu": "SITI",
                             "hub": "ANAK"} for nik, nama, dob in members],
                           schema={"nik": pl.String, "no_kk": pl.String, "nama": pl.String, "sex": pl.String,
                                   "dob": pl.Date, "ibu": pl.String, "hub": pl.String})
    families = pl.DataFrame([{"no_kk": KK, "wil": "3201010001", "version": 1, "pkh_status": "AKTIF",
                              "pkh_periode": None, "no_kks": None}])
    return Registry.build(persons, families)


def students(*rows: tuple[str, date]) -> pl.DataFrame:
    return students_frame([StudentRow(nama, "L", dob, "SITI", "", "", None, None, None, None, None, None)
                           for nama, dob in rows])


def test_the_member_whose_name_and_birth_date_agree_is_the_child() -> None:
    reg = registry(("3201011507150001", "AHMAD FAUZI", date(2015, 7, 15)),
                   ("3201012003180002", "BUDI SANTOSO", date(2018, 3, 20)),
                   ("3201014406800003", "SITI AMINAH", date(1980, 6, 4)))
    stu = students(("Ahmad Fauzi", date(2015, 7, 15)), ("BUDI SANTOSA", date(2018, 3, 21)),
                   ("CITRA", date(2016, 1, 1)))
    assert find_children(stu, {0: KK, 1: KK, 2: KK}, reg.persons) == {0: "3201011507150001", 1: "3201012003180002"}
    assert find_children(stu, {}, reg.persons) == {}


def test_twins_with_near_names_are_told_apart_by_the_exact_birth_date_or_left_unnamed() -> None:
    reg = registry(("3201011507150001", "MUHAMMAD RIZKI", date(2015, 7, 15)),
                   ("3201011507150002", "MUHAMMAD RIZKY", date(2015, 7, 15)))
    stu = students(("MUHAMMAD RIZKI", date(2015, 7, 15)), ("MUHAMMAD RIZKA", date(2015, 7, 16)))
    found = find_children(stu, {0: KK, 1: KK}, reg.persons)
    assert found == {0: "3201011507150001"}  # the second is as close to both: nobody guesses
