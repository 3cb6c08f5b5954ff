"""KIP cards to students: the NIK pass, the identity pass for cards without a usable NIK, and the cases where
a card must stay unlinked (another mother, an ambiguous pair, two cards for one student)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from services.sync_hub.matching import kip
from services.sync_hub.matching.frames import students_frame
from services.sync_hub.matching.service import to_rows
from services.sync_hub.tests.factories import CHILD, CHILD_DOB, KK
from services.sync_hub.tests.factories import student as make_student
from shared.contracts.common import MatchKey
from shared.contracts.kemensos import Jenjang, KipIssuance
from shared.nik import Sex, encode

WIL = "3201012001"
FIRST = ["Andi", "Budi", "Citra", "Dewi", "Eko", "Fajar", "Gita", "Hadi", "Indah", "Joko", "Kurnia", "Lestari"]
LAST = ["Pratama", "Saputra", "Wulandari", "Hidayat", "Nugroho", "Permata", "Santoso", "Kusuma"]


def card(no_kip: str, nama: str, dob: date, ibu: str, nik: str | None = None, wil: str = WIL,
         jenjang: Jenjang = Jenjang.SD) -> KipIssuance:
    return KipIssuance(no_kip=no_kip, nama=nama, tanggal_lahir=dob, nama_ibu_kandung=ibu, kode_wilayah=wil,
                       jenjang=jenjang, nik=nik, tahun=2025, version=1, updated_at=datetime(2026, 1, 1, tzinfo=UTC))


def crowd(n: int = 300) -> list:  # type: ignore[type-arg]
    """Other students of the kabupaten, born 2008-2019: the background that gives u its meaning (a quarter of
    them born in the student's year, so the card's block is not empty)."""
    out = []
    for i in range(n):
        dob = date(2014 if i % 4 == 0 else 2008 + i % 12, 1 + (i * 7) % 12, 1 + (i * 11) % 28)
        out.append(make_student(student_id=f"c{i}", nama=f"{FIRST[i % 12]} {LAST[i % 8]} {LAST[(i // 8) % 8]}",
                                tanggal_lahir=dob, nik=encode("320101", Sex.L, dob, 100 + i), no_kk=None,
                                nama_ibu_kandung=f"{FIRST[(i + 5) % 12]} {LAST[(i // 3) % 8]}", nik_ibu=None,
                                nik_ayah=None))
    return out


def run(students: list, cards: list[KipIssuance]) -> list[kip.LinkedKip | None]:  # type: ignore[type-arg]
    stu = students_frame(to_rows(students, {s.student_id: WIL for s in students}))
    links = kip.link(stu, ["SD"] * len(students), kip.cards_frame(cards))
    return kip.to_students(links, cards, len(students))


ME = dict(student_id="me", nama="Muhammad Rizki", tanggal_lahir=CHILD_DOB, nama_ibu_kandung="Siti Aminah")


def test_card_with_the_students_nik_links_by_nik() -> None:
    got = run([make_student(**ME), *crowd()], [card("AAA111", "M. Rizky", CHILD_DOB, "Siti Aminah", nik=CHILD)])
    assert got[0] is not None and got[0].no_kip == "AAA111" and got[0].matched_by is MatchKey.NIK
    assert all(g is None for g in got[1:])


def test_card_without_a_nik_links_by_identity_with_evidence() -> None:
    got = run([make_student(**ME), *crowd()], [card("AAA111", "Muhammad Rizky", CHILD_DOB, "Siti Aminah")])
    assert got[0] is not None and got[0].matched_by is MatchKey.KIP_IDENTITY
    ev = got[0].evidence
    assert ev["fields"]["nama"] in ("exact", ">=0.94") and ev["fields"]["ibu"] == "exact"  # type: ignore[index]
    assert float(ev["probability"]) >= 0.999 and float(ev["margin"]) >= 6  # type: ignore[arg-type]


def test_mistyped_nik_on_the_card_still_links_by_identity() -> None:
    typo = CHILD[:12] + ("9" if CHILD[12] != "9" else "8") + CHILD[13:]
    got = run([make_student(**ME), *crowd()], [card("AAA111", "M. Rizky", CHILD_DOB, "Siti Aminah", nik=typo)])
    assert got[0] is not None and got[0].matched_by is MatchKey.KIP_IDENTITY


def test_homonym_with_another_mother_gets_no_card() -> None:
    # the card's child is not among the students; a namesake born the same day to another mother is
    got = run([make_student(**{**ME, "nama_ibu_kandung": "Kartini Wulandari"}), *crowd()],
              [card("AAA111", "Muhammad Rizki", CHILD_DOB, "Siti Aminah")])
    assert all(g is None for g in got)


def test_two_indistinguishable_students_get_no_card() -> None:
    twin_records = [make_student(**ME), make_student(**{**ME, "student_id": "me-too", "nik": None})]
    got = run([*twin_records, *crowd()], [card("AAA111", "Muhammad Rizki", CHILD_DOB, "Siti Aminah")])
    assert all(g is None for g in got)


def test_twins_each_get_their_own_card_or_none() -> None:
    a = make_student(**{**ME, "nik": None})
    b = make_student(student_id="twin", nama="Nur Aisyah", jenis_kelamin="P", tanggal_lahir=CHILD_DOB, nik=None,
                     nama_ibu_kandung="Siti Aminah", no_kk=KK)
    cards = [card("AAA111", "Muhammad Rizki", CHILD_DOB, "Siti Aminah"),
             card("BBB222", "Nur Aisyah", CHILD_DOB, "Siti Aminah")]
    got = run([a, b, *crowd()], cards)
    assert got[0] is not None and got[0].no_kip == "AAA111"
    assert got[1] is not None and got[1].no_kip == "BBB222"
    # twins whose names differ by a letter or two: too close to tell by the name alone, no card rather than a guess
    b = make_student(student_id="twin", nama="Muhammad Rizal", tanggal_lahir=CHILD_DOB, nik=None,
                     nama_ibu_kandung="Siti Aminah", no_kk=KK)
    cards[1] = card("BBB222", "Muhammad Rizal", CHILD_DOB, "Siti Aminah")
    got = run([a, b, *crowd()], cards)
    assert [g.no_kip if g else None for g in got[:2]] in ([None, None], ["AAA111", "BBB222"])


def test_never_two_cards_for_one_student_nor_one_card_for_two() -> None:
    got = run([make_student(**{**ME, "nik": None}), *crowd()],
              [card("AAA111", "Muhammad Rizki", CHILD_DOB, "Siti Aminah"),
               card("BBB222", "Muhammad Rizki", CHILD_DOB, "Siti Aminah")])
    assert all(g is None for g in got)
    stu = students_frame(to_rows([make_student(**ME), *crowd()], {}))
    cards = kip.cards_frame([card("AAA111", "Muhammad Rizky", CHILD_DOB, "Siti Aminah"),
                             card("BBB222", "Muhammad Rizki", CHILD_DOB, "Siti Aminah", nik=CHILD)])
    links = kip.link(stu, [None] * stu.height, cards)
    assert links["sid"].n_unique() == links.height and links["card"].n_unique() == links.height
    assert links.filter(pl.col("sid") == 0)["card"].to_list() == [1]  # the NIK card; the other stays unmatched


def test_interned_sides_give_the_codes_of_comparing_every_pairs_strings() -> None:
    """``_codes`` on the ``Interned`` sides (names compared once per distinct pair, the token sort only where a name
    is out of order) equals the codes of the sides holding the names as polars columns, pair by pair: random pairs
    of a crowd and its cards, names written in both orders and mothers' names sharing their first words."""
    import numpy as np

    from services.sync_hub.matching import levels

    students = crowd(200)
    cards = [card(f"K{i:03d}", " ".join(reversed(s.nama.split())) if i % 3 == 0 else s.nama, s.tanggal_lahir,
                  f"Ni Gede {s.nama_ibu_kandung}" if i % 4 == 0 else s.nama_ibu_kandung, wil=WIL)
             for i, s in enumerate(students[:120])]
    stu = students_frame(to_rows(students, {s.student_id: WIL for s in students})).with_columns(
        pl.lit("SD").alias("jenjang"))
    cf = kip.cards_frame(cards)
    s_int, c_int = kip._sides(stu, cf)
    assert isinstance(s_int.nama, levels.Interned) and isinstance(c_int.ibu, levels.Interned)
    s_col = levels.side(levels.prepare_students(stu), "nik_digits", "no_kk", None, levels.STUDENT_MISSING_DAY)
    c_col = levels.side(cf.with_columns(pl.lit(None, pl.String).alias("sex"), pl.lit(None, pl.String).alias("kk")),
                        "nik_digits", "kk", None, levels.OTHER_MISSING_DAY)
    rng = np.random.default_rng(7)
    si, ci = rng.integers(0, len(students), 5_000), rng.integers(0, len(cards), 5_000)
    si[:120], ci[:120] = np.arange(120), np.arange(120)  # every card with its own student (near names) too
    assert np.array_equal(kip._codes(s_int, c_int, si, ci), kip._codes(s_col, c_col, si, ci))
