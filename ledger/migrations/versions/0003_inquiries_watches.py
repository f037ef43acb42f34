"""The inquiry log (its own leaves, tiles, checkpoints and head), its deletable index, and
lenders' watch registrations.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inquiry_leaves",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "inquiry_tiles",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "inquiry_checkpoints",
        sa.Column("tree_size", Index64, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
        sa.Column("signed_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "inquiry_log_head",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
        sa.Column("signed_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "inquiry_openings",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("pseudonym", sa.LargeBinary(36), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("inquiry_openings_by_pseudonym", "inquiry_openings", ["pseudonym"])
    op.create_table(
        "watches",
        sa.Column("member_id", sa.String(128), primary_key=True),
        sa.Column("pseudonym", sa.LargeBinary(36), primary_key=True),
        sa.Column("relationship_reference", sa.String(128), nullable=False),
        sa.Column("registered_at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("watches_by_pseudonym", "watches", ["pseudonym"])


def downgrade() -> None:
    op.drop_index("watches_by_pseudonym", "watches")
    op.drop_table("watches")
    op.drop_index("inquiry_openings_by_pseudonym", "inquiry_openings")
    for t in (
        "inquiry_openings",
        "inquiry_log_head",
        "inquiry_checkpoints",
        "inquiry_tiles",
        "inquiry_leaves",
    ):
        op.drop_table(t)
