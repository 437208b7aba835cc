"""clinic chats, link codes, digest runs, escalation of unanswered complaints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clinic_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("linked_by", sa.BigInteger(), nullable=True),
        sa.Column("linked_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_clinic_chats_clinic_id_clinics")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_chats")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_clinic_chats_chat_id")),
    )
    with op.batch_alter_table("clinic_chats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_chats_clinic_id"), ["clinic_id"], unique=False)
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_in_chat", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_link_codes_clinic_id_clinics")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_link_codes")),
    )
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("queued_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_runs")),
        sa.UniqueConstraint("chat_id", "period_start", name=op.f("uq_digest_runs_chat_id_period_start")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", storage.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("escalated_at")
    op.drop_table("digest_runs")
    op.drop_table("link_codes")
    with op.batch_alter_table("clinic_chats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_chats_clinic_id"))
    op.drop_table("clinic_chats")
