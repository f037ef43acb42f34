"""The relational schema of the ledger, as SQLAlchemy Core tables.

The tables are created only by the Alembic migrations in ``arrears.ledger.migrations``; a test
checks that the migrated schema equals this metadata. Identifiers are integers, hashes and leaves
are raw bytes (never hex).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

# SQLite makes an "INTEGER PRIMARY KEY" the rowid itself (no second index); BIGINT elsewhere.
Index64 = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()


@dataclass(frozen=True)
class LogTables:
    """The four tables of one append-only log."""

    leaves: Table
    tiles: Table
    checkpoints: Table
    head: Table


def _log_tables(prefix: str) -> LogTables:
    return LogTables(
        leaves=Table(
            f"{prefix}leaves",
            metadata,
            Column("idx", Index64, primary_key=True, autoincrement=False),
            Column("leaf", LargeBinary, nullable=False),
        ),
        tiles=Table(
            f"{prefix}tiles",
            metadata,
            Column("level", SmallInteger, primary_key=True, autoincrement=False),
            Column("idx", BigInteger, primary_key=True, autoincrement=False),
            Column("hashes", LargeBinary, nullable=False),
        ),
        checkpoints=Table(
            f"{prefix}checkpoints",
            metadata,
            Column("tree_size", Index64, primary_key=True, autoincrement=False),
            Column("root", LargeBinary(32), nullable=False),
            Column("note", LargeBinary, nullable=False),
            Column("signed_at_us", BigInteger, nullable=False),
        ),
        # One row (id = 1): the committed head. Appends update it with "WHERE tree_size =
        # expected", which serialises writers and makes a stale writer fail instead of forking.
        head=Table(
            f"{prefix}log_head",
            metadata,
            Column("id", SmallInteger, primary_key=True, autoincrement=False),
            Column("tree_size", BigInteger, nullable=False),
            Column("root", LargeBinary(32), nullable=False),
            Column("note", LargeBinary, nullable=False),
            Column("signed_at_us", BigInteger, nullable=False),
        ),
    )


LEDGER = _log_tables("")
"""The ledger of record events and membership."""

INQUIRIES = _log_tables("inquiry_")
"""The inquiry log: every lookup, hash-chained and checkpointed like the ledger."""

leaves, tiles, checkpoints, log_head = LEDGER.leaves, LEDGER.tiles, LEDGER.checkpoints, LEDGER.head


# --- the projection (revision 0002): rebuilt from the ledger at any time ------------------------

members = Table(
    "members",
    metadata,
    Column("member_id", String(128), primary_key=True),
    Column("state", Text, nullable=False),
)

member_keys = Table(
    "member_keys",
    metadata,
    Column("key_id", LargeBinary(32), primary_key=True),
    Column("member_id", String(128), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

# A record's subject opening (pseudonym and salt) sits in its row: the deletable index, the
# only place a pseudonym is kept beside its commitment. Erasure sets both to NULL, which
# unlinks the record's leaves from the subject; every hash and proof still verifies. (Since
# revision 0005; before, a table of its own keyed by the commitment, one more random-key index
# for every report.)
records = Table(
    "records",
    metadata,
    Column("member_id", String(128), primary_key=True),
    Column("record_id", String(128), primary_key=True),
    Column("subject_commitment", LargeBinary(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", Text, nullable=False),
    Column("dispute_opened_on", String(10), nullable=True),  # ISO date of the open dispute
    Column("pseudonym", LargeBinary(36), nullable=True),
    Column("salt", LargeBinary(32), nullable=True),
    Index("records_by_commitment", "subject_commitment"),
    # Only the records with an open dispute (since revision 0006).
    Index(
        "records_by_open_dispute",
        "dispute_opened_on",
        sqlite_where=text("dispute_opened_on IS NOT NULL"),
        postgresql_where=text("dispute_opened_on IS NOT NULL"),
    ),
    Index("records_by_pseudonym", "pseudonym"),
)

# On SQLite a WITHOUT ROWID table (since revision 0006): each row stored once, in its key.
submissions = Table(
    "submissions",
    metadata,
    Column("member_id", String(128), primary_key=True),
    Column("submission_id", String(128), primary_key=True),
    Column("idx", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# The deletable index of the inquiry log: which inquiry was about which pseudonym.
inquiry_openings = Table(
    "inquiry_openings",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("pseudonym", LargeBinary(36), nullable=False),
    Column("salt", LargeBinary(32), nullable=False),
    Index("inquiry_openings_by_pseudonym", "pseudonym"),
)

# Lenders' registered borrowers, for watch alerts.
watches = Table(
    "watches",
    metadata,
    Column("member_id", String(128), primary_key=True),
    Column("pseudonym", LargeBinary(36), primary_key=True),
    Column("relationship_reference", String(128), nullable=False),
    Column("registered_at_us", BigInteger, nullable=False),
    Index("watches_by_pseudonym", "pseudonym"),
)

# Witnesses' cosignatures (C2SP cosignature/v1 signature lines) of checkpoints.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("log", String(16), primary_key=True),
    Column("tree_size", BigInteger, primary_key=True),
    Column("witness", String(128), primary_key=True),
    Column("signature_line", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),
)
