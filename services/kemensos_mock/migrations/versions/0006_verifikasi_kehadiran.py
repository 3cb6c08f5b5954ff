"""Education verification with attendance: VERKOM months, remark, the hub's provenance, facts ordered by
(observed_at, version). ``verified_at`` becomes ``observed_at``; rows received before keep their facts,
with no months, no provenance and version 0.

Revision ID: 0006_verifikasi_kehadiran
Revises: 0005_programmes_and_kk_history
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_verifikasi_kehadiran"
down_revision: str | None = "0005_programmes_and_kk_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("verifikasi_pendidikan", "verifikasi_pendidikan_riwayat")
NEW = ("kehadiran", "keterangan", "provenance_id", "source_system", "source_record", "source_version",
       "observed_seq", "version")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("verified_at", new_column_name="observed_at", existing_type=sa.DateTime(timezone=True),
                               existing_nullable=False)
            batch.add_column(sa.Column("kehadiran", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
            batch.add_column(sa.Column("keterangan", sa.String(length=200), nullable=True))
            batch.add_column(sa.Column("provenance_id", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("source_system", sa.String(length=10), nullable=True))
            batch.add_column(sa.Column("source_record", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("source_version", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("observed_seq", sa.BigInteger(), nullable=True))
            batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in NEW:
                batch.drop_column(column)
            batch.alter_column("observed_at", new_column_name="verified_at", existing_type=sa.DateTime(timezone=True),
                               existing_nullable=False)
