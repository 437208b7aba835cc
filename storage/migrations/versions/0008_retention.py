"""reviews.content_removed_at: when the retention period removed a review's texts, names and evidence; indexes
for the /metrics counts (reviews by kind, open cases by urgency)

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-01 08:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_removed_at", storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_reviews_kind", ["kind"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_status_urgency", ["status", "urgency"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_urgency")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_kind")
        batch_op.drop_column("content_removed_at")
