"""All SQL of the mirror: set-wise (``COPY`` on PostgreSQL, else one executemany per table; deletes by key in
chunks)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.mirror.models import (
    FeedStateRow,
    MirrorKehadiranRow,
    MirrorRefetchRow,
    SchoolCopyRow,
    StudentMirrorRow,
)
from services.sync_hub.replica.models import ReplicaKipRow
from shared import bulk
from shared.db import Growing, built_once, each_key, one_of
from shared.regions import code_range

MIRROR: sa.Table = StudentMirrorRow.__table__  # type: ignore[assignment]
REFETCH: sa.Table = MirrorRefetchRow.__table__  # type: ignore[assignment]
KEHADIRAN: sa.Table = MirrorKehadiranRow.__table__  # type: ignore[assignment]
CHUNK = 1000
COLUMNS = tuple(c.name for c in MIRROR.columns)
# the statistics of the columns the mirror is read by, kept in step while a first sync fills it (``one_of`` reads
# and deletes right after each page's insert)
GROWING = {MIRROR.name: Growing(MIRROR.name, ("system", "student_id", "region", "nik", "nik_ibu", "nik_ayah",
                                              "nik_wali", "no_kk")),
           KEHADIRAN.name: Growing(KEHADIRAN.name, ("system", "student_id"))}


def feed_state(session: Session, system: str) -> FeedStateRow:
    row = session.get(FeedStateRow, system)
    if row is None:
        row = FeedStateRow(system=system, cursor=None, generation=0)
        session.add(row)
        session.flush()
    return row


def generation(session: Session, system: str) -> int:
    value = session.execute(sa.select(FeedStateRow.generation).where(FeedStateRow.system == system)).scalar()
    return int(value or 0)


def rows_in_region(session: Session, system: str, region: str, columns: Sequence[str] = COLUMNS
                   ) -> list[sa.Row[Any]]:
    """The stored students of ``system`` whose region starts with ``region`` (``columns``, in that order), by
    student id."""
    where = code_range(MIRROR.c.region, region) if region else MIRROR.c.region == ""
    stmt = sa.select(*(MIRROR.c[c] for c in columns)).where(MIRROR.c.system == system, where).order_by(
        MIRROR.c.student_id)
    return list(session.execute(stmt).all())


def regions_of(session: Session, system: str, student_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    ids = sorted(set(student_ids))
    where, bind = one_of(session, MIRROR.c.student_id, "ids")
    stmt = sa.select(MIRROR.c.student_id, MIRROR.c.region).where(MIRROR.c.system == system, where)
    for start in range(0, len(ids), CHUNK):
        out.update({r[0]: r[1] for r in session.execute(stmt, {"ids": bind(ids[start:start + CHUNK])})})
    return out


def schools_of(session: Session, system: str, student_ids: Sequence[str]
               ) -> dict[str, tuple[str, str, str | None, str | None]]:
    """student id -> (school, region, bentuk, npsn) as stored, for those held."""
    out: dict[str, tuple[str, str, str | None, str | None]] = {}
    ids = sorted(set(student_ids))
    where, bind = one_of(session, MIRROR.c.student_id, "ids")
    stmt = sa.select(MIRROR.c.student_id, MIRROR.c.school, MIRROR.c.region, MIRROR.c.bentuk, MIRROR.c.npsn).where(
        MIRROR.c.system == system, where)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(stmt, {"ids": bind(ids[start:start + CHUNK])})
        out.update({r[0]: (r[1], r[2], r[3], r[4]) for r in rows})
    return out


def unread_since(session: Session, system: str, since: datetime) -> dict[str, str]:
    stmt = sa.select(MIRROR.c.student_id, MIRROR.c.region).where(
        MIRROR.c.system == system, sa.or_(MIRROR.c.read_at.is_(None), MIRROR.c.read_at < since))
    return {r[0]: r[1] for r in session.execute(stmt)}


def current_of(session: Session, system: str, student_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(current_json, attested_json) of these students, ``CHUNK`` ids at a time bound as one parameter: on PostgreSQL
    a primary-key seek per id whatever the statistics say (``each_key``; as ``= ANY`` of the bound array, a copy whose
    statistics were older than its rows was read by region with every id compared to every row), ``one_of`` on
    SQLite."""
    out: dict[str, tuple[str, str]] = {}
    ids = sorted(set(student_ids))
    columns = (MIRROR.c.student_id, MIRROR.c.current_json, MIRROR.c.attested_json)
    if session.get_bind().dialect.name == "postgresql":
        stmt = built_once("mirror.current_of", lambda: each_key(lambda key: sa.select(*columns).where(
            MIRROR.c.system == sa.bindparam("b_system"), MIRROR.c.student_id == key), "ids"))
        bind = json.dumps
    else:
        where, bind = one_of(session, MIRROR.c.student_id, "ids")
        stmt = sa.select(*columns).where(MIRROR.c.system == sa.bindparam("b_system"), where)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(stmt, {"b_system": system, "ids": bind(ids[start:start + CHUNK])})
        out.update({r[0]: (r[1], r[2]) for r in rows})
    return out


def _current_rows(dialect: str) -> sa.Update:
    """``UPDATE student_mirror ... FROM`` the rows bound as ONE parameter ``b_rows``, a JSON array of
    ``[student_id, current_json, attested_json]``: a batch's rows in one statement, not one statement each
    (``json_array_elements`` on PostgreSQL, ``json_each`` on SQLite; the texts come back exactly as bound). The
    join is planned as a probe of the primary key per row (the bound rows are estimated at 100, the copy is
    analyzed by the plan that filled it)."""
    param = sa.bindparam("b_rows", type_=sa.String)
    if dialect == "postgresql":
        v = sa.func.json_array_elements(sa.cast(param, sa.JSON)).table_valued("value").alias("v")
        sid, current, attested = (v.c.value.op("->>")(sa.literal_column(str(n))) for n in range(3))
    else:  # a subquery: SQLite loops over its rows and probes the key (a bare ``json_each`` was scanned per row)
        each = sa.func.json_each(param).table_valued("value")
        v = sa.select(*(sa.func.json_extract(each.c.value, sa.literal_column(f"'$[{n}]'")).label(name)
                        for n, name in enumerate(("sid", "current", "attested")))).cte("v").prefix_with("MATERIALIZED")
        sid, current, attested = v.c.sid, v.c.current, v.c.attested
    return (sa.update(MIRROR).where(MIRROR.c.system == sa.bindparam("b_system"), MIRROR.c.student_id == sid)
            .values(current_json=current, attested_json=attested))


def update_current(session: Session, system: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """Set (``student_id``, ``current_json``, ``attested_json``) of ``system``'s students: one statement per
    ``CHUNK`` rows (``_current_rows``)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = built_once(("mirror.update_current", dialect), lambda: _current_rows(dialect))
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, {"b_system": system, "b_rows": json.dumps(rows[start:start + CHUNK])})


def regions_by_keys(session: Session, niks: Sequence[str], kks: Sequence[str]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for column, keys in ((MIRROR.c.nik, niks), (MIRROR.c.nik_ibu, niks), (MIRROR.c.nik_ayah, niks),
                         (MIRROR.c.nik_wali, niks), (MIRROR.c.no_kk, kks)):
        for start in range(0, len(keys), CHUNK):
            stmt = sa.select(MIRROR.c.system, MIRROR.c.region).where(column.in_(keys[start:start + CHUNK])).distinct()
            out.update((r[0], r[1]) for r in session.execute(stmt))
    return out


SCHOOLS: sa.Table = SchoolCopyRow.__table__  # type: ignore[attr-defined]


def store_schools(session: Session, system: str, rows: Sequence[dict[str, Any]]) -> None:
    """Replace the schools of ``rows`` (one page of a gateway's list: school, kode_wilayah, bentuk, npsn, read_at)."""
    where, bind = one_of(session, SCHOOLS.c.school, "keys")
    session.execute(sa.delete(SCHOOLS).where(SCHOOLS.c.system == system, where),
                    {"keys": bind([r["school"] for r in rows])})
    bulk.insert(session, SCHOOLS, [{"system": system, **r} for r in rows])


def drop_schools_unread(session: Session, system: str, since: datetime) -> int:
    """Schools the list no longer names (not read since ``since``)."""
    return session.execute(sa.delete(SCHOOLS).where(SCHOOLS.c.system == system, SCHOOLS.c.read_at < since)).rowcount


def schools(session: Session, system: str, keys: Collection[str]) -> dict[str, tuple[str, str | None, str | None]]:
    """School -> (kode_wilayah, bentuk, npsn) of ``keys`` the copy holds."""
    where, bind = one_of(session, SCHOOLS.c.school, "keys")
    stmt = sa.select(SCHOOLS.c.school, SCHOOLS.c.kode_wilayah, SCHOOLS.c.bentuk, SCHOOLS.c.npsn).where(
        SCHOOLS.c.system == system, where)
    return {r[0]: (r[1], r[2], r[3]) for r in session.execute(stmt, {"keys": bind(sorted(set(keys)))})}


def kip_regions_stored_since(session: Session, since: datetime) -> set[tuple[str, str]]:
    kip = ReplicaKipRow.__table__  # type: ignore[attr-defined]
    stored = kip.c.stored_at >= since
    out = {("dapodik", r[0]) for r in session.execute(sa.select(kip.c.kode_wilayah).where(stored).distinct())}
    for column in (MIRROR.c.nik, MIRROR.c.nik_ibu, MIRROR.c.nik_ayah, MIRROR.c.nik_wali):
        stmt = (sa.select(MIRROR.c.system, MIRROR.c.region).join(kip, kip.c.nik == column).where(stored)
                .distinct())
        out.update((r[0], r[1]) for r in session.execute(stmt))
    return out


def region_counts(session: Session, system: str, width: int) -> dict[str, int]:
    prefix = sa.func.substr(MIRROR.c.region, 1, width)
    stmt = sa.select(prefix, sa.func.count()).where(MIRROR.c.system == system).group_by(prefix)
    return {r[0]: int(r[1]) for r in session.execute(stmt)}


def replace(session: Session, system: str, *, everything: bool, gone: Collection[str],
            rows: Sequence[dict[str, Any]], months: Sequence[dict[str, Any]] = ()) -> None:
    """Delete the rows of ``gone`` (or every row of the system) with their attendance, then insert ``rows``
    (whose keys are in ``gone`` or new) and their attendance ``months``."""
    for table in (MIRROR, KEHADIRAN):
        if everything:
            session.execute(sa.delete(table).where(table.c.system == system))
            continue
        keys = sorted(gone)
        where, bind = one_of(session, table.c.student_id, "ids")
        stmt = sa.delete(table).where(table.c.system == system, where)
        for start in range(0, len(keys), CHUNK):
            session.execute(stmt, {"ids": bind(keys[start:start + CHUNK])})
    bulk.insert(session, MIRROR, rows)  # (no key of them is left: deleted above)
    bulk.insert(session, KEHADIRAN, months)
    GROWING[MIRROR.name].added(session, len(rows))
    GROWING[KEHADIRAN.name].added(session, len(months))


def save_position(session: Session, system: str, cursor: str | None, at: datetime) -> int:
    row = feed_state(session, system)
    row.cursor, row.generation, row.updated_at = cursor, row.generation + 1, at
    session.flush()
    return row.generation


def refetch_wanted(session: Session, system: str) -> dict[str, datetime]:
    stmt = sa.select(REFETCH.c.student_id, REFETCH.c.requested_at).where(REFETCH.c.system == system)
    return {r[0]: r[1] for r in session.execute(stmt)}


def refetch_done(session: Session, system: str, taken: dict[str, datetime]) -> None:
    """Forget the requests a run has served: those it read, unless asked again since."""
    stmt = sa.delete(REFETCH).where(REFETCH.c.system == system, REFETCH.c.student_id == sa.bindparam("b_id"),
                                    REFETCH.c.requested_at <= sa.bindparam("b_at"))
    if taken:
        session.connection().execute(stmt, [{"b_id": k, "b_at": v} for k, v in taken.items()])


def ask_refetch(session: Session, system: str, student_ids: Collection[str], at: datetime) -> None:
    ids = sorted(set(student_ids))
    for start in range(0, len(ids), CHUNK):
        session.execute(sa.delete(REFETCH).where(REFETCH.c.system == system,
                                                 REFETCH.c.student_id.in_(ids[start:start + CHUNK])))
    if ids:
        session.execute(sa.insert(REFETCH), [{"system": system, "student_id": i, "requested_at": at} for i in ids])
