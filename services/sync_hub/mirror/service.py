"""The hub's copy of each gateway's students, kept current from the gateways' change feeds.

Why a copy: a run decides every student again (the registry may have changed under a student whose record
did not), but reads from the gateways only the records that changed since the last run. The copy holds what
matching, review and diffing need (``StudentView``), and the feed position to resume from.

Crash safety: a run changes a working copy in memory and commits it — the rows of the students it read or
wrote, and the feed position — in one transaction at its end, and only when its work is done (every result
pushed and settled). A run that fails commits nothing: the next one reads the same changes again. Values the
failed run did write are then only sent again and answered UNCHANGED, which brings the copy up to date.

The copy of a process is kept in memory between runs while its generation (moved by every commit) matches
the database's, so a run does not reload 100,000 rows it already holds.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from services.sync_hub.domain.students import FieldValue, StudentView
from services.sync_hub.mirror import repository as repo
from shared.contracts.hub import SourceSystem
from shared.db import session_scope

IDENTITY = ("nama", "jenis_kelamin", "tanggal_lahir", "nik", "no_kk", "nama_ibu_kandung", "nik_ibu", "nama_ayah",
            "nik_ayah", "nama_wali", "nik_wali")


@dataclass
class SystemCopy:
    """One system's students as the hub last knew them (a working copy while a run changes it)."""

    system: SourceSystem
    generation: int
    cursor: str | None
    views: dict[str, StudentView] = field(default_factory=dict)
    school: dict[str, str] = field(default_factory=dict)

    def working(self) -> SystemCopy:
        """A copy a run may change (the stored one stays as it is until the run commits)."""
        return SystemCopy(self.system, self.generation, self.cursor, dict(self.views), dict(self.school))

    def put(self, view: StudentView, school: str) -> None:
        self.views[view.student_id] = view
        self.school[view.student_id] = school

    def drop(self, student_id: str) -> bool:
        self.school.pop(student_id, None)
        return self.views.pop(student_id, None) is not None

    def holds(self, student_id: str, values: dict[str, FieldValue]) -> None:
        """The gateway now holds ``values`` for the student, attested by the hub."""
        view = self.views.get(student_id)
        if view is None:
            return
        self.views[student_id] = dataclasses.replace(
            view, current={**view.current, **values}, provenance={**view.provenance, **dict.fromkeys(values)})


_lock = threading.Lock()
_cache: dict[str, SystemCopy] = {}


def _key(engine: Engine, system: SourceSystem) -> str:
    return f"{engine.url}#{id(engine)}#{system.value}"


def load(engine: Engine, system: SourceSystem) -> SystemCopy:
    """A working copy of ``system``'s students (from memory when the stored generation is the one held)."""
    with session_scope(engine) as session:
        state = repo.feed_state(session, system.value)
        generation, cursor = state.generation, state.cursor
        with _lock:
            hit = _cache.get(_key(engine, system))
        if hit is not None and hit.generation == generation:
            return hit.working()
        rows = repo.rows_of(session, system.value)
    copy = SystemCopy(system, generation, cursor)
    for r in rows:
        m = r._mapping
        current = json.loads(m["current_json"])
        copy.put(StudentView(system=system, student_id=m["student_id"], current=current,
                             provenance=dict.fromkeys(json.loads(m["attested_json"])),
                             **{k: m[k] for k in IDENTITY}), m["school"])
    with _lock:
        _cache[_key(engine, system)] = copy
    return copy.working()


def _row(view: StudentView, school: str) -> dict[str, object]:
    return {"system": view.system.value, "student_id": view.student_id, "school": school,
            **{k: getattr(view, k) for k in IDENTITY},
            "current_json": json.dumps(view.current, sort_keys=True),
            "attested_json": json.dumps(sorted(view.provenance))}


def commit(engine: Engine, copy: SystemCopy, *, everything: bool, touched: set[str], cursor: str | None,
           at: datetime, refetch_served: dict[str, datetime], refetch_asked: set[str]) -> None:
    """Store the working copy's changes (the students ``touched``: read, written or dropped; or every student)
    with the feed position, in one transaction; then it is the copy held in memory."""
    if everything:
        rows = [_row(v, copy.school[k]) for k, v in copy.views.items()]
    else:
        rows = [_row(copy.views[k], copy.school[k]) for k in sorted(touched) if k in copy.views]
    with session_scope(engine) as session:
        repo.replace(session, copy.system.value, everything=everything, gone=touched, rows=rows)
        repo.refetch_done(session, copy.system.value, refetch_served)
        repo.ask_refetch(session, copy.system.value, refetch_asked, at)
        generation = repo.save_position(session, copy.system.value, cursor, at)
    stored = SystemCopy(copy.system, generation, cursor, copy.views, copy.school)
    with _lock:
        _cache[_key(engine, copy.system)] = stored


def ask_refetch(engine: Engine, system: SourceSystem, student_ids: set[str], at: datetime) -> None:
    """The next run reads these students directly (their copy may be behind the gateway)."""
    if student_ids:
        with session_scope(engine) as session:
            repo.ask_refetch(session, system.value, student_ids, at)


def refetch_wanted(engine: Engine, system: SourceSystem) -> dict[str, datetime]:
    with session_scope(engine) as session:
        return repo.refetch_wanted(session, system.value)
