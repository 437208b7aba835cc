"""what a formal appeal needs (incident date, on whose behalf, outcome wanted, appellant's name) and file captions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_when", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("incident_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("on_behalf", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("outcome_wanted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("appellant_name", sa.String(length=300), nullable=True))
        # A violation report asks for no stars.
        batch_op.alter_column("rating", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caption", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_media", schema=None) as batch_op:
        batch_op.drop_column("caption")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.alter_column("rating", existing_type=sa.Integer(), nullable=False)
        for column in ("appellant_name", "outcome_wanted", "on_behalf", "incident_date", "incident_when"):
            batch_op.drop_column(column)
