"""A tiny hand-made world for the tests (independent of worldgen): 4 families, 9 members, PKH, 60 KIPs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from shared.nik import Sex, encode

KK1, KK2, KK3, KK4 = "3201010101260001", "3201010202260002", "3578010303260003", "3578010404260004"
DESA = {KK1: "3201011001", KK2: "3201011002", KK3: "3578011001", KK4: "3578011002"}
KIP_COUNT = 60
JENJANG = ("SD", "SMP", "SMA", "SMK")
KIP_WILAYAH = ("3201011001", "3201011002", "3578011001", "3578021003", "1101012001")


def nik(prefix: str, sex: Sex, born: date, serial: int) -> str:
    return encode(prefix, sex, born, serial)


@dataclass
class World:
    keluarga: list[dict[str, Any]] = field(default_factory=list)
    anggota_keluarga: list[dict[str, Any]] = field(default_factory=list)
    pkh: list[dict[str, Any]] = field(default_factory=list)
    kip: list[dict[str, Any]] = field(default_factory=list)
    bansos: list[dict[str, Any]] = field(default_factory=list)  # optional file, written when not empty
    kk_history: list[dict[str, Any]] = field(default_factory=list)  # optional file, written when not empty

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        optional = tuple(name for name in ("bansos", "kk_history") if getattr(self, name))
        for name in ("keluarga", "anggota_keluarga", "pkh", "kip", *optional):
            lines = [json.dumps(row) for row in getattr(self, name)]
            (directory / f"{name}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return directory

    @property
    def versioned_rows(self) -> int:
        return len(self.keluarga) + len(self.pkh) + len(self.kip) + len(self.bansos)

    def member(self, nik_: str) -> dict[str, Any]:
        return next(m for m in self.anggota_keluarga if m["nik"] == nik_)


# People of the world, by role (all NIKs valid by shared.nik rules).
AYAH1 = nik("320101", Sex.L, date(1980, 3, 14), 1)
IBU1 = nik("320101", Sex.P, date(1984, 7, 2), 2)
ANAK1 = nik("320101", Sex.P, date(2012, 5, 7), 3)
ANAK2 = nik("320101", Sex.L, date(2010, 11, 23), 4)
IBU2 = nik("320101", Sex.P, date(1979, 1, 30), 5)
ANAK3 = nik("320101", Sex.L, date(2014, 2, 9), 6)
AYAH3 = nik("357801", Sex.L, date(1975, 12, 1), 1)
ANAK4 = nik("357801", Sex.P, date(2009, 8, 17), 2)
NENEK4 = nik("357801", Sex.P, date(1950, 4, 4), 3)
# Valid NIKs that are not in the registry.
STRANGER1 = nik("320101", Sex.L, date(2011, 6, 6), 99)
STRANGER2 = nik("357801", Sex.P, date(2013, 9, 9), 98)


def _member(nik_: str, no_kk: str, nama: str, sex: str, born: date, ibu: str, hubungan: str) -> dict[str, Any]:
    return {"nik": nik_, "no_kk": no_kk, "nama": nama, "jenis_kelamin": sex, "tempat_lahir": "BOGOR",
            "tanggal_lahir": born.isoformat(), "nama_ibu_kandung": ibu, "hubungan_keluarga": hubungan}


def tiny_world() -> World:
    w = World()
    w.keluarga = [
        {"no_kk": KK1, "kode_wilayah": DESA[KK1], "alamat": "KP. SUKAMAJU RT 01/02", "desil": 1,
         "dtsen_triwulan": "2026-Q2", "no_kks": "3201019900000123"},
        {"no_kk": KK2, "kode_wilayah": DESA[KK2], "alamat": "JL. MELATI 4", "desil": 4, "dtsen_triwulan": "2026-Q2"},
        {"no_kk": KK3, "kode_wilayah": DESA[KK3], "desil": None, "dtsen_triwulan": "2026-Q1"},
        {"no_kk": KK4, "kode_wilayah": DESA[KK4], "alamat": "GG. MAWAR", "desil": 7, "dtsen_triwulan": "2026-Q1"},
    ]
    w.anggota_keluarga = [
        _member(AYAH1, KK1, "BUDI SANTOSO", "L", date(1980, 3, 14), "SUMIATI", "KEPALA_KELUARGA"),
        _member(IBU1, KK1, "SRI WAHYUNI", "P", date(1984, 7, 2), "PARTINAH", "ISTRI"),
        _member(ANAK1, KK1, "SITI RAHAYU", "P", date(2012, 5, 7), "SRI WAHYUNI", "ANAK"),
        _member(ANAK2, KK1, "AHMAD FAUZI", "L", date(2010, 11, 23), "SRI WAHYUNI", "ANAK"),
        _member(IBU2, KK2, "NURHAYATI", "P", date(1979, 1, 30), "ROKAYAH", "KEPALA_KELUARGA"),
        _member(ANAK3, KK2, "DEDI KURNIAWAN", "L", date(2014, 2, 9), "NURHAYATI", "ANAK"),
        _member(AYAH3, KK3, "SLAMET RIYADI", "L", date(1975, 12, 1), "SUPINAH", "KEPALA_KELUARGA"),
        _member(ANAK4, KK3, "DEWI LESTARI", "P", date(2009, 8, 17), "MARYAM", "ANAK"),
        _member(NENEK4, KK4, "SUKINAH", "P", date(1950, 4, 4), "", "KEPALA_KELUARGA"),
    ]
    w.pkh = [
        {"no_kk": KK1, "status": "AKTIF", "komponen": ["SD"], "tahun": 2025, "tahap": 4},
        # listed out of order on purpose: the latest period is 2026 tahap II, whatever the file order
        {"no_kk": KK1, "status": "AKTIF", "komponen": ["SD", "SMP"], "tahun": 2026, "tahap": 2},
        {"no_kk": KK1, "status": "AKTIF", "komponen": ["SD", "SMP"], "tahun": 2026, "tahap": 1},
        {"no_kk": KK2, "status": "TIDAK_AKTIF", "komponen": [], "tahun": 2026, "tahap": 2},
        {"no_kk": KK4, "status": "GRADUASI", "komponen": ["LANSIA"], "tahun": 2024, "tahap": 3},
    ]
    niks_on_kip = (ANAK1, ANAK2, None, "320101471012", ANAK3, ANAK4)
    w.kip = [
        {"no_kip": f"K{i:05d}", "nama": f"SISWA {i}", "tanggal_lahir": date(2008 + i % 8, 1 + i % 12, 1 + i % 28)
         .isoformat(), "nama_ibu_kandung": "IBU", "kode_wilayah": KIP_WILAYAH[i % len(KIP_WILAYAH)],
         "jenjang": JENJANG[i % len(JENJANG)], "nik": niks_on_kip[i % len(niks_on_kip)], "tahun": 2020 + i % 6}
        for i in range(KIP_COUNT)
    ]
    return w
