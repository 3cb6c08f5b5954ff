"""Read a generated world (``worldgen``) into the matcher's frames, with its ground truth, vectorised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from services.sync_hub.matching.frames import Registry


@dataclass
class World:
    registry: Registry
    students: pl.DataFrame  # raw student rows (students_frame input) in ground-truth order
    truth: pl.DataFrame  # one row per student: true_nik, true_no_kk, in_registry, errors, adversarial, ...
    kip: pl.DataFrame  # kemensos/kip.jsonl: the KIP issuances (truth: ``truth["kip_no"]``)


def _ndjson(path: Path, schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pl.DataFrame(schema=schema or {})
    return pl.read_ndjson(path, schema_overrides=schema, infer_schema_length=None)


def load_world(root: Path) -> World:
    k = root / "kemensos"
    fam = _ndjson(k / "keluarga.jsonl")
    pkh = _ndjson(k / "pkh.jsonl")
    latest = (pkh.sort("tahun", "tahap", descending=True).group_by("no_kk", maintain_order=True).first()
              .select("no_kk", pl.col("status").alias("pkh_status"),
                      pl.concat_str(pl.col("tahun"), pl.lit(" tahap "), pl.col("tahap")).alias("pkh_periode")))
    families = fam.select("no_kk", pl.col("kode_wilayah").alias("wil"), pl.lit(0).alias("version"), "no_kks").join(
        latest, on="no_kk", how="left")
    members = _ndjson(k / "anggota_keluarga.jsonl").select(
        "nik", "no_kk", "nama", pl.col("jenis_kelamin").alias("sex"),
        pl.col("tanggal_lahir").str.to_date().alias("dob"),
        pl.col("nama_ibu_kandung").alias("ibu"), pl.col("hubungan_keluarga").alias("hub"))
    hist = _ndjson(k / "kk_history.jsonl")
    kk_lama = hist.select(pl.col("no_kk_lama").alias("old_kk"), "no_kk") if not hist.is_empty() else None
    registry = Registry.build(members, families, kk_lama)

    cols = ["nama", "jenis_kelamin", "tanggal_lahir", "nama_ibu_kandung", "nama_ayah", "nama_wali", "nik", "nik_ibu",
            "nik_ayah", "nik_wali", "no_kk"]
    text = {c: pl.String for c in cols}
    siswa = _ndjson(root / "emis" / "siswa.jsonl", text)
    madrasah = _ndjson(root / "emis" / "madrasah.jsonl")
    emis = siswa.join(madrasah.select("nsm", pl.col("kode_wilayah").alias("wil")), on="nsm", how="left").select(
        pl.lit("emis").alias("system"), pl.col("siswa_id").alias("student_id"), *cols, "wil",
        pl.lit(None, pl.String).alias("jenjang"))
    pd_ = _ndjson(root / "dapodik" / "peserta_didik.jsonl", text)
    sekolah = _ndjson(root / "dapodik" / "sekolah.jsonl")
    dapodik = pd_.join(sekolah.select("sekolah_id", pl.col("kode_wilayah").alias("wil"),
                                      pl.col("bentuk_pendidikan").alias("jenjang")), on="sekolah_id",
                       how="left").select(pl.lit("dapodik").alias("system"),
                                          pl.col("peserta_didik_id").alias("student_id"), *cols, "wil", "jenjang")
    truth = _ndjson(root / "ground_truth.jsonl")
    raw = pl.concat([emis, dapodik])
    students = truth.select("system", "student_id").join(raw, on=["system", "student_id"], how="left",
                                                         maintain_order="left")
    students = students.select(
        "system", "student_id", "nama", pl.col("jenis_kelamin").alias("sex"),
        pl.col("tanggal_lahir").str.to_date().alias("dob"), pl.col("nama_ibu_kandung").alias("nama_ibu"),
        "nama_ayah", "nama_wali", "nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk", "wil", "jenjang")
    kip = _ndjson(k / "kip.jsonl", {"nik": pl.String})
    return World(registry, students, truth, kip)
