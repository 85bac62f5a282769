"""messaging: index the send pipeline's claim column (message_recipients.send_at)

Revision ID: 0005_msg_due
Revises: 0004_messaging
"""

from __future__ import annotations

from alembic import op

revision = "0005_msg_due"
down_revision = "0004_messaging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_msgrcpt_due", "message_recipients", ["send_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_msgrcpt_due", table_name="message_recipients")
