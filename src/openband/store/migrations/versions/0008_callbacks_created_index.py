"""callbacks: an index on created_at for the retention sweep

Finished events (delivered or expired) are deleted with their attempts once older than
callback_retention_hours; the sweep reads the oldest rows first. See store/callbacks.py.

Revision ID: 0008_cb_created
Revises: 0007_cb_idx
"""

from __future__ import annotations

from alembic import op

revision = "0008_cb_created"
down_revision = "0007_cb_idx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.create_index("ix_callback_events_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_created")
