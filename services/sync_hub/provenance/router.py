from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from services.sync_hub.deps import ProvenanceReader, SessionDep
from services.sync_hub.ledger import repository as ledger_repo
from services.sync_hub.provenance import repository
from shared.clock import as_utc
from shared.contracts.common import MatchKey
from shared.contracts.hub import ProvenanceRecord, SourceSystem

router = APIRouter(prefix="/api/v1/provenance", tags=["provenance"])


@router.get("", response_model=list[ProvenanceRecord], summary="Every value the hub wrote into one record")
def for_record(session: SessionDep, _: ProvenanceReader, target_system: SourceSystem,
               target_record: Annotated[str, Query(min_length=1, max_length=64)]) -> list[ProvenanceRecord]:
    """Every value the hub wrote into one gateway record (`system`, `record_id`): old and new value, source, run and
    time.
    """
    rows = repository.for_target(session, target_system.value, target_record)
    ledgered = ledger_repo.entries_for(session, [r.id for r in rows])
    return [
        ProvenanceRecord(
            id=r.id, sync_run_id=r.sync_run_id, target_system=SourceSystem(r.target_system),
            target_record=r.target_record, field=r.field, value=json.loads(r.value_json),
            source_system=r.source_system, source_record=r.source_record, source_version=r.source_version,
            observed_seq=r.observed_seq, retrieved_at=as_utc(r.retrieved_at), matched_by=MatchKey(r.matched_by),
            written_at=as_utc(r.written_at), record_hash=ledgered[r.id][1] if r.id in ledgered else None,
            ledger_seq=ledgered[r.id][0] if r.id in ledgered else None)
        for r in rows
    ]
