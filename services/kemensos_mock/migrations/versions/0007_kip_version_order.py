"""The KIP listing in version order (a resumable position: a version never repeats, a timestamp can): a unique
index on ``version`` replaces the (updated_at, id) one.

Revision ID: 0007_kip_version_order
Revises: 0006_verifikasi_kehadiran
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_kip_version_order"
down_revision: str | None = "0006_verifikasi_kehadiran"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_kip_penerbitan_version", "kip_penerbitan", ["version"], unique=True)
    op.drop_index("ix_kip_penerbitan_updated_at_id", table_name="kip_penerbitan")


def downgrade() -> None:
    op.create_index("ix_kip_penerbitan_updated_at_id", "kip_penerbitan", ["updated_at", "id"])
    op.drop_index("ix_kip_penerbitan_version", table_name="kip_penerbitan")
