"""The relational schema of the ledger, as SQLAlchemy Core tables.

The tables are created only by the Alembic migrations in ``arrears.ledger.migrations``; a test
checks that the migrated schema equals this metadata. Identifiers are integers, hashes and leaves
are raw bytes (never hex).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
)

# SQLite makes an "INTEGER PRIMARY KEY" the rowid itself (no second index); BIGINT elsewhere.
Index64 = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

leaves = Table(
    "leaves",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),
)

tiles = Table(
    "tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", Index64, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("signed_at_us", BigInteger, nullable=False),
)

# One row (id = 1): the committed head. Appends update it with "WHERE tree_size = expected",
# which serialises writers and makes a stale writer fail instead of forking the log.
log_head = Table(
    "log_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("signed_at_us", BigInteger, nullable=False),
)
