"""Tombstones of families that left the registry, for the change feed (``kind=keluarga_dihapus``).

Revision ID: 0002_keluarga_hapus
Revises: 0001_initial
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_keluarga_hapus"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "keluarga_hapus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("no_kk", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keluarga_hapus")),
    )
    op.create_index(op.f("ix_keluarga_hapus_no_kk"), "keluarga_hapus", ["no_kk"], unique=False)
    op.create_index("ix_keluarga_hapus_updated_at_version", "keluarga_hapus", ["updated_at", "version"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_keluarga_hapus_updated_at_version", table_name="keluarga_hapus")
    op.drop_index(op.f("ix_keluarga_hapus_no_kk"), table_name="keluarga_hapus")
    op.drop_table("keluarga_hapus")
