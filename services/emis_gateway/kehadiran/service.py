"""Rules of the kehadiran domain: a month's counts and what PKH reads from them (``shared.kehadiran``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from services.emis_gateway.kehadiran import repository
from shared import kehadiran
from shared.contracts.emis import KehadiranSiswa, KehadiranSiswaRecord

# The rule names of shared.kehadiran under this system's field names.
FIELD_NAMES = {"tahun": "tahun", "bulan": "bulan", "hari_efektif": "hari_efektif", "alpa": "alpa", "izin": "izin",
               "sakit": "sakit"}


def violations(rec: KehadiranSiswaRecord, period: list[tuple[int, int]] | None = None) -> list[kehadiran.Violation]:
    return kehadiran.check_month(tahun=rec.tahun, bulan=rec.bulan, hari_efektif=rec.hari_efektif, alpa=rec.alpa,
                                 izin=rec.izin, sakit=rec.sakit, names=FIELD_NAMES, period=period)


def to_contract(row: Mapping[str, Any]) -> KehadiranSiswa:
    he, a, i, s = row["hari_efektif"], row["alpa"], row["izin"], row["sakit"]
    return KehadiranSiswa(siswa_id=row["siswa_id"], tahun=row["tahun"], bulan=row["bulan"], hari_efektif=he,
                          sakit=s, izin=i, alpa=a, jumlah_tidak_hadir=a + i + s,
                          persentase_kehadiran=kehadiran.persen(he, a, i, s),
                          memenuhi_syarat_pkh=kehadiran.memenuhi(he, a, i, s))


def of_students(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[KehadiranSiswa]]:
    return {sid: [to_contract(r) for r in rows] for sid, rows in repository.of_students(session, siswa_ids).items()}
