"""Small hand-built worlds for the tests (valid NIKs from ``shared.nik.encode``; no worldgen)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from shared.contracts.common import HubResultBatch, HubResultItem, MatchKey, Outcome, Provenance
from shared.nik import Sex, encode

PREFIX = "320101"  # a Kabupaten Bogor kecamatan


def uid(n: int, kind: str = "pd") -> str:
    """A stable UUID per (kind, n), so tests can name rows by number."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jembatan-test/{kind}/{n}"))


def sekolah(n: int, **over: Any) -> dict[str, Any]:
    return {"sekolah_id": uid(n, "sekolah"), "npsn": f"{20100000 + n:08d}", "nama": f"SD Negeri {n} Contoh",
            "bentuk_pendidikan": "SD", "status_sekolah": "NEGERI", "kode_wilayah": "3201010001", **over}


def word(n: int) -> str:
    """``n`` spelled with letters (names may hold only ``[A-Za-z ',.-]``): 0 -> A, 12 -> BC."""
    return "".join("ABCDEFGHIJ"[int(d)] for d in str(n))


def peserta_didik(n: int, sekolah_n: int = 1, **over: Any) -> dict[str, Any]:
    born = date(2014, 1 + n % 12, 1 + n % 28)
    sex = Sex.P if n % 2 else Sex.L
    return {
        "peserta_didik_id": uid(n), "sekolah_id": uid(sekolah_n, "sekolah"), "nipd": f"{n:05d}",
        "nisn": f"{n:010d}", "nik": encode(PREFIX, sex, born, 1 + n % 9000), "no_kk": encode(PREFIX, Sex.L, born, 9001),
        "nama": f"Siswa Nomor {word(n)}", "jenis_kelamin": sex.value, "tempat_lahir": "Bogor",
        "tanggal_lahir": born.isoformat(), "tingkat_pendidikan_id": 1 + n % 6,
        "nama_ayah": f"Ayah {word(n)}", "nik_ayah": encode(PREFIX, Sex.L, date(1980, 5, 5), 1 + n % 9000),
        "nama_ibu_kandung": f"Ibu {word(n)}", "nik_ibu": encode(PREFIX, Sex.P, date(1985, 6, 6), 1 + n % 9000),
        **over,
    }


def write_world(directory: Path, schools: list[dict[str, Any]], students: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("sekolah.jsonl", schools), ("peserta_didik.jsonl", students)):
        (directory / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return directory


def provenance(seq: int, pid: str = "prov-1", source: str = "kemensos.dtsen", run: str = "run-1") -> Provenance:
    return Provenance(provenance_id=pid, sync_run_id=run, source_system=source,
                      source_record="keluarga/3201010101010001", source_version=3, observed_seq=seq,
                      retrieved_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), matched_by=MatchKey.NIK_IBU)


def pkh_item(n: int, seq: int, penerima: bool = True, outcome: Outcome = Outcome.PKH_RECIPIENT,
             pid: str = "prov-pkh", run: str = "run-1", **values: Any) -> HubResultItem:
    return HubResultItem(student_id=uid(n), outcome=outcome, outcome_detail="KPM PKH aktif (nik_ibu)",
                         values={"penerima_kps": penerima, **values}, provenance=provenance(seq, pid, run=run))


def kip_item(n: int, seq: int, no_kip: str, pid: str = "prov-kip", run: str = "run-1") -> HubResultItem:
    """A KIP-only item: the KIP number replaces the KPS number (no outcome)."""
    return HubResultItem(student_id=uid(n), values={"penerima_kip": True, "no_kip": no_kip, "no_kps": no_kip,
                                                    "nm_kip": f"SISWA {n}"},
                         provenance=provenance(seq, pid, source="puslapdik.sk_kip", run=run))


def batch(*items: HubResultItem, run: str = "run-1") -> HubResultBatch:
    return HubResultBatch(sync_run_id=run, items=list(items))


def body(b: HubResultBatch) -> dict[str, Any]:
    return b.model_dump(mode="json")
