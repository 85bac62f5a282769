"""messaging: the send pipeline's due index holds only recipients still to send

ix_msgrcpt_due indexed message_recipients.send_at for every row, so each recipient handed to
the carrier (send_at set to NULL) left a NULL entry behind for good: an index as large as the
table, written on every status change, of which the pipeline reads only the due part. It is now
partial (send_at IS NOT NULL). See store/schema.py.

On a large PostgreSQL table the index is rebuilt inside the migration's transaction (writes to
message_recipients wait meanwhile); build it first with CREATE INDEX CONCURRENTLY under another
name if that matters, then run the migration.

Revision ID: 0010_due_partial
Revises: 0009_hot_no_fk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_due_partial"
down_revision = "0009_hot_no_fk"
branch_labels = None
depends_on = None

_DUE = sa.text("send_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_msgrcpt_due")
        batch_op.create_index(
            "ix_msgrcpt_due", ["send_at"], unique=False, sqlite_where=_DUE, postgresql_where=_DUE
        )


def downgrade() -> None:
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_msgrcpt_due")
        batch_op.create_index("ix_msgrcpt_due", ["send_at"], unique=False)
