"""The SQLAlchemy 2.x storage driver: SQLite (WAL, the embedded default) and PostgreSQL.

Hot paths stay on SQLAlchemy Core with one connection per call; a batch's leaves, tiles and
checkpoint are written in one transaction that also moves the head with a compare-and-set
(``UPDATE log_head ... WHERE tree_size = :from_size``), so a second writer can never fork the
log. The schema is created and upgraded only by the Alembic migrations.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from arrears.ledger import schema
from arrears.ledger.errors import StaleStateError, StorageError
from arrears.ledger.records import (
    Changes,
    Member,
    MemberKey,
    MemoryState,
    RecordRef,
    RecordState,
    member_from_json,
    member_to_json,
    record_from_json,
    record_to_json,
)
from arrears.ledger.storage import EMPTY_HEAD, Batch, Head
from arrears.ledger.tiles import FULL_TILE_BYTES, TileId

T = TypeVar("T")
log = logging.getLogger("arrears.ledger.sql")
# A record's row: its key, the columns the stored state leaves out, then the state.
_RECORD_COLUMNS = "member_id, record_id, subject_commitment, status, state"


def _chunks(items: list[T], n: int) -> Iterator[list[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _reopen(url: str, log_name: str) -> SqlStorage:
    log = schema.INQUIRIES if log_name == "inquiries" else schema.LEDGER
    return SqlStorage(create_engine(url), migrate_schema=False, log=log)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("arrears.ledger") / "migrations"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest) with the Alembic migrations."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


SQLITE_CACHE_KIB = 64 * 1024
"""SQLite's page cache per connection (its default is 2 MiB)."""

SQLITE_WAL_LIMIT_KIB = 64 * 1024
"""What is left of SQLite's WAL file when it restarts after a checkpoint (``journal_size_limit``;
without it the file keeps the largest size it ever reached: 50-100 MB after a bulk upload of
a million reports, when readers kept checkpoints from completing)."""


PURGE_TRIES = 200
"""Checkpoints tried, 10 ms apart, to truncate SQLite's WAL after an erasure."""


def require_database(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist, for commands that only read a ledger:
    connecting would create an empty database there."""
    u = sa.engine.make_url(url)
    path = u.database if u.get_backend_name() == "sqlite" else None
    if path and u.query.get("uri") == "true":  # sqlite:///file:PATH?mode=ro&uri=true
        path = path.removeprefix("file:").partition("?")[0]
    if path not in (None, "", ":memory:") and not Path(path).exists():
        raise StorageError(f"database: no SQLite database at {path}")


def create_engine(
    url: str,
    *,
    synchronous: str = "FULL",
    cache_kib: int = SQLITE_CACHE_KIB,
    wal_limit_kib: int = SQLITE_WAL_LIMIT_KIB,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` set up for the ledger.

    SQLite gets WAL, ``synchronous=FULL`` by default (an acknowledged batch survives power
    loss, not just a crash), a busy timeout, and ``BEGIN IMMEDIATE`` transactions so that two
    writers queue instead of deadlocking on a lock upgrade (readers use plain ``BEGIN``).
    Its page cache is ``cache_kib`` per connection, filled only as pages are read: a batch
    inserts its reports' commitments and openings at random places in their indexes, and once
    those outgrow the default cache each insert reads its pages back from the file (at 300,000
    records, 40% more CPU for the batch's writes).
    """
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # erased openings are overwritten, not left
            cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: in KiB, not pages
            cur.execute(f"PRAGMA journal_size_limit={int(wal_limit_kib) * 1024}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front (no deadlock on upgrade); readers take a
            # snapshot and never wait for a writer's fsync (that is what WAL is for).
            write = conn.get_execution_options().get("arrears_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    # No pre-ping: it costs a round trip on every checkout (proofs are on the lookup's hot
    # path). A connection the server dropped fails the one call that meets it; SQLAlchemy then
    # invalidates the pool and the next call reconnects.
    return sa.create_engine(url, pool_pre_ping=False, **kwargs)


class SqlStorage:
    """``LogStorage`` on an SQLAlchemy engine. Thread-safe; full tiles are cached."""

    def __init__(
        self,
        engine: Engine,
        *,
        migrate_schema: bool = True,
        cache_tiles: int = 4096,
        log: schema.LogTables = schema.LEDGER,
    ):
        self.engine = engine
        self._t = log
        self._is_pg = engine.dialect.name == "postgresql"
        # The driver's own "connection lost" errors (psycopg's, sqlite3's), for the reads made
        # on its cursor.
        self._dbapi_operational: type[Exception] = engine.dialect.loaded_dbapi.OperationalError
        try:
            if migrate_schema:
                migrate(engine)
            current = schema_revision(engine)
        except OperationalError as e:
            raise StorageError(f"cannot open the ledger database: {e.orig}") from e
        if current != head_revision():
            raise StorageError(
                f"ledger schema is at revision {current}, this version needs {head_revision()}"
            )
        self._cache: OrderedDict[TileId, bytes] = OrderedDict()
        self._cache_size = cache_tiles
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> SqlStorage:
        return cls(create_engine(url, **kwargs))

    def opener(self) -> Callable[[], SqlStorage]:
        """A picklable function that opens this storage again (in another process)."""
        url = self.engine.url.render_as_string(hide_password=False)
        return functools.partial(_reopen, url, self.log_name)

    def sibling(self, log: schema.LogTables) -> SqlStorage:
        """A storage for another log in the same database (e.g. the inquiry log)."""
        return SqlStorage(self.engine, migrate_schema=False, log=log)

    # --- reads ---------------------------------------------------------------------------

    def head(self) -> Head:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    self._t.head.c.tree_size,
                    self._t.head.c.root,
                    self._t.head.c.note,
                    self._t.head.c.signed_at_us,
                ).where(self._t.head.c.id == 1)
            ).first()
        if row is None:
            return EMPTY_HEAD
        return Head(row[0], bytes(row[1]), bytes(row[2]), row[3])

    def read_tiles(self, ids: Collection[TileId]) -> dict[TileId, bytes]:
        out: dict[TileId, bytes] = {}
        missing: list[TileId] = []
        with self._cache_lock:
            for t in ids:
                data = self._cache.get(t)
                if data is None:
                    missing.append(t)
                else:
                    self._cache.move_to_end(t)
                    out[t] = data
        if not missing:
            return out
        rows = self._fetch_tiles(missing)
        with self._cache_lock:
            for level, idx, data in rows:
                tid, blob = TileId(level, idx), bytes(data)
                out[tid] = blob
                if len(blob) == FULL_TILE_BYTES:  # full tiles never change
                    self._cache[tid] = blob
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def _fetch_tiles(self, ids: list[TileId]) -> list[tuple[int, int, bytes]]:
        table = self._t.tiles.name
        if not self._is_pg:
            rows = self._pairs_rows("level, idx, hashes", table, "level", "idx", ids)
            return [(lv, ix, bytes(h)) for lv, ix, h in rows]
        with self.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            # One statement text whatever the number of tiles (so PostgreSQL plans it once,
            # prepared), bytea in binary: proofs are on the lookup's hot path.
            with raw.cursor(binary=True) as cur:
                cur.execute(
                    f"SELECT level, idx, hashes FROM {table} WHERE (level, idx) IN "
                    "(SELECT * FROM unnest(%s::int2[], %s::int8[]))",
                    ([t.level for t in ids], [t.index for t in ids]),
                    prepare=True,
                )
                return [(lv, ix, bytes(h)) for lv, ix, h in cur.fetchall()]

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        # The driver's own cursor: SQLAlchemy's per-row processing would double the cost of
        # streaming a whole log (the audit's hot path).
        table = self._t.leaves.name
        if self._is_pg:
            # An open range with a LIMIT walks the primary key in order whatever the
            # statistics say; a closed range on a freshly loaded table (not yet analysed)
            # is planned as a bitmap scan plus a sort spilling to disk, six times slower.
            rows = self._raw_rows(
                f"SELECT idx, leaf FROM {table} WHERE idx >= ? ORDER BY idx LIMIT ?",
                (start, max(end - start, 0)),
            )
            return [leaf for i, leaf in rows if i < end]
        rows = self._raw_rows(
            f"SELECT leaf FROM {table} WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [leaf for (leaf,) in rows]

    def read_leaves_at(self, indexes: Collection[int]) -> dict[int, bytes]:
        """The leaves at the given indexes (absent ones left out)."""
        sql = f"SELECT idx, leaf FROM {self._t.leaves.name} WHERE idx IN ({{}})"
        return {i: bytes(leaf) for i, leaf in self._rows_in(sql, sorted(set(indexes)))}

    def _rows_in(self, sql: str, values: Sequence[Any], chunk: int = 500) -> list[tuple[Any, ...]]:
        """``_raw_rows`` of ``sql`` whose ``IN ({})`` takes ``values``, ``chunk`` a query."""
        rows: list[tuple[Any, ...]] = []
        for part in _chunks(list(values), chunk):
            rows += self._raw_rows(sql.format(",".join("?" * len(part))), part)
        return rows

    def _raw_rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """A read on the driver's own cursor, for the hot paths (lookups, whole-log reads):
        SQLAlchemy's statement building and per-row processing cost more than the query.
        ``sql`` uses ``?`` placeholders; bytea and BLOB columns arrive as bytes."""
        with self.engine.connect() as conn:
            return self._on_cursor(conn, sql, params)[1]

    def _on_cursor(
        self, conn: Connection, sql: str, params: Sequence[Any]
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """One statement on ``conn``'s driver cursor (in its transaction, if any): the rows
        changed and the rows returned. ``sql`` uses ``?`` placeholders."""
        raw: Any = conn.connection.driver_connection
        try:
            if self._is_pg:
                with raw.cursor(binary=True) as cur:
                    cur.execute(sql.replace("?", "%s"), params)
                    return cur.rowcount, cur.fetchall() if cur.description else []
            cur = raw.cursor()
            try:
                cur.execute(sql, params)
                return cur.rowcount, cur.fetchall() if cur.description else []
            finally:
                cur.close()
        except self._dbapi_operational as e:
            # As SQLAlchemy does for its own statements on a lost connection: this connection
            # is thrown away and the pool starts afresh (after a server restart every pooled
            # connection is dead), so the call fails as the storage being unavailable, once.
            if self._is_pg:  # (SQLite's are a busy or locked file, not a lost connection)
                conn.invalidate(e)
                self.engine.dispose()  # closes the dead ones it holds; checked-out ones are left
            raise StorageError(f"database: {e}") from e

    def iter_leaves(self, start: int, end: int, chunk: int = 10_000) -> Iterator[list[bytes]]:
        """Leaves in chunks, each chunk one query on the primary key."""
        pos = start
        while pos < end:
            got = self.read_leaves(pos, min(end, pos + chunk))
            if not got:
                return
            yield got
            pos += len(got)

    def checkpoint_at(self, size: int) -> bytes | None:
        cp = self._t.checkpoints
        with self.engine.connect() as conn:
            note = conn.execute(sa.select(cp.c.note).where(cp.c.tree_size == size)).scalar()
        return None if note is None else bytes(note)

    # --- the one write -------------------------------------------------------------------

    @contextlib.contextmanager
    def _writer(self) -> Iterator[Connection]:
        """A connection in a write transaction (BEGIN IMMEDIATE on SQLite)."""
        with self.engine.connect().execution_options(arrears_write=True) as conn, conn.begin():
            yield conn

    def commit(self, batch: Batch) -> None:
        try:
            with self._writer() as conn:
                self._move_head(conn, batch)
                if batch.leaves:
                    self._insert_leaves(conn, batch)
                self._upsert_tiles(conn, batch)
                if batch.changes is not None:
                    self._write_changes(conn, batch.changes)
                self._keep_checkpoint(conn, batch)
        except StaleStateError:
            raise
        except Exception as e:  # SQLAlchemy's and the driver's own (COPY) errors alike
            raise StorageError(f"commit of batch at {batch.from_size} failed: {e}") from e
        if batch.changes is not None and batch.changes.erased:
            self._purge_erased()

    def _purge_erased(self) -> None:
        """Make erased openings unrecoverable from the files too: SQLite copies pages into the
        WAL (checkpoint and truncate it); PostgreSQL keeps dead tuples until VACUUM, and index
        entries until a VACUUM that cleans the indexes (it skips them when few pages changed).
        A transaction open meanwhile keeps the old row versions: logged, left to the next."""
        try:
            if self._is_pg:
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM (INDEX_CLEANUP ON) records")
                    left = c.exec_driver_sql(
                        "SELECT pg_stat_get_dead_tuples('records'::regclass)"
                    ).scalar()
                    if left:
                        log.warning(
                            "VACUUM after an erasure left %s old row versions of records (a "
                            "transaction was open): they hold erased openings until the next "
                            "VACUUM",
                            left,
                        )
            else:
                with self.engine.connect() as c:
                    raw: Any = c.connection.driver_connection
                    # Busy, without waiting, while another connection's checkpoint runs (the
                    # inquiry log's commits checkpoint too): try again.
                    for _ in range(PURGE_TRIES):
                        if not raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                            return
                        time.sleep(0.01)
                    log.warning("could not truncate the WAL after an erasure: it stays busy")
        except Exception:
            log.warning("could not purge erased openings from the database files", exc_info=True)

    def _move_head(self, conn: Connection, batch: Batch) -> None:
        """Compare-and-set of the head row on the driver's cursor, like the checkpoint's insert
        (a commit's fixed cost, paid by every small group of inquiries)."""
        h = self._t.head.name
        head = batch.head
        values = (head.size, head.root, head.checkpoint, head.signed_at_us)
        if batch.from_size == 0:
            _, exists = self._on_cursor(conn, f"SELECT tree_size FROM {h} WHERE id = 1", ())
            if not exists:
                self._on_cursor(
                    conn,
                    f"INSERT INTO {h} (id, tree_size, root, note, signed_at_us) "
                    "VALUES (1, ?, ?, ?, ?)",
                    values,
                )
                return
        moved, _ = self._on_cursor(
            conn,
            f"UPDATE {h} SET tree_size = ?, root = ?, note = ?, signed_at_us = ? "
            "WHERE id = 1 AND tree_size = ?",
            (*values, batch.from_size),
        )
        if moved != 1:
            _, rows = self._on_cursor(conn, f"SELECT tree_size FROM {h} WHERE id = 1", ())
            actual = rows[0][0] if rows else 0
            raise StaleStateError("commit refused", expected=batch.from_size, actual=actual)

    def _keep_checkpoint(self, conn: Connection, batch: Batch) -> None:
        head = batch.head
        self._on_cursor(
            conn,
            f"INSERT INTO {self._t.checkpoints.name} (tree_size, root, note, signed_at_us) "
            "VALUES (?, ?, ?, ?)",
            (head.size, head.root, head.checkpoint, head.signed_at_us),
        )

    def _insert_leaves(self, conn: Connection, batch: Batch) -> None:
        first = batch.from_size
        rows = [(first + i, leaf) for i, leaf in enumerate(batch.leaves)]
        self._insert(conn, self._t.leaves, ("idx", "leaf"), rows)

    def _insert(
        self, conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[Any]
    ) -> None:
        """Plain inserts on the driver's own cursor, in the batch's transaction: COPY on
        PostgreSQL, executemany on SQLite. SQLAlchemy's per-row parameter processing costs more
        than the insert itself for a batch's thousands of leaves and index rows."""
        if not rows:
            return
        raw: Any = conn.connection.driver_connection
        names = ", ".join(columns)
        if self._is_pg:
            with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self._many(conn, f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)

    def _many(self, conn: Connection, sql: str, rows: list[Any]) -> None:
        """``executemany`` on ``conn``'s driver cursor; ``sql`` uses ``?`` placeholders."""
        raw: Any = conn.connection.driver_connection
        cur = raw.cursor()
        try:
            cur.executemany(sql.replace("?", "%s") if self._is_pg else sql, rows)
        finally:
            cur.close()

    def _upsert_tiles(self, conn: Connection, batch: Batch) -> None:
        rows = [(t.level, t.index, h) for t, h in batch.tiles.items()]
        self._upsert(conn, self._t.tiles, ("level", "idx", "hashes"), rows)

    def _upsert(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: list[Any],
        keep: Sequence[str] = (),
    ) -> None:
        """Insert rows, replacing those whose primary key exists: INSERT ... ON CONFLICT DO
        UPDATE (the same statement on both engines) on the driver's own cursor, like
        ``_insert``. The ``keep`` columns are written by inserts only: an existing row keeps
        its own."""
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        conflict = ", ".join(f'"{c}"' for c in keys)
        sets = ", ".join(
            f'"{c}" = excluded."{c}"' for c in columns if c not in keys and c not in keep
        )
        self._many(
            conn,
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}",
            rows,
        )

    def _write_changes(self, conn: Connection, ch: Changes) -> None:
        self._upsert(
            conn,
            schema.members,
            ("member_id", "state"),
            [(m.member_id, member_to_json(m)) for m in ch.members.values()],
        )
        self._upsert(
            conn,
            schema.member_keys,
            ("key_id", "member_id", "public_key", "added_at", "revoked_at"),
            [
                (k.key_id, k.member_id, k.public_key, k.added_at, k.revoked_at)
                for k in ch.keys.values()
            ],
        )
        no_opening = (None, None)
        openings = ch.openings
        if openings and not openings.keys() <= {r.subject_commitment for r in ch.records.values()}:
            raise StorageError("a subject opening without its record in the same changes")
        if ch.erased and not ch.erased <= {r.subject_commitment for r in ch.records.values()}:
            raise StorageError("an erasure without its record in the same changes")
        # An erased record's row is written once, its opening overwritten with NULLs; every other
        # row keeps the opening it was reported with.
        rows: tuple[list[Any], list[Any]] = ([], [])
        for r in ch.records.values():
            erased = r.erased or r.subject_commitment in ch.erased
            rows[erased].append(
                (
                    r.ref.member_id,
                    r.ref.record_id,
                    r.subject_commitment,
                    r.status.value,
                    record_to_json(r),
                    r.open_dispute.opened_on.isoformat() if r.open_dispute else None,
                    *(no_opening if erased else openings.get(r.subject_commitment, no_opening)),
                )
            )
        columns = (
            "member_id",
            "record_id",
            "subject_commitment",
            "status",
            "state",
            "dispute_opened_on",
            "pseudonym",
            "salt",
        )
        # An opening comes with its report, and only then.
        self._upsert(conn, schema.records, columns, rows[False], keep=("pseudonym", "salt"))
        self._upsert(conn, schema.records, columns, rows[True])
        self._insert(
            conn,
            schema.submissions,
            ("member_id", "submission_id", "idx"),
            [(m, s, i) for (m, s), i in ch.submissions.items()],
        )
        self._insert(
            conn,
            schema.inquiry_openings,
            ("idx", "pseudonym", "salt"),
            [(i, p, salt) for i, (p, salt) in ch.inquiries.items()],
        )

    # --- the projection ------------------------------------------------------------------

    def load_registry(self) -> tuple[dict[str, Member], dict[bytes, MemberKey]]:
        mk = schema.member_keys
        with self.engine.connect() as conn:
            members = {
                mid: member_from_json(mid, state)
                for mid, state in conn.execute(
                    sa.select(schema.members.c.member_id, schema.members.c.state)
                )
            }
            keys = {
                bytes(k): MemberKey(bytes(k), m, bytes(pk), a, r)
                for k, m, pk, a, r in conn.execute(
                    sa.select(
                        mk.c.key_id, mk.c.member_id, mk.c.public_key, mk.c.added_at, mk.c.revoked_at
                    )
                )
            }
        return members, keys

    def _pairs_rows(
        self, select: str, table: str, a: str, b: str, pairs: Sequence[tuple[Any, Any]]
    ) -> list[tuple[Any, ...]]:
        """``SELECT select FROM table WHERE (a, b) IN pairs``, on the driver's cursor, 400 pairs
        a query, as ``a = ? AND b IN (...) OR ...``: SQLite plans a row-value IN as a full scan,
        this form as index lookups (and PostgreSQL does well with both)."""
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(pairs), 400):
            by_first: dict[Any, list[Any]] = {}
            for x, y in chunk:
                by_first.setdefault(x, []).append(y)
            where = " OR ".join(
                f"({a} = ? AND {b} IN ({','.join('?' * len(ys))}))" for ys in by_first.values()
            )
            params = [v for x, ys in by_first.items() for v in (x, *ys)]
            rows += self._raw_rows(f"SELECT {select} FROM {table} WHERE {where}", params)
        return rows

    def load_records(self, refs: Sequence[RecordRef]) -> dict[RecordRef, RecordState]:
        pairs = [(r.member_id, r.record_id) for r in refs]
        rows = self._pairs_rows(
            _RECORD_COLUMNS, schema.records.name, "member_id", "record_id", pairs
        )
        out: dict[RecordRef, RecordState] = {}
        for m, r, c, status, state in rows:
            ref = RecordRef(m, r)
            out[ref] = record_from_json(state, ref, bytes(c), status)
        return out

    def commitment_owners(self, commitments: Sequence[bytes]) -> dict[bytes, RecordRef]:
        rows = self._rows_in(
            f"SELECT subject_commitment, member_id, record_id FROM {schema.records.name} "
            "WHERE subject_commitment IN ({})",
            sorted(set(commitments)),
        )
        return {bytes(c): RecordRef(m, r) for c, m, r in rows}

    def salts_for_commitments(self, commitments: Sequence[bytes]) -> dict[bytes, bytes]:
        """The salts of the subject openings still held for these commitments (none once
        erased)."""
        rows = self._rows_in(
            f"SELECT subject_commitment, salt FROM {schema.records.name} "
            "WHERE salt IS NOT NULL AND subject_commitment IN ({})",
            sorted(set(commitments)),
        )
        return {bytes(c): bytes(salt) for c, salt in rows}

    def load_submissions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        rows = self._pairs_rows(
            "member_id, submission_id, idx",
            schema.submissions.name,
            "member_id",
            "submission_id",
            keys,
        )
        return {(m, s): int(i) for m, s, i in rows}

    def records_for_pseudonyms(
        self, pseudonyms: Sequence[bytes]
    ) -> dict[bytes, list[tuple[RecordState, bytes]]]:
        """For many pseudonyms at once: their records with salts (one query per 500)."""
        rows = self._rows_in(
            f"SELECT pseudonym, salt, {_RECORD_COLUMNS} FROM {schema.records.name} "
            "WHERE pseudonym IN ({})",
            sorted(set(pseudonyms)),
        )
        out: dict[bytes, list[tuple[RecordState, bytes]]] = {}
        for p, salt, m, r, c, status, state in rows:
            rec = record_from_json(state, RecordRef(m, r), bytes(c), status)
            out.setdefault(bytes(p), []).append((rec, bytes(salt)))
        return out

    def inquiries_for_pseudonym(self, pseudonym: bytes) -> list[tuple[int, bytes]]:
        """The inquiry-log indexes and salts of every lookup of this pseudonym."""
        io = schema.inquiry_openings
        q = sa.select(io.c.idx, io.c.salt).where(io.c.pseudonym == pseudonym).order_by(io.c.idx)
        with self.engine.connect() as conn:
            return [(i, bytes(s)) for i, s in conn.execute(q)]

    def open_disputes_before(self, day: str) -> list[tuple[RecordRef, str]]:
        """Records whose open dispute was opened before ``day`` (ISO date): overdue ones."""
        rt = schema.records
        q = (
            sa.select(rt.c.member_id, rt.c.record_id, rt.c.dispute_opened_on)
            .where(rt.c.dispute_opened_on < day)
            .order_by(rt.c.dispute_opened_on)
        )
        with self.engine.connect() as conn:
            return [(RecordRef(m, r), d) for m, r, d in conn.execute(q)]

    # --- witnesses' cosignatures ------------------------------------------------------------

    @property
    def log_name(self) -> str:
        return "inquiries" if self._t is schema.INQUIRIES else "ledger"

    def add_cosignature(self, tree_size: int, witness: str, line: str, at_us: int) -> None:
        """Keep a witness's cosignature of the checkpoint at ``tree_size`` (the newest one
        per witness and size wins)."""
        row = (self.log_name, tree_size, witness, line, at_us)
        columns = ("log", "tree_size", "witness", "signature_line", "cosigned_at")
        with self._writer() as conn:
            self._upsert(conn, schema.cosignatures, columns, [row])

    def cosignature_lines(self, tree_size: int) -> list[str]:
        cs = schema.cosignatures
        q = (
            sa.select(cs.c.signature_line)
            .where(cs.c.log == self.log_name, cs.c.tree_size == tree_size)
            .order_by(cs.c.witness)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def latest_cosigned_size(self) -> int | None:
        cs = schema.cosignatures
        q = sa.select(sa.func.max(cs.c.tree_size)).where(cs.c.log == self.log_name)
        with self.engine.connect() as conn:
            size = conn.execute(q).scalar()
        return None if size is None else int(size)

    # --- watches (lenders' registered borrowers) -------------------------------------------

    def add_watches(self, member_id: str, regs: Sequence[tuple[bytes, str]], at_us: int) -> None:
        rows = [(member_id, p, ref, at_us) for p, ref in regs]
        columns = ("member_id", "pseudonym", "relationship_reference", "registered_at_us")
        with self._writer() as conn:
            self._upsert(conn, schema.watches, columns, rows)

    def remove_watches(self, member_id: str, pseudonyms: Sequence[bytes]) -> int:
        w = schema.watches
        with self._writer() as conn:
            n = 0
            for chunk in _chunks(list(pseudonyms), 500):
                n += conn.execute(
                    w.delete().where(w.c.member_id == member_id, w.c.pseudonym.in_(chunk))
                ).rowcount
            return n

    def load_watches(self) -> list[tuple[str, bytes, str]]:
        w = schema.watches
        with self.engine.connect() as conn:
            return [
                (m, bytes(p), r)
                for m, p, r in conn.execute(
                    sa.select(w.c.member_id, w.c.pseudonym, w.c.relationship_reference)
                )
            ]

    def commitments_for_pseudonyms(self, pseudonyms: Sequence[bytes]) -> dict[bytes, bytes]:
        """subject commitment -> pseudonym, for the records of these pseudonyms."""
        rows = self._rows_in(
            f"SELECT subject_commitment, pseudonym FROM {schema.records.name} "
            "WHERE pseudonym IN ({})",
            sorted(set(pseudonyms)),
        )
        return {bytes(c): bytes(p) for c, p in rows}

    def records_for_pseudonym(self, pseudonym: bytes) -> list[tuple[RecordState, bytes]]:
        """Every record whose subject opening has this pseudonym, with its salt."""
        return self.records_for_pseudonyms([pseudonym]).get(pseudonym, [])

    def load_projection(self) -> MemoryState:
        """The whole live projection (for the rebuild check and small tools)."""
        members, keys = self.load_registry()
        out = MemoryState(members=members, keys=keys)
        with self.engine.connect() as conn:
            rt = schema.records
            q = sa.select(
                rt.c.member_id,
                rt.c.record_id,
                rt.c.subject_commitment,
                rt.c.status,
                rt.c.state,
                rt.c.pseudonym,
                rt.c.salt,
            )
            for m, r, c, status, state, p, salt in conn.execute(q):
                if p is not None or salt is not None:  # half an opening opens nothing: shown
                    out.openings[bytes(c)] = (bytes(p or b""), bytes(salt or b""))
                rec = record_from_json(state, RecordRef(m, r), bytes(c), status)
                out.records[rec.ref] = rec
            st = schema.submissions
            for m, s, i in conn.execute(sa.select(st.c.member_id, st.c.submission_id, st.c.idx)):
                out.submissions[(m, s)] = i
        return out

    def close(self) -> None:
        self.engine.dispose()
