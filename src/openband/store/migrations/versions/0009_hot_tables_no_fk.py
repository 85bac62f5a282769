"""messaging, callbacks: no foreign keys on the append-heavy tables

messages.account_id, message_recipients.message_id and callback_attempts.event_id lose their
foreign keys. Each inserted row looked up and locked its parent row: on PostgreSQL a FOR KEY
SHARE lock, with a WAL record, on the account row that every concurrent group commit locks
(measured: PostgreSQL's CPU per accepted message fell by about a quarter without them). The
code that inserts these rows takes the ids from rows it has just written or from the
authenticated account, and the only deletion (the callback retention sweep) deletes attempts
before their events. See store/schema.py.

Revision ID: 0009_hot_no_fk
Revises: 0008_cb_created
"""

from __future__ import annotations

from alembic import op

revision = "0009_hot_no_fk"
down_revision = "0008_cb_created"
branch_labels = None
depends_on = None

# (table, constraint, column, parent table, parent column)
_FKS = (
    ("messages", "fk_messages_account_id_accounts", "account_id", "accounts", "id"),
    (
        "message_recipients",
        "fk_message_recipients_message_id_messages",
        "message_id",
        "messages",
        "id",
    ),
    (
        "callback_attempts",
        "fk_callback_attempts_event_id_callback_events",
        "event_id",
        "callback_events",
        "id",
    ),
)


def upgrade() -> None:
    for table, name, _col, _parent, _pcol in _FKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name, col, parent, pcol in _FKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(name, parent, [col], [pcol], ondelete="CASCADE")
