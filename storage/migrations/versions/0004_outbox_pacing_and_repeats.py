"""outbox: when a row's send began (possible repeats after a crash) and how many messages it counts (shared pacing)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as table:
        table.add_column(sa.Column("attempted_at", storage.base.UTCDateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("maybe_sent_at", storage.base.UTCDateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("weight", sa.Integer(), server_default="1", nullable=False))
    op.create_index("ix_outbox_chat_sent", "outbox_messages", ["chat_id", "sent_at"])
    op.create_index("ix_outbox_sent", "outbox_messages", ["sent_at"])
    op.create_index("ix_outbox_maybe_sent", "outbox_messages", ["maybe_sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_maybe_sent", table_name="outbox_messages")
    op.drop_index("ix_outbox_sent", table_name="outbox_messages")
    op.drop_index("ix_outbox_chat_sent", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as table:
        table.drop_column("weight")
        table.drop_column("maybe_sent_at")
        table.drop_column("attempted_at")
