"""which relay holds an outbox row's lease, so that a relay slower than its lease cannot send what another took over;
indexes for the leases, which every send now renews, for a chat's sends of unknown outcome, which every send counts,
and for the card a reply refers to and a review's cards (the office's chat keeps every row it was ever sent)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_outbox_lease", ["lease_until"], unique=False)
        batch_op.create_index("ix_outbox_chat_lease", ["chat_id", "lease_until"], unique=False)
        batch_op.create_index("ix_outbox_chat_maybe_sent", ["chat_id", "maybe_sent_at"], unique=False)
        batch_op.create_index("ix_outbox_chat_message", ["chat_id", "sent_message_id"], unique=False)
        batch_op.create_index("ix_outbox_review", ["review_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_review")
        batch_op.drop_index("ix_outbox_chat_message")
        batch_op.drop_index("ix_outbox_chat_maybe_sent")
        batch_op.drop_index("ix_outbox_chat_lease")
        batch_op.drop_index("ix_outbox_lease")
        batch_op.drop_column("lease_holder")
