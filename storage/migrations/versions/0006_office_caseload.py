"""the office's caseload: provisional due dates, daily listing, reopening, forwarding, people by name

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_provisional", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("listed_at", storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopened_at", storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopened_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("forwarded_to", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("forwarded_at", storage.base.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "office_people",
        sa.Column("telegram_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("updated_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("telegram_id", name=op.f("pk_office_people")),
    )


def downgrade() -> None:
    op.drop_table("office_people")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for column in ("forwarded_at", "forwarded_to", "reopened_count", "reopened_at", "listed_at",
                       "due_provisional"):
            batch_op.drop_column(column)
