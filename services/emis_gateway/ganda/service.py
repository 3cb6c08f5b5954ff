"""Duplicate detection ("data ganda"): the same person active in two or more madrasah.

Same person means the same valid NIK (``shared.nik``: a placeholder NIK shared by many children is no
evidence). Without a NIK to tell them apart (missing or invalid in at least one record), the same
normalised name, birth date and normalised mother's name (``shared.names.normalise``: spelling reform,
Muhammad/Ahmad variants, titles, bin/binti). Two records with two different valid NIKs are two people.

Detection is vectorised (polars) over every active student and kept until the students change (count,
newest ``updated_at``, id range): a 100,000-student gateway recomputes in about a second.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass

import polars as pl
from sqlmodel import Session

from services.emis_gateway.ganda import repository
from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.siswa.models import SiswaRow
from shared.contracts.common import Page
from shared.contracts.emis import DasarGanda, DataGanda, DataGandaSiswa
from shared.errors import InvalidInput, NotFound
from shared.names import normalise_series
from shared.nik import check_frame, mask

_ORDER = {DasarGanda.NIK: 0, DasarGanda.IDENTITAS: 1}


@dataclass(frozen=True, slots=True)
class Group:
    dasar: DasarGanda
    members: tuple[str, ...]  # siswa_id, sorted
    nsms: frozenset[str]
    nik: str | None = None

    @property
    def position(self) -> tuple[int, str]:
        return _ORDER[self.dasar], self.members[0]


def detect(rows: list[repository.Identity]) -> list[Group]:
    """Every duplicate group among ``rows`` (active students), in a stable order. Pure."""
    if not rows:
        return []
    df = pl.DataFrame(rows, schema={"siswa_id": pl.String, "nsm": pl.String, "nik": pl.String, "nama": pl.String,
                                    "tanggal_lahir": pl.Date, "ibu": pl.String}, orient="row")
    checked = check_frame(df["nik"])
    df = df.with_columns(pl.when(checked["rule"].is_null()).then(checked["nik"]).otherwise(None).alias("nik_ok"))
    groups: list[Group] = []
    by_nik = (df.filter(pl.col("nik_ok").is_not_null())
              .group_by("nik_ok").agg(pl.col("siswa_id"), pl.col("nsm").unique())
              .filter(pl.col("nsm").list.len() >= 2))
    for nik, members, nsms in by_nik.iter_rows():
        groups.append(Group(DasarGanda.NIK, tuple(sorted(members)), frozenset(nsms), nik))
    named = df.with_columns(normalise_series(df["nama"]).alias("nn"), normalise_series(df["ibu"]).alias("ni"))
    by_identity = (named.filter((pl.col("nn") != "") & (pl.col("ni") != ""))
                   .group_by("nn", "tanggal_lahir", "ni")
                   .agg(pl.col("siswa_id"), pl.col("nsm").unique(),
                        pl.col("nik_ok").drop_nulls().unique().alias("niks"),
                        pl.col("nik_ok").null_count().alias("without_nik"))
                   .filter(pl.col("nsm").list.len() >= 2))
    for _, _, _, members, nsms, niks, without_nik in by_identity.iter_rows():
        if len(niks) > 1 or without_nik == 0:  # two people by their NIKs; or all one NIK: reported as such
            continue
        groups.append(Group(DasarGanda.IDENTITAS, tuple(sorted(members)), frozenset(nsms)))
    return sorted(groups, key=lambda g: g.position)


class DuplicateIndex:
    """The groups of the current data, recomputed when the students change. Shared by the app's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: tuple[object, ...] | None = None
        self._groups: list[Group] = []

    def groups(self, session: Session) -> list[Group]:
        signature = repository.signature(session)
        with self._lock:
            if signature != self._signature:
                self._groups = detect(repository.active_identities(session))
                self._signature = signature
            return self._groups


def ensure_institution(session: Session, nsm: str) -> None:
    if madrasah_repository.get(session, nsm) is None:
        raise NotFound.field("nsm", "not_found", "no madrasah or pesantren with this number")


def _encode(group: Group) -> str:
    raw = json.dumps([group.dasar.value, group.members[0]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, str]:
    try:
        dasar, first = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return _ORDER[DasarGanda(dasar)], str(first)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued") from exc


def page(session: Session, index: DuplicateIndex, cursor: str | None, limit: int,
         nsms: frozenset[str] | None = None) -> Page[DataGanda]:
    """Groups (all, or those touching one of ``nsms``) after ``cursor``, with every record of each."""
    groups = index.groups(session)
    if nsms is not None:
        groups = [g for g in groups if g.nsms & nsms]
    if cursor is not None:
        after = _decode(cursor)
        groups = [g for g in groups if g.position > after]
    chosen = groups[:limit]
    rows = {r.siswa_id: r for r in repository.students(session, [m for g in chosen for m in g.members])}
    names = repository.madrasah_names(session, [r.nsm for r in rows.values()])
    items = []
    for g in chosen:
        records = [_record(rows[m], names) for m in g.members if m in rows]
        if len(records) >= 2:  # a record deleted since the groups were computed
            items.append(DataGanda(dasar=g.dasar, keterangan=_why(g), siswa=records))
    return Page[DataGanda](items=items, next_cursor=_encode(chosen[-1]) if len(groups) > limit else None)


def _why(group: Group) -> str:
    if group.dasar is DasarGanda.NIK:
        return f"NIK {mask(group.nik)} aktif di {len(group.nsms)} madrasah"
    return (f"nama, tanggal lahir dan nama ibu kandung sama, aktif di {len(group.nsms)} madrasah; NIK kosong atau "
            "tidak valid pada sebagian data")


def _record(row: SiswaRow, names: dict[str, str]) -> DataGandaSiswa:
    return DataGandaSiswa(siswa_id=row.siswa_id, nsm=row.nsm, nama_madrasah=names.get(row.nsm), nisn=row.nisn,
                          nik=mask(row.nik) or None, nama=row.nama, tanggal_lahir=row.tanggal_lahir,
                          nama_ibu_kandung=row.nama_ibu_kandung, tingkat=row.tingkat, rombel=row.rombel)
