"""incremental sync: the hub's copy of the students, feed positions, refetch requests, run counters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:00:00.000000

No existing data moves: with no feed position stored, the next run of each system reads it in full.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('student_mirror',
    sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('student_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('school', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('nama', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('jenis_kelamin', sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
    sa.Column('tanggal_lahir', sa.Date(), nullable=False),
    sa.Column('nik', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('no_kk', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('nama_ibu_kandung', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('nik_ibu', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('nama_ayah', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('nik_ayah', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('nama_wali', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('nik_wali', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('current_json', sa.Text(), nullable=False),
    sa.Column('attested_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('system', 'student_id', name=op.f('pk_student_mirror'))
    )
    op.create_table('feed_state',
    sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=True),
    sa.Column('generation', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('system', name=op.f('pk_feed_state'))
    )
    op.create_table('mirror_refetch',
    sa.Column('system', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('student_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('system', 'student_id', name=op.f('pk_mirror_refetch'))
    )
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('students_from_feed', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('students_removed', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('full', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('full')
        batch_op.drop_column('students_removed')
        batch_op.drop_column('students_from_feed')
    op.drop_table('mirror_refetch')
    op.drop_table('feed_state')
    op.drop_table('student_mirror')
