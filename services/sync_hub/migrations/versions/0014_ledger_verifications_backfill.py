"""ledger: education verifications ledgered (ledger_verification), entry kinds up to 32 characters, the record
hash looked up through a prefix index, and provenance written before 0011 backfilled into the ledger

The backfill appends one entry of kind ``provenance_backfill`` for every provenance row no entry names (rows
written before the ledger existed), oldest first, after the entries already there. Its record is the row's field
record with that kind, so the mark is inside the hash: it proves the row has not changed since this migration ran,
not when the hub wrote it (docs/ledger.md). The next checkpoint (end of a unit, or POST /api/v1/ledger/checkpoints)
signs them.

Downgrade deletes the entries this revision's kinds wrote (backfilled rows, verifications): the chain then no longer
verifies past the first of them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:00:00
"""
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

from shared import ledger_hash as lh

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = sa.text('substr(record_hash, 1, 16)')
CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table('ledger_entry', schema=None) as batch:
        batch.alter_column('kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
                           type_=sqlmodel.sql.sqltypes.AutoString(length=32), existing_nullable=False)
        batch.drop_index('ix_ledger_entry_record_hash')
    op.create_index('ix_ledger_entry_record_hash_prefix', 'ledger_entry', [PREFIX], unique=False)
    op.create_table('ledger_verification',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('provenance_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('sync_run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('nik_anak', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('periode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('facts_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_verification'))
    )
    op.create_index(op.f('ix_ledger_verification_provenance_id'), 'ledger_verification', ['provenance_id'],
                    unique=False)
    op.create_index(op.f('ix_ledger_verification_nik_anak'), 'ledger_verification', ['nik_anak'], unique=False)
    backfill(op.get_bind())


def backfill(bind: sa.Connection) -> int:
    """Append every provenance row no entry names, oldest first; returns how many."""
    meta = sa.MetaData()
    prov = sa.Table('provenance', meta, sa.Column('id', sa.String), sa.Column('provenance_id', sa.String),
                    sa.Column('sync_run_id', sa.String), sa.Column('target_system', sa.String),
                    sa.Column('target_record', sa.String), sa.Column('field', sa.String),
                    sa.Column('value_json', sa.Text), sa.Column('source_system', sa.String),
                    sa.Column('source_record', sa.String), sa.Column('source_version', sa.BigInteger),
                    sa.Column('observed_seq', sa.BigInteger), sa.Column('retrieved_at', sa.DateTime(timezone=True)),
                    sa.Column('matched_by', sa.String), sa.Column('written_at', sa.DateTime(timezone=True)))
    entry = sa.Table('ledger_entry', meta, sa.Column('seq', sa.BigInteger), sa.Column('kind', sa.String),
                     sa.Column('record_id', sa.String), sa.Column('record_hash', sa.String),
                     sa.Column('chain_hash', sa.String), sa.Column('appended_at', sa.DateTime(timezone=True)))
    head = sa.Table('ledger_head', meta, sa.Column('id', sa.Integer), sa.Column('seq', sa.BigInteger),
                    sa.Column('chain_hash', sa.String))
    missing = [r[0] for r in bind.execute(
        sa.select(prov.c.id).where(~sa.exists().where(entry.c.record_id == prov.c.id))
        .order_by(prov.c.written_at, prov.c.id))]
    if not missing:
        return 0
    seq, chain_hex = bind.execute(sa.select(head.c.seq, head.c.chain_hash).where(head.c.id == 1)).one()
    seq, chain = int(seq), bytes.fromhex(chain_hex)
    now = datetime.now(UTC)
    for start in range(0, len(missing), CHUNK):
        ids = missing[start:start + CHUNK]
        rows = {r.id: r for r in bind.execute(sa.select(prov).where(prov.c.id.in_(ids)))}
        entries = []
        for rid in ids:
            r = rows[rid]
            rh = lh.field_record_hash(
                r.provenance_id, r.sync_run_id, r.target_system, r.target_record, r.field, json.loads(r.value_json),
                r.source_system, r.source_record, int(r.source_version), int(r.observed_seq),
                lh.utc_text(r.retrieved_at), r.matched_by, kind=lh.KIND_PROVENANCE_BACKFILL)
            seq += 1
            chain = hashlib.sha256(chain + rh).digest()
            entries.append({'seq': seq, 'kind': lh.KIND_PROVENANCE_BACKFILL, 'record_id': rid,
                            'record_hash': rh.hex(), 'chain_hash': chain.hex(), 'appended_at': now})
        bind.execute(entry.insert(), entries)
    bind.execute(head.update().where(head.c.id == 1).values(seq=seq, chain_hash=chain.hex()))
    return len(missing)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM ledger_entry WHERE kind IN ('provenance_backfill', 'education_verification')"))
    op.drop_index(op.f('ix_ledger_verification_nik_anak'), table_name='ledger_verification')
    op.drop_index(op.f('ix_ledger_verification_provenance_id'), table_name='ledger_verification')
    op.drop_table('ledger_verification')
    op.drop_index('ix_ledger_entry_record_hash_prefix', table_name='ledger_entry')
    with op.batch_alter_table('ledger_entry', schema=None) as batch:
        batch.create_index('ix_ledger_entry_record_hash', ['record_hash'], unique=False)
        batch.alter_column('kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
                           type_=sqlmodel.sql.sqltypes.AutoString(length=16), existing_nullable=False)
