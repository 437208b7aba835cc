"""urgency decisions of the office, and the findings behind each case's urgency

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "urgency_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=False),
        sa.Column("decided_by_name", sa.String(length=256), nullable=True),
        sa.Column("decided_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("classified_as", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.id"], name=op.f("fk_urgency_decisions_review_id_reviews")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgency_decisions")),
    )
    with op.batch_alter_table("urgency_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_urgency_decisions_review_id"), ["review_id"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("urgency_findings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("urgency_findings")
    with op.batch_alter_table("urgency_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_urgency_decisions_review_id"))
    op.drop_table("urgency_decisions")
