"""indexes for the public pages' lists of published reviews of a clinic or a doctor, newest first

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reviews_clinic_public", "reviews", ["clinic_id", "public_status", "created_at", "id", "kind"])
    op.create_index("ix_reviews_doctor_public", "reviews", ["doctor_id", "public_status", "created_at", "id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_reviews_doctor_public", table_name="reviews")
    op.drop_index("ix_reviews_clinic_public", table_name="reviews")
