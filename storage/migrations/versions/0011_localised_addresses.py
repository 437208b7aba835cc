"""a polyclinic's address in Kazakh and English beside the directory's (Russian) one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_kk", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("address_en", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("address_en")
        batch_op.drop_column("address_kk")
