"""media: bytes in a blob store, the row keeps metadata and the blob's reference

media.content held every object's bytes in the table (a 3.75 MB upload was one row version,
written to WAL and copied by every VACUUM). New rows name a blob instead (media.blob_ref: a file
beside the SQLite database, or a PostgreSQL large object; store/blobs.py) and leave content NULL.
Rows written before this migration keep their bytes and are served from the column until they
expire (media_retention_hours, 48 h by default); nothing is moved.

blob_uploads lists large objects written outside any transaction (a streamed upload) that no row
names yet, so the sweep can delete those a crash left behind.

Downgrading deletes the media rows stored as blobs (and, on PostgreSQL, their large objects):
the old schema has nowhere to keep them. Files of the SQLite store stay in its directory.

Revision ID: 0012_media_blobs
Revises: 0011_cb_fewer_idx
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_media_blobs"
down_revision = "0011_cb_fewer_idx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.alter_column("content", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column("blob_ref", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_media_blob_ref", ["blob_ref"], unique=False)
    op.create_table(
        "blob_uploads",
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_blob_uploads")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE l.oid IN ("
            " SELECT CAST(blob_ref AS oid) FROM media WHERE blob_ref IS NOT NULL"
            " UNION SELECT CAST(ref AS oid) FROM blob_uploads)"
        )
    op.drop_table("blob_uploads")
    op.execute("DELETE FROM media WHERE content IS NULL")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index("ix_media_blob_ref")
        batch_op.drop_column("blob_ref")
        batch_op.alter_column("content", existing_type=sa.LargeBinary(), nullable=False)
