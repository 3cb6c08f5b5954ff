from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.sync_hub.deps import Admin, ChainChecker, ProvenanceReader, SessionDep
from services.sync_hub.ledger import keys, service
from services.sync_hub.ledger import repository as repo
from services.sync_hub.ledger.verify import verify
from shared.contracts.ledger import (
    LedgerCheckpoint,
    LedgerLookup,
    LedgerLookupAnswer,
    LedgerProof,
    LedgerPublicKey,
    LedgerReport,
)
from shared.db import session_scope
from shared.errors import Conflict

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


def get_signer(request: Request) -> keys.Signer:
    settings = request.app.state.settings
    return keys.signer(settings.ledger_key_file, settings.database_url)


SignerDep = Annotated[keys.Signer, Depends(get_signer)]


@router.get("/public-key", response_model=LedgerPublicKey, summary="The key the ledger's checkpoints are signed with")
def public_key(_: ProvenanceReader, signer: SignerDep) -> LedgerPublicKey:
    """The Ed25519 public key the ledger's checkpoints are signed with (PEM and key id), for verifying checkpoints
    offline.
    """
    return signer.public


@router.get("/verify", response_model=LedgerReport, summary="Verify the whole ledger (chain, records, checkpoints)")
def verify_ledger(session: SessionDep, _: ChainChecker, signer: SignerDep) -> LedgerReport:
    """Walks the whole provenance ledger: the hash chain, every record against its entry, every checkpoint's signature;
    names the first break.
    """
    return verify(session, {signer.key_id: keys.public_key(signer.public.public_key)})


@router.post("/checkpoints", response_model=LedgerCheckpoint,
             summary="Sign a checkpoint over the entries not covered yet (answers the newest one when none are)")
def sign_checkpoint(request: Request, _: Admin, signer: SignerDep) -> LedgerCheckpoint:
    """Signs a checkpoint over the ledger entries not covered yet; answers the newest checkpoint when every entry is
    covered already (so it is safe to repeat).
    """
    engine = request.app.state.engine
    row = service.checkpoint(engine, signer)
    if row is None:
        with session_scope(engine) as session:
            done = repo.checkpoints(session)
        if not done:
            raise Conflict("the ledger is empty: nothing to checkpoint")
        row = done[-1]
    return service.to_contract(row)


@router.get("/proof", response_model=LedgerProof,
            summary="Inclusion proof of one value the hub wrote: its record, audit path and signed checkpoint")
def inclusion_proof(session: SessionDep, _: ProvenanceReader, signer: SignerDep,
                    provenance_id: Annotated[str, Query(min_length=1, max_length=36)],
                    field: Annotated[str, Query(min_length=1, max_length=40)]) -> LedgerProof:
    """An inclusion proof of one value the hub wrote: its ledger record, the audit path to a signed checkpoint's root,
    and the checkpoint.
    """
    return service.proof(session, signer, provenance_id, field)


@router.post("/lookup", response_model=LedgerLookupAnswer, summary="Which of these record hashes the ledger holds")
def lookup(body: LedgerLookup, session: SessionDep, _: ProvenanceReader) -> LedgerLookupAnswer:
    """Which of the given record hashes the ledger holds (hashes in the body, up to the documented limit)."""
    return LedgerLookupAnswer(found=repo.seqs_of_hashes(session, body.record_hashes))
