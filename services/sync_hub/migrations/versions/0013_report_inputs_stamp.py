"""families-at-risk report: the inputs stamp it was built from (a run that changed nothing keeps the build);
student_status and student_mirror indexed by their last write (the stamp's max)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('family_risk_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs', sa.JSON(), nullable=True))
    with op.batch_alter_table('student_status', schema=None) as batch_op:
        batch_op.create_index('ix_student_status_updated_at', ['updated_at'], unique=False)
    with op.batch_alter_table('student_mirror', schema=None) as batch_op:
        batch_op.create_index('ix_student_mirror_read_at', ['read_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('student_mirror', schema=None) as batch_op:
        batch_op.drop_index('ix_student_mirror_read_at')
    with op.batch_alter_table('student_status', schema=None) as batch_op:
        batch_op.drop_index('ix_student_status_updated_at')
    with op.batch_alter_table('family_risk_report', schema=None) as batch_op:
        batch_op.drop_column('inputs')
