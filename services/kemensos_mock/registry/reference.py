"""Dated reference data of PKH (DOMAIN.md §4.2): components, caps, stages, yearly amounts.

Amounts per beneficiary per year, unchanged 2021-2025 in the reports the domain notes cite (tribunnews
2022, poskota 2025); nothing newer is known, so the table stays open-ended. A stage pays a quarter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from shared.contracts.kemensos import (
    MAX_PKH_PENERIMA,
    PKH_KOMPONEN_CAP,
    KomponenPkh,
    NominalPkh,
    ReferensiPkh,
)

TAHAP_BULAN = {1: "Januari-Maret", 2: "April-Juni", 3: "Juli-September", 4: "Oktober-Desember"}

NOMINAL = (
    NominalPkh(
        berlaku_mulai=date(2021, 1, 1), berlaku_sampai=None,
        per_tahun={KomponenPkh.IBU_HAMIL: 3_000_000, KomponenPkh.ANAK_USIA_DINI: 3_000_000,
                   KomponenPkh.SD: 900_000, KomponenPkh.SMP: 1_500_000, KomponenPkh.SMA: 2_000_000,
                   KomponenPkh.LANSIA: 2_400_000, KomponenPkh.DISABILITAS_BERAT: 2_400_000},
        sumber="DOMAIN.md §4.2: tribunnews 2022-02-08; poskota 2025-03-07 (unchanged 2021-2025)",
    ),
)


def referensi() -> ReferensiPkh:
    return ReferensiPkh(komponen_cap=dict(PKH_KOMPONEN_CAP), max_penerima=MAX_PKH_PENERIMA, tahap=TAHAP_BULAN,
                        nominal=list(NOMINAL))


def nominal_in_force(on: date) -> NominalPkh | None:
    for entry in NOMINAL:
        if entry.berlaku_mulai <= on and (entry.berlaku_sampai is None or on <= entry.berlaku_sampai):
            return entry
    return None


def nominal_tahap(tahun: int, tahap: int, komponen: Iterable[KomponenPkh]) -> int | None:
    """Rupiah a family receives for one stage: a quarter of the yearly amount per beneficiary's component,
    by the amounts in force on the stage's first day; None when no reference covers that day."""
    entry = nominal_in_force(date(tahun, 3 * (tahap - 1) + 1, 1))
    if entry is None:
        return None
    return sum(entry.per_tahun[k] for k in komponen) // 4
