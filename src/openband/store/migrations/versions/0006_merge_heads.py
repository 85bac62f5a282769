"""Join the callback-delivery and messaging branches into one head.

They were written side by side from 0001; new revisions build on this one.

Revision ID: 0006_merge
Revises: 0003_callbacks, 0005_msg_due
"""

from __future__ import annotations

revision = "0006_merge"
down_revision = ("0003_callbacks", "0005_msg_due")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
