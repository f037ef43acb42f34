"""The log: leaves, tiles, checkpoints and the head.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "leaves",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "tiles",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", Index64, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
        sa.Column("signed_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
        sa.Column("signed_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("log_head", "checkpoints", "tiles", "leaves"):
        op.drop_table(table)
