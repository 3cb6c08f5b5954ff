"""Rules of the kehadiran domain: a month's counts and what PKH reads from them (``shared.kehadiran``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from services.dapodik_gateway.kehadiran import repository
from shared import kehadiran
from shared.contracts.dapodik import KehadiranPd, KehadiranPdRecord

# The names of shared.kehadiran's rules under Dapodik's field names.
FIELD_NAMES = {"tahun": "tahun", "bulan": "bulan", "hari_efektif": "jml_hari_efektif",
               "alpa": "jml_tanpa_keterangan", "izin": "jml_izin", "sakit": "jml_sakit"}


def violations(rec: KehadiranPdRecord, period: list[tuple[int, int]] | None = None) -> list[kehadiran.Violation]:
    return kehadiran.check_month(tahun=rec.tahun, bulan=rec.bulan, hari_efektif=rec.jml_hari_efektif,
                                 alpa=rec.jml_tanpa_keterangan, izin=rec.jml_izin, sakit=rec.jml_sakit,
                                 names=FIELD_NAMES, period=period)


def to_contract(row: Mapping[str, Any]) -> KehadiranPd:
    he, a, i, s = row["jml_hari_efektif"], row["jml_tanpa_keterangan"], row["jml_izin"], row["jml_sakit"]
    return KehadiranPd(peserta_didik_id=row["peserta_didik_id"], tahun=row["tahun"], bulan=row["bulan"],
                       jml_hari_efektif=he, jml_sakit=s, jml_izin=i, jml_tanpa_keterangan=a,
                       jml_tidak_hadir=a + i + s, persen_hadir=kehadiran.persen(he, a, i, s),
                       memenuhi_85_persen=kehadiran.memenuhi(he, a, i, s))


def of_students(session: Session, peserta_didik_ids: Sequence[str]) -> dict[str, list[KehadiranPd]]:
    """The months of a page of students, read set-wise."""
    return {pid: [to_contract(r) for r in rows]
            for pid, rows in repository.of_students(session, peserta_didik_ids).items()}
