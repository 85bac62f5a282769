"""secrets at rest: room for sealed values, and the key check

Callback passwords and signing secrets are now stored sealed (sealing.py): a sealed value is
longer than the 255 characters it opens to, so callback_events.auth_password and signing_secret
become TEXT. On PostgreSQL varchar to text rewrites nothing; SQLite does not enforce a VARCHAR
length, so its table is left as it is (recreating the outbox would copy every row).

sealing_check holds one value sealed by the first node that starts: every node opens it at start
and refuses to run with other keys (store/secrets.py). Nothing already stored is sealed here:
`openband secrets rotate` seals plaintext left from before.

Revision ID: 0013_sealed_secrets
Revises: 0012_media_blobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_sealed_secrets"
down_revision = "0012_media_blobs"
branch_labels = None
depends_on = None

_COLUMNS = ("auth_password", "signing_secret")


def upgrade() -> None:
    op.create_table(
        "sealing_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealing_check")),
    )
    if op.get_context().dialect.name == "postgresql":
        for column in _COLUMNS:
            op.alter_column(
                "callback_events",
                column,
                existing_type=sa.String(length=255),
                type_=sa.Text(),
                existing_nullable=True,
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for column in _COLUMNS:
            # Sealed values do not fit the old width: they are cut off (and cannot be opened).
            op.alter_column(
                "callback_events",
                column,
                existing_type=sa.Text(),
                type_=sa.String(length=255),
                existing_nullable=True,
                postgresql_using=f"left({column}, 255)",
            )
    op.drop_table("sealing_check")
