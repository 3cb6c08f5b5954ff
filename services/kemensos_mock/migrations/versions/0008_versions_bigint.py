"""Registry versions as BIGINT on PostgreSQL: every change to a family, a PKH or programme membership or a KIP card
takes the next version, and a national registry's changes outgrow INTEGER (2^31). SQLite's INTEGER is 8 bytes
already: nothing to do there.

Revision ID: 0008_versions_bigint
Revises: 0007_kip_version_order
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_versions_bigint"
down_revision: str | None = "0007_kip_version_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [("registry_sequence", "value"), ("keluarga", "version"), ("keluarga_kk_lama", "version"),
           ("pkh_keanggotaan", "version"), ("keluarga_hapus", "version"), ("bansos_keanggotaan", "version"),
           ("kip_penerbitan", "version")]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    """Back to INTEGER: fails if a version beyond 2^31 - 1 is stored (nothing can hold it there)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
