"""callbacks: a pending-only due index; the order index without status

Delivering an event then only deletes its due entry, and status updates no longer touch the
(ordering_key, seq) index. See schema.py.

Revision ID: 0007_cb_idx
Revises: 0006_merge
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_cb_idx"
down_revision = "0006_merge"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_due")
        batch_op.drop_index("ix_callback_events_order")
        batch_op.create_index("ix_callback_events_key_seq", ["ordering_key", "seq"], unique=False)
        batch_op.create_index(
            "ix_callback_events_pending",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_pending")
        batch_op.drop_index("ix_callback_events_key_seq")
        batch_op.create_index(
            "ix_callback_events_order", ["ordering_key", "status", "seq"], unique=False
        )
        batch_op.create_index("ix_callback_events_due", ["status", "next_attempt_at"], unique=False)
