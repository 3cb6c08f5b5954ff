"""Columnar inputs of the matcher: the registry (a minimised replica) and the students, as polars frames.

Everything the matcher compares is prepared once here, vectorised: names normalised
(``shared.names.normalise_expr``), NIKs normalised and validated (``shared.nik.check_frame``), the NIKs a
record carries split into usable keys and the rules the others break. Names in these frames are already
normalised; raw names never reach the matcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

import polars as pl

from shared import names
from shared.nik import NikSuspicion, check_frame, normalise_column

T = TypeVar("T")
NIK_KEYS = ("nik", "nik_ibu", "nik_ayah", "nik_wali")
# Rules of a child's well-formed NIK that its record makes unusable (``rule_nik``), besides shared.nik's.
SAME_AS_NO_KK = NikSuspicion.SAME_AS_NO_KK.value
SHARED_WITH_PARENT = NikSuspicion.SHARED_IN_FAMILY.value
# Rules under which the child's NIK digits are someone else's number (the family's, a parent's) or none at all:
# similar to nothing in the fallback.
NOT_THE_CHILDS = ("placeholder", SAME_AS_NO_KK, SHARED_WITH_PARENT)

PERSON_SCHEMA = {
    "pid": pl.Int64, "nik": pl.String, "no_kk": pl.String, "nama": pl.String, "sex": pl.String,
    "dob": pl.Date, "ibu": pl.String, "hub": pl.String,
}
FAMILY_SCHEMA = {
    "no_kk": pl.String, "wil": pl.String, "version": pl.Int64, "pkh_status": pl.String,
    "pkh_periode": pl.String, "no_kks": pl.String,
}
KK_LAMA_SCHEMA = {"old_kk": pl.String, "no_kk": pl.String}
# a random sample of registry persons (``replica.sample.random_persons``; u of the fallback model): a person
# with the family's region and one of its former KK numbers, names in normal form
SAMPLE_SCHEMA = {**{k: v for k, v in PERSON_SCHEMA.items() if k != "pid"}, "wil": pl.String, "old_kk": pl.String}


def in_background(fn: Callable[[], T], name: str) -> Future[T]:
    """``fn()`` on a thread of its own (named ``name``); the future holds its result or its exception."""
    out: Future[T] = Future()

    def work() -> None:
        try:
            out.set_result(fn())
        except BaseException as exc:  # handed to whoever waits for it
            out.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return out


@dataclass(frozen=True)
class RegistryStats:
    """The whole registry's size at a registry sequence: what the fallback's prior and a stored model's drift
    need, known without the registry in memory (``replica.sample.stats``), while the frames a worker holds
    may be a slice of it."""

    observed_seq: int
    persons: int
    families: int


@dataclass(frozen=True)
class Registry:
    """The registry as the matcher sees it. ``persons`` carry the family's region (``wil``) for blocking; a
    person's ``pid`` is its row position (the passes gather by it)."""

    persons: pl.DataFrame
    families: pl.DataFrame
    kk_lama: pl.DataFrame
    observed_seq: int = 0
    _cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, persons: pl.DataFrame, families: pl.DataFrame, kk_lama: pl.DataFrame | None = None,
              observed_seq: int = 0, *, raw_names: bool = True) -> Registry:
        """From raw rows: ``persons`` (nik, no_kk, nama, sex, dob, ibu, hub), ``families`` (FAMILY_SCHEMA),
        ``kk_lama`` (old_kk, no_kk). Names are normalised here unless ``raw_names`` is false."""
        p = persons
        if raw_names:
            p = p.with_columns(names.normalise_expr("nama").alias("nama"), names.normalise_expr("ibu").alias("ibu"))
        p = p.drop("pid", strict=False).with_row_index("pid").with_columns(pl.col("pid").cast(pl.Int64))
        fam = families.select([pl.col(c).cast(t) for c, t in FAMILY_SCHEMA.items()])
        p = p.select([pl.col(c).cast(t) for c, t in PERSON_SCHEMA.items()]).join(
            fam.select("no_kk", "wil"), on="no_kk", how="left", maintain_order="left")
        lama = kk_lama if kk_lama is not None else pl.DataFrame(schema=KK_LAMA_SCHEMA)
        return cls(p, fam, lama.select([pl.col(c).cast(t) for c, t in KK_LAMA_SCHEMA.items()]), observed_seq)

    def stats(self) -> RegistryStats:
        """The size of these frames, for when they are the whole registry (not a slice)."""
        return RegistryStats(self.observed_seq, self.persons.height, self.families.height)

    def cached(self, key: str, build: Callable[[Registry], T]) -> T:
        """What ``build(self)`` returns, built once per registry and kept under ``key``; when ``prepare``
        started building it, the result of that build (waited for; its exception raised here)."""
        held = self._cache.get(key)
        if isinstance(held, Future):
            value: T = held.result()
            self._cache[key] = value
            return value
        if held is None:
            held = self._cache[key] = build(self)
        return held  # type: ignore[return-value]

    def prepare(self, key: str, build: Callable[[Registry], object]) -> None:
        """Start ``build(self)`` on a background thread (``cached`` waits for it), unless ``key`` is held or
        being built: a pass's preparation of the registry (the deterministic index, the fallback's block order)
        then runs while the caller does other work (polars releases the GIL; the two cores both work)."""
        if key not in self._cache:
            self._cache[key] = in_background(lambda: build(self), f"registry-{key}")

    @classmethod
    def empty(cls) -> Registry:
        """What ``build`` makes of no rows (its frames' schemas), without its frame operations (a unit or a
        check on the scalar path makes one per call)."""
        return cls(pl.DataFrame(schema={**PERSON_SCHEMA, "wil": pl.String}), pl.DataFrame(schema=FAMILY_SCHEMA),
                   pl.DataFrame(schema=KK_LAMA_SCHEMA))


@dataclass(frozen=True, slots=True)
class StudentRow:
    """One student as the matcher needs it (raw values; normalised in :func:`students_frame`)."""

    nama: str
    sex: str
    dob: date
    nama_ibu: str
    nama_ayah: str
    nama_wali: str
    nik: str | None
    nik_ibu: str | None
    nik_ayah: str | None
    nik_wali: str | None
    no_kk: str | None
    wil: str | None  # region of the school (10-digit desa code), the only address a student record has


_RAW_COLUMNS = ("nama", "sex", "dob", "nama_ibu", "nama_ayah", "nama_wali", "nik", "nik_ibu", "nik_ayah", "nik_wali",
                "no_kk", "wil")


def students_frame(rows: list[StudentRow] | pl.DataFrame, today: date | None = None) -> pl.DataFrame:
    """The students frame: ``sid`` (position), normalised names, usable NIK keys (null when the NIK breaks a
    rule), the rule each broke (``rule_<key>``; the child's also ``same_as_no_kk`` and
    ``shared_with_family_member``), the child's NIK digits whatever their validity (``nik_digits``, for
    similarity), a usable ``no_kk``, and the school region ``wil``."""
    if isinstance(rows, pl.DataFrame):
        raw = rows
    else:
        raw = pl.DataFrame(  # column by column: no dict per student
            {c: [getattr(r, c) for r in rows] for c in _RAW_COLUMNS},
            schema={"nama": pl.String, "sex": pl.String, "dob": pl.Date, "nama_ibu": pl.String,
                    "nama_ayah": pl.String, "nama_wali": pl.String, "nik": pl.String, "nik_ibu": pl.String,
                    "nik_ayah": pl.String, "nik_wali": pl.String, "no_kk": pl.String, "wil": pl.String})
    cols: dict[str, pl.Series] = {}
    # the four NIK columns checked in one call (row by row: the same rules as one call per column, a quarter
    # of the per-call cost that dominates a unit's few hundred students)
    every = check_frame(pl.concat([raw[key].cast(pl.String) for key in NIK_KEYS]), today)
    for i, key in enumerate(NIK_KEYS):
        checked = every.slice(i * raw.height, raw.height)
        cols[key] = checked.select(pl.when(pl.col("rule").is_null()).then(pl.col("nik"))).to_series().rename(key)
        cols[f"rule_{key}"] = checked["rule"].rename(f"rule_{key}")
        if key == "nik":
            cols["nik_digits"] = checked.select(
                pl.when(pl.col("nik").str.contains(r"^\d{16}$")).then(pl.col("nik"))).to_series().rename("nik_digits")
    kk = normalise_column(raw["no_kk"])  # only its digits matter: a KK number has no NIK rules
    out = raw.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("sid"),
        names.normalise_series(raw["nama"]).alias("nama"),
        pl.col("sex").cast(pl.String),
        pl.col("dob").cast(pl.Date),
        names.normalise_series(raw["nama_ibu"]).alias("ibu"),
        names.normalise_series(raw["nama_ayah"]).alias("ayah"),
        names.normalise_series(raw["nama_wali"]).alias("wali"),
        pl.col("wil").cast(pl.String),
    ).with_columns(
        *cols.values(),
        kk.str.contains(r"^\d{16}$").fill_null(False).alias("_kk_ok"), kk.alias("_kk"),
    )
    # the KK number typed into the NIK field (Dapodik holds the record back: nik_sama_no_kk): a KK key, never a
    # NIK key; the child's NIK equal to a parent's (Dapodik: nik_sama_orang_tua) is nobody's NIK for sure, so it
    # is not the child's key (it stays the parent's key, verified as that parent: sex and name)
    same_kk = (pl.col("nik") == pl.col("no_kk")).fill_null(False)
    shared = pl.any_horizontal([(pl.col("nik") == pl.col(k)).fill_null(False) for k in NIK_KEYS if k != "nik"])
    out = out.with_columns(
        pl.when(pl.col("_kk_ok")).then(pl.col("_kk")).alias("no_kk"),
    ).with_columns(
        pl.when(same_kk).then(pl.lit(SAME_AS_NO_KK)).when(shared).then(pl.lit(SHARED_WITH_PARENT))
        .otherwise(pl.col("rule_nik")).alias("rule_nik"),
        pl.when(same_kk | shared).then(None).otherwise(pl.col("nik")).alias("nik"),
    ).drop("_kk_ok", "_kk")
    return out
