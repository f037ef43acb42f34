"""The SQL storage on SQLite and PostgreSQL: atomic batches, exact bytes, migrations."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from arrears.ledger import schema
from arrears.ledger.errors import StaleStateError, StorageError
from arrears.ledger.log import Entry, Log
from arrears.ledger.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes, verify_inclusion
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.records import Changes, RecordRef, Status, record_to_json
from arrears.ledger.sql import (
    SQLITE_CACHE_KIB,
    SqlStorage,
    create_engine,
    head_revision,
    schema_revision,
)
from arrears.ledger.storage import Batch, Head
from arrears.ledger.verify import verify_log
from tests.record_formats import FORMAT_1, FORMAT_1_STATE, FORMAT_2

SIGNER = Ed25519Signer.generate("arrears.test/log")


def entry(i: int) -> Entry:
    return Entry(i.to_bytes(32, "big"), os.urandom(40 + i % 50), os.urandom(64))


def test_empty_storage(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    head = st.head()
    assert (head.size, head.root) == (0, EMPTY_ROOT)
    assert st.read_leaves(0, 10) == []
    assert st.read_tiles([]) == {}
    assert st.checkpoint_at(0) is None
    st.close()


def test_migrated_schema_matches_metadata(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    st = SqlStorage.open(db_url)
    assert schema_revision(st.engine) == head_revision()
    with st.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []
    st.close()


def test_migration_0005_moves_openings_into_their_records(db_url: str) -> None:
    from alembic import command

    from arrears.ledger.sql import _alembic_config, migrate

    engine = create_engine(db_url)
    migrate(engine, "0004")
    c1, c2, orphan = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    with engine.begin() as conn:
        for rid, c in (("loan-1", c1), ("loan-2", c2)):
            conn.execute(
                sa.text(
                    "INSERT INTO records (member_id, record_id, subject_commitment, status, state)"
                    " VALUES ('bank-a', :r, :c, 'open', '[]')"
                ),
                {"r": rid, "c": c},
            )
        for c, p in ((c1, b"p" * 36), (orphan, b"q" * 36)):  # loan-2's was erased
            conn.execute(
                sa.text("INSERT INTO subject_openings VALUES (:c, :p, :s)"),
                {"c": c, "p": p, "s": c[:1] * 32},
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT record_id, pseudonym, salt FROM records ORDER BY record_id")
        ).all()
    assert [(r, p and bytes(p), s and bytes(s)) for r, p, s in rows] == [
        ("loan-1", b"p" * 36, b"\x01" * 32),
        ("loan-2", None, None),
    ]
    assert "subject_openings" not in sa.inspect(engine).get_table_names()

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT commitment, pseudonym, salt FROM subject_openings"))
        assert [tuple(bytes(v) for v in row) for row in back] == [(c1, b"p" * 36, c1)]
    assert "pseudonym" not in {c["name"] for c in sa.inspect(engine).get_columns("records")}
    engine.dispose()


def _index_sql(engine: sa.Engine, name: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            q = "SELECT sql FROM sqlite_schema WHERE name = :n"
        else:
            q = "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        return str(conn.execute(sa.text(q), {"n": name}).scalar_one())


def _has_rowid(engine: sa.Engine, table: str) -> bool:
    """On SQLite: is ``table`` a rowid table?"""
    with engine.connect() as conn:
        try:
            conn.execute(sa.text(f"SELECT rowid FROM {table} LIMIT 1")).all()
        except sa.exc.OperationalError:
            return False
    return True


def test_migration_0006_keeps_every_row_in_smaller_indexes(db_url: str) -> None:
    from alembic import command

    from arrears.ledger.sql import _alembic_config, migrate

    engine = create_engine(db_url)
    sqlite = engine.dialect.name == "sqlite"
    migrate(engine, "0005")
    with engine.begin() as conn:
        for i, opened in enumerate(["2026-03-01", None, "2026-05-09", None]):
            conn.execute(
                sa.text(
                    "INSERT INTO records (member_id, record_id, subject_commitment, status, state,"
                    " dispute_opened_on) VALUES ('bank-a', :r, :c, 'open', '[]', :d)"
                ),
                {"r": f"loan-{i}", "c": bytes([i]) * 32, "d": opened},
            )
            conn.execute(
                sa.text("INSERT INTO submissions VALUES (:m, :s, :i)"),
                {"m": f"bank-{'ab'[i % 2]}", "s": f"sub-{i}", "i": i},
            )
    submissions = [("bank-a", "sub-0", 0), ("bank-a", "sub-2", 2)]
    submissions += [("bank-b", "sub-1", 1), ("bank-b", "sub-3", 3)]

    def rows() -> list[tuple[str, str, int]]:
        with engine.connect() as conn:
            q = "SELECT member_id, submission_id, idx FROM submissions ORDER BY 1, 2"
            return [tuple(r) for r in conn.execute(sa.text(q))]  # type: ignore[misc]

    assert "WHERE" not in _index_sql(engine, "records_by_open_dispute")
    migrate(engine)
    assert "WHERE" in _index_sql(engine, "records_by_open_dispute")
    assert rows() == submissions
    assert not sqlite or not _has_rowid(engine, "submissions")
    st = SqlStorage(engine, migrate_schema=False)
    assert st.load_submissions([("bank-b", "sub-3"), ("bank-a", "sub-9")]) == {
        ("bank-b", "sub-3"): 3
    }
    overdue = st.open_disputes_before("2026-06-01")
    assert [(r.record_id, d) for r, d in overdue] == [
        ("loan-0", "2026-03-01"),
        ("loan-2", "2026-05-09"),
    ]
    if sqlite:  # the overdue-disputes query reads the partial index
        with engine.connect() as conn:
            plan = conn.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT member_id FROM records "
                    "WHERE dispute_opened_on < '2026-06-01' ORDER BY dispute_opened_on"
                )
            ).all()
        assert "records_by_open_dispute" in str(plan)

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert "WHERE" not in _index_sql(engine, "records_by_open_dispute")
    assert rows() == submissions
    assert not sqlite or _has_rowid(engine, "submissions")
    engine.dispose()


def test_record_states_of_every_format_are_read(db_url: str) -> None:
    """Rows written by earlier versions (formats 1 and 2 carry every field in the text) and by
    this one (format 3 leaves out the key, commitment and status) read the same through every
    reader, each with its row's key, commitment and status."""
    st = SqlStorage.open(db_url)
    rec = FORMAT_1_STATE
    pseudonym = b"\x00\x00\x00\x01" + b"p" * 32
    texts = [FORMAT_1, FORMAT_2, record_to_json(rec)]
    # Formats 1 and 2 name their own record (L-1001, settled) in the text too: the columns win.
    want = [
        rec._replace(
            ref=RecordRef("bank-a", f"L-{i}"),
            subject_commitment=bytes([i]) * 32,
            status=Status.ACTIVE if i == 1 else rec.status,
        )
        for i in range(len(texts))
    ]
    with st.engine.begin() as conn:
        for i, (text, r) in enumerate(zip(texts, want, strict=True)):
            conn.execute(
                schema.records.insert().values(
                    member_id=r.ref.member_id,
                    record_id=r.ref.record_id,
                    subject_commitment=r.subject_commitment,
                    status=r.status.value,
                    state=text,
                    pseudonym=pseudonym,
                    salt=bytes([i]) * 32,
                )
            )
    by_ref = {r.ref: r for r in want}
    assert st.load_records(list(by_ref)) == by_ref
    found = st.records_for_pseudonyms([pseudonym])[pseudonym]
    assert sorted(r for r, _ in found) == sorted(want)
    assert st.load_projection().records == by_ref
    st.close()


def test_appends_store_exact_bytes_and_reopen(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    first = log.append_batch([entry(i) for i in range(300)])
    more = [log.append(entry(300 + i)) for i in range(5)]
    log.close()
    st.close()

    st = SqlStorage.open(db_url)  # a new process would see the same
    leaves = st.read_leaves(0, 1000)
    assert leaves == [a.leaf for a in first + more]
    assert st.head().size == 305
    assert st.head().root == root_from_leaf_hashes(leaf_hash(x) for x in leaves)
    log = Log(st, SIGNER)
    a = log.append(entry(999))
    assert a.index == 305
    proof = log.inclusion_proof(17)
    verify_inclusion(17, 306, leaf_hash(leaves[17]), proof, a.root)
    assert verify_log(st, [SIGNER.verifier]).size == 306
    assert st.checkpoint_at(300) == first[-1].checkpoint
    log.close()
    st.close()


def test_read_leaves_keeps_to_its_range_around_a_missing_row(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    leaves = [a.leaf for a in log.append_batch([entry(i) for i in range(20)])]
    with st.engine.begin() as conn:
        conn.execute(schema.leaves.delete().where(schema.leaves.c.idx == 7))
    assert st.read_leaves(5, 10) == [leaves[5], leaves[6], leaves[8], leaves[9]]
    assert st.read_leaves(7, 8) == []
    assert st.read_leaves(18, 40) == leaves[18:]
    assert st.read_leaves(10, 10) == []
    assert st.read_leaves_at([9, 7, 0, 9, 25]) == {0: leaves[0], 9: leaves[9]}
    log.close()
    st.close()


def test_stale_batch_is_refused_and_changes_nothing(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    log.append_batch([entry(i) for i in range(3)])
    before = st.read_leaves(0, 10), st.head()
    with pytest.raises(StaleStateError, match="expected size 1, storage has 3"):
        st.commit(Batch(1, [b"x"], {}, Head(2, EMPTY_ROOT, b"note", 0)))
    assert (st.read_leaves(0, 10), st.head()) == before
    log.close()
    st.close()


def test_failed_commit_leaves_nothing_half_written(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    log.append_batch([entry(i) for i in range(10)])
    head = st.head()
    # A leaf at an index that already exists: the whole batch must roll back.
    bad = Batch(10, [b"a", b"b"], {}, Head(12, head.root, b"n", 0))
    with st.engine.begin() as conn:
        conn.execute(schema.leaves.insert(), {"idx": 11, "leaf": b"squatter"})
    with pytest.raises(StorageError):
        st.commit(bad)
    assert st.head() == head
    assert st.read_leaves(10, 11) == []
    log.close()
    st.close()


@pytest.mark.parametrize("orphan", ["opening", "erasure"])
def test_changes_naming_a_record_they_do_not_hold_are_refused(db_url: str, orphan: str) -> None:
    """A subject opening or an erasure travels with its record's row: without it, the batch
    is refused whole."""
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    log.append_batch([entry(i) for i in range(3)])
    head = st.head()
    changes = Changes()
    if orphan == "opening":
        changes.openings[b"c" * 32] = (b"p" * 36, b"s" * 32)
    else:
        changes.erased.add(b"c" * 32)
    with pytest.raises(StorageError, match=f"{orphan} without its record"):
        st.commit(Batch(3, [b"x"], {}, Head(4, head.root, b"n", 0), changes))
    assert st.head() == head
    assert st.read_leaves(3, 4) == []
    log.close()
    st.close()


def test_two_writers_cannot_fork_the_log(db_url: str) -> None:
    a = SqlStorage.open(db_url)
    b = SqlStorage.open(db_url)
    log_a = Log(a, SIGNER)
    log_b = Log(b, SIGNER)  # both load size 0
    log_a.append(entry(1))
    with pytest.raises(StaleStateError):
        log_b.append(entry(2))
    # The failed writer reloads from storage and can go on from the true head.
    assert log_b.append(entry(3)).index == 1
    assert verify_log(a, [SIGNER.verifier]).size == 2
    for x in (log_a, log_b):
        x.close()
    a.close()
    b.close()


def test_a_writer_refused_by_another_reloads_the_key_registry_too(db_url: str) -> None:
    """Writer A suspends a member; writer B, refused once (the head moved), must then judge by
    the registry in storage, not the one it loaded: the suspended member's report is refused,
    and the ledger still replays into the same projection."""
    from arrears.ledger import events as ev
    from arrears.ledger.ledger import Ledger
    from arrears.ledger.projection import check_projection
    from arrears.ledger.records import NotPermitted
    from tests.consortium import build

    st_a, st_b = SqlStorage.open(db_url), SqlStorage.open(db_url)
    c = build(st_a)
    ledger_b = Ledger(st_b, c.log_signer, clock=c.clock)  # loads the registry now
    c.submit("operator", ev.member_suspended("bank-a", "fraud"))  # through writer A
    a_ledger = c.ledger
    c.ledger = ledger_b
    with pytest.raises(StaleStateError):
        c.report("bank-a", "loan-1", 1)
    with pytest.raises(NotPermitted, match="suspended"):
        c.report("bank-a", "loan-2", 2)
    assert c.report("bank-b", "loan-3", 3).index == st_a.head().size - 1
    assert not check_projection(st_a)
    for x in (a_ledger, ledger_b):
        x.close()
    st_a.close()
    st_b.close()


def test_group_commit_is_gapless_under_concurrency(db_url: str) -> None:
    st = SqlStorage.open(db_url)
    log = Log(st, SIGNER)
    results: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(25):
            a = log.append(entry(k * 100 + i))
            with lock:
                results.append(a.index)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sorted(results) == list(range(400))
    with st.engine.connect() as conn:
        n_checkpoints = conn.execute(sa.select(sa.func.count()).select_from(schema.checkpoints))
        batches = n_checkpoints.scalar_one()
    assert batches < 400  # appends were grouped
    assert verify_log(st, [SIGNER.verifier]).size == 400
    st.close()


@pytest.mark.postgres
def test_after_a_postgres_restart_one_read_is_unavailable_then_the_pool_reconnects(
    pg_url: str, pg_database: str
) -> None:
    """Reads on the driver's own cursor meet the dead connections too: the first is a
    StorageError (UNAVAILABLE to a caller), and the pool starts afresh rather than failing
    once for every connection it held."""
    import psycopg

    st = SqlStorage.open(pg_url + "&application_name=arrears-restarted")
    log = Log(st, SIGNER)
    log.append(entry(1))
    threads = [threading.Thread(target=st.read_leaves, args=(0, 1)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(pg_database, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'arrears-restarted'"
        ).fetchone()
    assert killed is not None and killed[0] >= 2
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(len(st.read_leaves(0, 1)))
        except StorageError:
            outcomes.append(-1)
    assert outcomes == [-1, 1, 1, 1, 1, 1]
    log.close()
    st.close()


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    SqlStorage(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    engine.dispose()
    small = create_engine(sqlite_url, cache_kib=4096)
    with small.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -4096
    small.dispose()


def test_sqlite_wal_file_shrinks_to_its_limit_after_a_checkpoint(sqlite_url: str) -> None:
    path = sa.make_url(sqlite_url).database
    assert path is not None
    st = SqlStorage(create_engine(sqlite_url, wal_limit_kib=256))
    log = Log(st, SIGNER)
    reader = st.engine.connect()
    reader.begin()
    reader.exec_driver_sql("SELECT count(*) FROM leaves").scalar()  # holds its snapshot
    for k in range(16):  # no checkpoint can pass the reader: the WAL grows
        log.append_batch([entry(k * 100 + i) for i in range(100)])
    grown = os.path.getsize(path + "-wal")
    assert grown > 1024 * 1024
    reader.close()
    with st.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    log.append(entry(999))  # the WAL restarts from its beginning, cut to the limit
    assert os.path.getsize(path + "-wal") <= 256 * 1024
    log.close()
    st.close()


def test_unreachable_database_is_a_storage_error(tmp_path: object) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        SqlStorage.open("sqlite:////nonexistent-dir/x/ledger.db")


def test_require_database_refuses_only_a_missing_sqlite_file(tmp_path: Path) -> None:
    from arrears.ledger.sql import require_database

    there = tmp_path / "there.db"
    there.touch()
    for url in (f"sqlite:///{there}", f"sqlite:///file:{there}?mode=ro&uri=true", "sqlite://"):
        require_database(url)
    require_database("postgresql+psycopg://nobody@127.0.0.1/none")  # not a file: not checked
    for url in (f"sqlite:///{tmp_path}/gone.db", f"sqlite:///file:{tmp_path}/gone.db?uri=true"):
        with pytest.raises(StorageError, match=f"no SQLite database at {tmp_path}/gone.db"):
            require_database(url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.db"]
