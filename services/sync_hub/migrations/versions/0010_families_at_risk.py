"""families at risk: the report of a PKH period (family_risk, family_risk_report), its counts on the run, and
whether Dapodik holds a record back (student_mirror.held_back)

A record stored before this revision is taken as not held back; Dapodik's feed brings a held-back record again
when its school edits it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('family_risk_report',
    sa.Column('periode', S(length=8), nullable=False),
    sa.Column('build_id', S(length=36), nullable=False),
    sa.Column('sync_run_id', S(length=36), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('periode', name=op.f('pk_family_risk_report'))
    )
    op.create_table('family_risk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('periode', S(length=8), nullable=False),
    sa.Column('family_seq', sa.Integer(), nullable=False),
    sa.Column('no_kk', S(length=16), nullable=False),
    sa.Column('family_region', S(length=10), nullable=False),
    sa.Column('region', S(length=10), nullable=False),
    sa.Column('child_nik', S(length=16), nullable=True),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('reason', S(length=24), nullable=False),
    sa.Column('actor', S(length=24), nullable=False),
    sa.Column('error', sa.Boolean(), nullable=False),
    sa.Column('system', S(length=16), nullable=True),
    sa.Column('student_id', S(length=64), nullable=True),
    sa.Column('school', S(length=64), nullable=True),
    sa.Column('npsn', S(length=8), nullable=True),
    sa.Column('months_below', sa.JSON(), nullable=False),
    sa.Column('evidence', S(length=32), nullable=True),
    sa.Column('detail', S(length=300), nullable=True),
    sa.Column('sync_run_id', S(length=36), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_risk'))
    )
    with op.batch_alter_table('family_risk', schema=None) as batch_op:
        batch_op.create_index('ix_family_risk_periode_family', ['periode', 'family_seq'], unique=False)
        batch_op.create_index('ix_family_risk_periode_region', ['periode', 'region'], unique=False)
        batch_op.create_index('ix_family_risk_periode_school', ['periode', 'school'], unique=False)
    with op.batch_alter_table('student_mirror', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_back', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('at_risk', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('at_risk')
    with op.batch_alter_table('student_mirror', schema=None) as batch_op:
        batch_op.drop_column('held_back')
    with op.batch_alter_table('family_risk', schema=None) as batch_op:
        batch_op.drop_index('ix_family_risk_periode_school')
        batch_op.drop_index('ix_family_risk_periode_region')
        batch_op.drop_index('ix_family_risk_periode_family')
    op.drop_table('family_risk')
    op.drop_table('family_risk_report')
