"""student_mirror.nisn: the student's NISN as the gateway holds it, indexed (the console finds a student by it)

Rows stored before this revision have no NISN until the student is read again (a change at the gateway, or a
run with a full re-read).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('student_mirror') as batch:
        batch.add_column(sa.Column('nisn', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_student_mirror_nisn'), 'student_mirror', ['nisn'])


def downgrade() -> None:
    op.drop_index(op.f('ix_student_mirror_nisn'), table_name='student_mirror')
    with op.batch_alter_table('student_mirror') as batch:
        batch.drop_column('nisn')
