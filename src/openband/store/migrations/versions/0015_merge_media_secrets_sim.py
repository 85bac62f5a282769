"""merge: media blobs and sealed secrets (0012, 0013) with per-account handset scripts (0014)

Written side by side from 0011; nothing to do but join them, so that there is one head again.

Revision ID: 0015_merge_0013_0014
Revises: 0013_sealed_secrets, 0014_sim_per_account
"""

from __future__ import annotations

revision = "0015_merge_0013_0014"
down_revision = ("0013_sealed_secrets", "0014_sim_per_account")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
