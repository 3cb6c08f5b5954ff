"""the push's writes maintain fewer indexes: no index on what no query reads, the outbox's replay index partial

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 00:00:00.000000

Every value a sync writes is a ``provenance`` row, every item an ``outbox_item`` row settled once, every student a
``student_outcome`` row: each index on them is one more entry per row (per settle, for the outbox: settling
changes ``status``, so it is never a HOT update and the new row version is entered in every index again).

* ``provenance.sync_run_id``: no query reads provenance by run (``count_provenance`` had no caller and is gone);
  ``ix_provenance_sync_run_id`` dropped.
* ``student_outcome.sync_run_id``: ``uq_outcome_run_student`` (sync_run_id, system, student_id) leads with it and
  serves every read by run; ``ix_student_outcome_sync_run_id`` dropped (the foreign key stays).
* ``outbox_item``: ``ix_outbox_item_status`` and ``ix_outbox_item_unit_id`` served only the replay's read (a
  region's units' rows still ``PENDING`` or ``FAILED``); one partial index ``ix_outbox_item_replay`` on
  ``unit_id`` where the status is one of those replaces both: a row enters it when written (``PENDING``) and its
  settled version (APPLIED, UNCHANGED, STALE, NOT_FOUND, REJECTED) enters no index but the primary key and
  ``sync_run_id``'s. The counts by status (ops, console) read the table, as they did.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLAYED = sa.text("status IN ('PENDING', 'FAILED')")  # sync.push.REPLAY


def upgrade() -> None:
    with op.batch_alter_table('provenance', schema=None) as batch_op:
        batch_op.drop_index('ix_provenance_sync_run_id')
    with op.batch_alter_table('student_outcome', schema=None) as batch_op:
        batch_op.drop_index('ix_student_outcome_sync_run_id')
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_item_status')
        batch_op.drop_index('ix_outbox_item_unit_id')
    op.create_index('ix_outbox_item_replay', 'outbox_item', ['unit_id'], unique=False,
                    postgresql_where=REPLAYED, sqlite_where=REPLAYED)


def downgrade() -> None:
    op.drop_index('ix_outbox_item_replay', table_name='outbox_item')
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_item_unit_id', ['unit_id'], unique=False)
        batch_op.create_index('ix_outbox_item_status', ['status'], unique=False)
    with op.batch_alter_table('student_outcome', schema=None) as batch_op:
        batch_op.create_index('ix_student_outcome_sync_run_id', ['sync_run_id'], unique=False)
    with op.batch_alter_table('provenance', schema=None) as batch_op:
        batch_op.create_index('ix_provenance_sync_run_id', ['sync_run_id'], unique=False)
