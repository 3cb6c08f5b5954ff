"""The fallback's fitted model, kept at the hub instead of fitted again on every sync.

A model (m and u per comparison level, the prior) is fitted when the fallback first needs one and stored in
``matching_model`` with the registry it was fitted against (the replica's ``observed_seq``, its persons and
families) and how it was fitted (students sampled, candidate pairs, EM iterations). Later runs reuse it while
the registry has not moved by more than ``threshold`` since (the larger of: the change in the number of
persons, and the change-feed items read since, per family) and while it was fitted over the same
comparisons; otherwise, or when an operator retires it (``python -m services.sync_hub.matching.model_store
refit``), the next run that needs the fallback fits a new one. Every fallback decision names the model's
version (``fs-<id>``) in its evidence.

The registry is described by its size (``RegistryStats``: persons, families, sequence), not by frames in memory:
a planner fits the model once per run from ``replica.sample`` and a slice of the registry, and every work unit
then reads that version (``ModelStore.get``) and uses it unchanged. A whole registry in memory describes itself
(``Registry.stats()``).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Field, Session, select

from services.sync_hub.db import HubTable
from services.sync_hub.matching import fallback
from services.sync_hub.matching.frames import Registry, RegistryStats
from services.sync_hub.matching.levels import FIELDS_SCHEMA
from shared.clock import utcnow
from shared.db import session_scope

log = logging.getLogger("jembatan.hub.matching")

THRESHOLD = 0.05  # share of the registry that may change before the model is fitted again


class MatchingModelRow(HubTable, table=True):
    """One fitted fallback model; the newest one not retired is the one in use."""

    __tablename__ = "matching_model"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    retired_reason: str | None = Field(default=None, max_length=200)
    fields_schema: str = Field(max_length=32)
    registry_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    registry_persons: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    registry_families: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    reason: str = Field(max_length=200)  # why it was fitted
    stats: dict[str, float] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    params: dict[str, object] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


def version(row_id: int) -> str:
    return f"fs-{row_id}"


def _row_id(model_version: str) -> int | None:
    prefix, _, digits = model_version.partition("-")
    return int(digits) if prefix == "fs" and digits.isdigit() else None


@dataclass(frozen=True)
class Chosen:
    model: fallback.Model
    version: str
    fitted: bool  # fitted in this call (else reused)
    reason: str


def drift(row: MatchingModelRow, stats: RegistryStats) -> float:
    """How far the registry moved since ``row`` was fitted, as a share: the change in persons, or the
    change-feed items read since per family, whichever is larger (a replica read again from the start, with a
    sequence behind the model's, counts as everything changed)."""
    seq_delta = stats.observed_seq - row.registry_seq
    if seq_delta < 0:
        return 1.0
    persons = abs(stats.persons - row.registry_persons) / max(row.registry_persons, 1)
    return max(persons, seq_delta / max(row.registry_families, 1))


def current(session: Session) -> MatchingModelRow | None:
    stmt = select(MatchingModelRow).where(MatchingModelRow.retired_at.is_(None))  # type: ignore[union-attr]
    return session.exec(stmt.order_by(MatchingModelRow.id.desc()).limit(1)).first()  # type: ignore[union-attr]


@dataclass
class ModelStore:
    """What the matcher asks for a model: the stored one while it still fits the registry, else ``fit()``
    (stored before it is returned)."""

    db: Engine
    threshold: float = THRESHOLD

    def obtain(self, registry: RegistryStats | Registry, fit: Callable[[], fallback.Model]) -> Chosen:
        """The model in use while the registry described by ``registry`` (its size; a ``Registry`` held whole
        gives its own) moved by at most ``threshold`` since it was fitted, else ``fit()``'s, stored."""
        stats = registry.stats() if isinstance(registry, Registry) else registry
        with session_scope(self.db) as session:
            row = current(session)
            reason = "no stored model"
            if row is not None:
                moved = drift(row, stats)
                if row.fields_schema != FIELDS_SCHEMA:
                    reason = f"{version(row.id or 0)} was fitted over other comparisons"
                elif moved > self.threshold:
                    reason = f"registry moved {moved:.1%} since {version(row.id or 0)} (threshold {self.threshold:.0%})"
                else:
                    try:
                        model = fallback.Model.from_json(row.params)
                    except (ValueError, KeyError, TypeError) as exc:
                        reason = f"{version(row.id or 0)} unreadable: {exc}"
                    else:
                        return Chosen(model, version(row.id or 0), False, f"registry moved {moved:.1%}")
        model = fit()
        now = utcnow()
        with session_scope(self.db) as session:
            for old in session.exec(select(MatchingModelRow).where(
                    MatchingModelRow.retired_at.is_(None))).all():  # type: ignore[union-attr]
                old.retired_at, old.retired_reason = now, f"replaced: {reason}"[:200]
            new = MatchingModelRow(
                created_at=now, fields_schema=FIELDS_SCHEMA, registry_seq=stats.observed_seq,
                registry_persons=stats.persons, registry_families=stats.families,
                reason=reason[:200], stats={**model.stats, "em_iterations": model.iterations,
                                            "prior": model.prior}, params=model.to_json())
            session.add(new)
            session.flush()
            assert new.id is not None
            chosen = Chosen(model, version(new.id), True, reason)
        log.info("fallback model %s fitted (%s)", chosen.version, reason)
        return chosen

    def get(self, model_version: str) -> Chosen:
        """The stored model ``model_version`` (``fs-<id>``), retired or not: what a run's work units use, so
        that every unit decides with the model its run was planned with. LookupError when there is none by
        that version or it was fitted over other comparisons."""
        row_id = _row_id(model_version)
        with session_scope(self.db) as session:
            row = session.get(MatchingModelRow, row_id) if row_id is not None else None
            if row is None:
                raise LookupError(f"no stored model {model_version!r}")
            if row.fields_schema != FIELDS_SCHEMA:
                raise LookupError(f"{model_version} was fitted over other comparisons")
            return Chosen(_loaded(row.params), model_version, False, "the run's model")


# the models ``ModelStore.get`` made, by their parameters: the work units of a run read the same stored model one
# after another, and an object seen before keeps what was derived from it (``fallback.veto_table``, the scalar
# fallback's pattern weights), where a new one per unit derives them again
_LOADED: list[tuple[dict[str, object], fallback.Model]] = []
_LOADED_MAX = 4


def _loaded(params: dict[str, object]) -> fallback.Model:
    """``fallback.Model.from_json(params)``, the same object as for equal parameters read before (compared whole:
    whatever database or version they come from, equal parameters are the same model)."""
    for held, model in list(_LOADED):
        if held == params:
            return model
    model = fallback.Model.from_json(params)
    _LOADED[:] = [(params, model), *_LOADED[:_LOADED_MAX - 1]]
    return model


def retire(db: Engine, reason: str) -> list[str]:
    """Retire the model in use (an operator's request): the next run that needs the fallback fits a new one."""
    now = utcnow()
    with session_scope(db) as session:
        rows = session.exec(select(MatchingModelRow).where(
            MatchingModelRow.retired_at.is_(None))).all()  # type: ignore[union-attr]
        for row in rows:
            row.retired_at, row.retired_reason = now, reason[:200]
        return [version(r.id or 0) for r in rows]


def describe(db: Engine) -> list[dict[str, object]]:
    with session_scope(db) as session:
        rows = session.exec(select(MatchingModelRow).order_by(MatchingModelRow.id.desc())).all()  # type: ignore[union-attr]
        return [{"version": version(r.id or 0), "created_at": r.created_at.isoformat(), "reason": r.reason,
                 "retired_at": r.retired_at.isoformat() if r.retired_at else None,
                 "retired_reason": r.retired_reason, "registry_seq": r.registry_seq,
                 "registry_persons": r.registry_persons, "registry_families": r.registry_families,
                 "stats": r.stats} for r in rows]


def main(argv: list[str] | None = None) -> None:
    """``python -m services.sync_hub.matching.model_store show|refit [--reason TEXT]`` against the hub's
    database (``HUB_DATABASE_URL``)."""
    from services.sync_hub.config import Settings
    from shared.db import make_engine

    ap = argparse.ArgumentParser(prog="python -m services.sync_hub.matching.model_store")
    ap.add_argument("command", choices=["show", "refit"])
    ap.add_argument("--reason", default="operator request")
    a = ap.parse_args(argv)
    engine = make_engine(Settings().database_url)
    try:
        if a.command == "refit":
            print(json.dumps({"retired": retire(engine, a.reason)}))
        else:
            print(json.dumps(describe(engine), indent=1))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
