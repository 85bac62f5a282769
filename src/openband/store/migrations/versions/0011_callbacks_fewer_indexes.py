"""callbacks: two indexes fewer written per event

Each write of a callback_events row version (the enqueue, the claim, the delivered or expired
update) added an entry to every index of the table: five per write on PostgreSQL, whose updates
here are not HOT. Two of them served rare reads:
- ix_callback_events_message (`openband callbacks list --message`) goes: a message's events
  have ordering keys "<message id>:<recipient>", one range of ix_callback_events_key_seq once
  ordering_key sorts bytewise (COLLATE "C" on PostgreSQL; SQLite's default already does).
- ix_callback_events_created (the retention sweep) becomes ix_callback_events_finished, partial
  on finished events: only the delivered or expired update writes an entry.
That is 9 index entries per delivered event instead of 14. See store/schema.py.

On PostgreSQL the collation change rebuilds ix_callback_events_key_seq inside the migration's
transaction (writes to callback_events wait meanwhile).

Revision ID: 0011_cb_fewer_idx
Revises: 0010_due_partial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_cb_fewer_idx"
down_revision = "0010_due_partial"
branch_labels = None
depends_on = None

_FINISHED = sa.text("status IN ('delivered', 'expired')")


def _collation(collation: str | None) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "callback_events",
            "ordering_key",
            type_=sa.String(160, collation=collation),
            existing_type=sa.String(160),
            existing_nullable=False,
        )


def upgrade() -> None:
    _collation("C")
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_message")
        batch_op.drop_index("ix_callback_events_created")
        batch_op.create_index(
            "ix_callback_events_finished",
            ["created_at"],
            unique=False,
            sqlite_where=_FINISHED,
            postgresql_where=_FINISHED,
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_events", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_events_finished")
        batch_op.create_index("ix_callback_events_created", ["created_at"], unique=False)
        batch_op.create_index("ix_callback_events_message", ["message_id"], unique=False)
    _collation(None)
