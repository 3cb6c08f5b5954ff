"""Dapodik's validation and the hub's NIK rules agree on which key a held-back record must not link by.

A record Dapodik holds back (an INVALID finding) reaches the hub with its findings; the hub decides it from the
identity fields it keeps, with its own NIK rules (``services/sync_hub/matching/frames.py``). Every INVALID rule
about the child's NIK must therefore make the hub drop that key and name a rule, or a held-back record could be
linked by the very NIK its school was told to fix. A new INVALID NIK rule without a case here fails the test.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.dapodik_gateway.validasi import rules
from services.sync_hub.matching.frames import StudentRow, students_frame
from shared.contracts.dapodik import StatusValidasi
from shared.nik import Sex, encode

BORN = date(2014, 3, 9)
CHILD = encode("320101", Sex.L, BORN, 17)
MOTHER = encode("320101", Sex.P, date(1985, 6, 6), 18)
FATHER = encode("320101", Sex.L, date(1980, 5, 5), 19)
KK = encode("320101", Sex.L, date(2001, 1, 1), 9001)

# the child's NIK as a school types it wrong -> the INVALID rule Dapodik finds -> the rule the hub names
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "nik_format": ({"nik": CHILD[:15]}, "length"),
    "nik_placeholder": ({"nik": "1234567890123456", "nik_ibu": "1234567890123456",
                         "nik_ayah": "1234567890123456"}, "placeholder"),
    "nik_sama_no_kk": ({"nik": KK}, "same_as_no_kk"),
    "nik_sama_orang_tua": ({"nik": MOTHER}, "shared_with_family_member"),
}


def record(**over: Any) -> dict[str, Any]:
    return {"nik": CHILD, "no_kk": KK, "nisn": "0012345678", "nama": "Muhammad Rizki", "jenis_kelamin": "L",
            "tanggal_lahir": BORN, "nama_ayah": "Budi Santoso", "nik_ayah": FATHER, "nama_ibu_kandung": "Siti Aminah",
            "nik_ibu": MOTHER, "nama_wali": "", "nik_wali": None, **over}


def hub_frame(rec: dict[str, Any]) -> dict[str, Any]:
    row = StudentRow(rec["nama"], rec["jenis_kelamin"], rec["tanggal_lahir"], rec["nama_ibu_kandung"],
                     rec["nama_ayah"], rec["nama_wali"], rec["nik"], rec["nik_ibu"], rec["nik_ayah"], rec["nik_wali"],
                     rec["no_kk"], "3201012001")
    return students_frame([row], date(2026, 6, 1)).row(0, named=True)


def test_every_invalid_rule_on_the_childs_nik_has_a_case() -> None:
    invalid_nik_rules = {r.kode for r in rules.RULES.values()
                         if r.status is StatusValidasi.INVALID and r.kode.startswith("nik_")}
    assert invalid_nik_rules == set(CASES)


@pytest.mark.parametrize("kode", sorted(CASES))
def test_a_nik_dapodik_holds_back_is_no_key_at_the_hub_and_its_rule_is_named(kode: str) -> None:
    changes, hub_rule = CASES[kode]
    rec = record(**changes)
    found = rules.validate(rec)
    assert (kode, "nik") in {(f.rule.kode, f.field) for f in found}
    assert rules.status_of(found) is StatusValidasi.INVALID
    frame = hub_frame(rec)
    assert frame["nik"] is None and frame["rule_nik"] == hub_rule
    assert frame["no_kk"] == KK  # the KK number stays a key (verified by the family's members)


def test_the_valid_record_keeps_every_key() -> None:
    rec = record()
    assert rules.status_of(rules.validate(rec)) is StatusValidasi.VALID
    frame = hub_frame(rec)
    assert (frame["nik"], frame["nik_ibu"], frame["nik_ayah"], frame["no_kk"]) == (CHILD, MOTHER, FATHER, KK)
    assert frame["rule_nik"] is None
