"""Import and export of a school's students as CSV or XLSX (Dapodik's export columns, ``columns.py``).

Import is all or nothing: every row is read, matched and validated first; any bad cell makes the whole
file a 422 whose ``errors`` name each one as ``rows[<row>].<column>`` with its rule, and nothing is written.
A good file updates the students it names (by ``ID Peserta Didik``, else ``NIPD``; only the columns the file
has) and creates the others; every changed value is kept in ``value_history`` (source ``import``), the
changed students are validated again, their programme rows reconciled, and they move in the hub's feed
(one change number for the whole import): the rules of ``edits``, which an operator's edit shares. A value
the hub wrote (it has provenance) cannot be changed by import: such a cell is an error (``hub_written``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.edits import service as edits
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.sinkronisasi import service as sync_service
from services.dapodik_gateway.spreadsheet import columns, files, repository
from services.dapodik_gateway.spreadsheet.columns import Column
from services.dapodik_gateway.spreadsheet.files import FileFormat
from shared.contracts.dapodik import ImportReport, ImportRow, ImportStatus
from shared.errors import FieldError, InvalidInput

log = logging.getLogger("dapodik_gateway.spreadsheet")
MAX_ERRORS = 1000
_BY_FIELD = {c.field: c for c in columns.COLUMNS}


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.count = 0
        self.rows: set[int] = set()

    def add(self, row: int, where: str, rule: str, message: str) -> None:
        self.count += 1
        if row:
            self.rows.add(row)
        if len(self.items) < MAX_ERRORS:
            self.items.append(FieldError(field=f"rows[{row}].{where}" if row else where, rule=rule, message=message))

    def raise_if_any(self) -> None:
        if self.count:
            more = f" (the first {MAX_ERRORS} listed)" if self.count > MAX_ERRORS else ""
            raise InvalidInput(f"{self.count} error(s) in {len(self.rows)} row(s){more}; nothing was imported",
                               self.items)


def _header(header: list[str], rows: list[tuple[int, list[files.Cell]]], errors: _Errors) -> list[Column | None]:
    """The column of each position (None: a blank header over blank cells, ignored)."""
    out: list[Column | None] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        col = columns.column(name) if name else None
        if not name:
            if any(i < len(cells) and cells[i] is not None for _, cells in rows):
                errors.add(0, f"header[{i}]", "unnamed_column", "a column without a name holds values")
        elif col is None:
            errors.add(0, f"header.{name}", "unknown_column",
                       f"not a column of Dapodik's student export; known: {', '.join(columns.EXPORT_HEADER)}")
        elif col.field in seen:
            errors.add(0, f"header.{name}", "duplicate_column", f"the same column as header[{seen[col.field]}]")
        else:
            seen[col.field] = i
        out.append(col if col is not None and seen.get(col.field) == i else None)
    if "peserta_didik_id" not in seen and "nipd" not in seen and not all(
            f in seen for f in columns.REQUIRED_FOR_NEW):
        errors.add(0, "header", "no_key", "the file needs ID Peserta Didik or NIPD to name students, or the "
                   f"columns of a new student ({', '.join(_BY_FIELD[f].label for f in columns.REQUIRED_FOR_NEW)})")
    return out


def import_students(session: Session, npsn: str, data: bytes, fmt: FileFormat, client: str) -> ImportReport:
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    try:
        header, rows = files.read(data, fmt)
    except files.FileError as exc:
        raise InvalidInput.field("file", exc.rule, exc.message) from exc
    errors = _Errors()
    cols = _header(header, rows, errors)
    errors.raise_if_any()

    # The file is read; now the gateway's lock order (README, *Locks*): the change counter, then every student
    # of the school in id order, before the students are read and matched.
    sync_service.begin_change(session.connection())
    existing = {r["peserta_didik_id"]: r for r in repository.school_students(session, sekolah_id, lock=True)}
    by_nipd = {r["nipd"]: pid for pid, r in existing.items() if r["nipd"]}
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows:
        values: dict[str, Any] = {}
        for col, cell in zip(cols, cells, strict=False):
            if col is None or col.read_only:
                continue
            try:
                value = columns.parse(col, cell)
            except columns.CellError as exc:
                errors.add(number, col.label, exc.rule, exc.message)
                continue
            if isinstance(value, str) and (rule := unstorable_text(value)):
                errors.add(number, col.label, rule, "text no database can store")
                continue
            values[col.field] = value
        parsed.append((number, values))

    # Which student each row names.
    given = [v["peserta_didik_id"] for _, v in parsed if v.get("peserta_didik_id")]
    elsewhere = repository.schools_of(session, [pid for pid in given if pid not in existing])
    targets: list[tuple[int, dict[str, Any], str | None]] = []
    seen_id: dict[str, int] = {}
    seen_nipd: dict[str, int] = {}
    for number, values in parsed:
        pid = values.get("peserta_didik_id")
        nipd = values.get("nipd")
        if pid is not None and pid not in existing:
            rule = "not_in_school" if pid in elsewhere else "unknown_peserta_didik_id"
            errors.add(number, "ID Peserta Didik", rule, f"no student with this id in school {npsn}")
            continue
        target = pid or (by_nipd.get(nipd) if nipd else None)
        if target is not None and target in seen_id:
            errors.add(number, "ID Peserta Didik" if pid else "NIPD", "duplicate",
                       f"the file names this student already on row {seen_id[target]}")
            continue
        if nipd and nipd in seen_nipd:
            errors.add(number, "NIPD", "duplicate", f"NIPD already on row {seen_nipd[nipd]}")
            continue
        if target is not None and nipd and by_nipd.get(nipd, target) != target:
            errors.add(number, "NIPD", "taken", "another student of the school has this NIPD")
            continue
        if target is not None:
            seen_id[target] = number
        if nipd:
            seen_nipd[nipd] = number
        targets.append((number, values, target))

    hub = edits.hub_written(session, [t for _, _, t in targets if t])
    now = datetime.now(UTC)
    creates: list[dict[str, Any]] = []
    updates: list[tuple[Mapping[str, Any], Mapping[str, Any], list[str]]] = []
    results: list[ImportRow] = []
    for number, values, target in targets:
        old = existing.get(target) if target else None
        if old is None:
            missing = [f for f in columns.REQUIRED_FOR_NEW if values.get(f) is None]
            for f in missing:
                errors.add(number, _BY_FIELD[f].label, "missing", "a new student needs this column filled")
            if missing:
                continue
        try:
            new = edits.merge(old, values, sekolah_id)
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_input=False):
                field = str(e["loc"][0]) if e["loc"] else "-"
                errors.add(number, _BY_FIELD[field].label if field in _BY_FIELD else field, e["type"], e["msg"])
            continue
        if old is None:
            creates.append(new)
            results.append(ImportRow(row=number, peserta_didik_id=new["peserta_didik_id"], status=ImportStatus.CREATED,
                                     fields_changed=[f for f in edits.WRITABLE if f in values]))
            continue
        changed = edits.diff(old, new)
        blocked = [f for f in changed if f in hub.get(target, set())]  # type: ignore[arg-type]
        for f in blocked:
            errors.add(number, _BY_FIELD[f].label, "hub_written",
                       "the hub wrote this value (see the student's provenance); import does not change it")
        if blocked:
            continue
        results.append(ImportRow(row=number, peserta_didik_id=old["peserta_didik_id"],
                                 status=ImportStatus.UPDATED if changed else ImportStatus.UNCHANGED,
                                 fields_changed=changed))
        if changed:
            updates.append((new, old, changed))
    errors.raise_if_any()
    edits.save(session, creates, updates, "import", client, now)
    log.info("import into %s by %s: %d rows, %d created, %d updated", npsn, client, len(rows), len(creates),
             len(updates))
    return ImportReport(format=fmt.value, rows=len(rows), created=len(creates), updated=len(updates),
                        unchanged=len(results) - len(creates) - len(updates), results=results)


def export_students(session: Session, npsn: str, fmt: FileFormat) -> tuple[bytes, str, str]:
    """The school's students as a file: (content, media type, file name)."""
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    rows = repository.school_students(session, sekolah_id)
    body = files.write(fmt, columns.EXPORT_HEADER,
                       ([columns.render(c, r[c.field]) for c in columns.COLUMNS] for r in rows), sheet="Peserta Didik")
    return body, files.MEDIA_TYPES[fmt], f"peserta_didik_{npsn}_{datetime.now(UTC):%Y%m%d}.{fmt.value}"
