"""Erasure on SQLite and PostgreSQL: the subject link goes, every hash and proof stays."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from arrears.ledger import events as ev
from arrears.ledger import schema
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import ArrearsError, StorageError
from arrears.ledger.ledger import Ledger, Opening
from arrears.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from arrears.ledger.note import open_note
from arrears.ledger.projection import check_projection, fold, iter_leaves
from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment
from arrears.ledger.records import RecordRef, RuleViolation
from arrears.ledger.sql import SqlStorage
from arrears.ledger.verify import verify_log
from arrears.v1 import events_pb2 as pb
from tests.consortium import ORIGIN, TODAY, Clock, Consortium, build, pseudonym

SETTLED_ON = TODAY
RETENTION_ENDS = date(2031, 11, 2)  # five years after SETTLED_ON


@pytest.fixture
def c(db_url: str) -> Iterator[Consortium]:
    st = SqlStorage.open(db_url)
    c = build(st, Clock())
    yield c
    c.ledger.close()
    st.close()


def sql(c: Consortium) -> SqlStorage:
    st = c.ledger.storage
    assert isinstance(st, SqlStorage)
    return st


def report(
    c: Consortium, member_id: str, record_id: str, subject: int, salt: bytes | None = None
) -> Opening:
    opening = Opening(pseudonym(subject), salt or new_salt())
    event = ev.record_reported(
        record_id,
        subject_commitment(opening.salt, Pseudonym.from_bytes(opening.pseudonym)),
        principal_minor=2_000_000,
        outstanding_minor=1_500_000,
        days_past_due=95,
        first_missed_payment=date(2026, 7, 1),
        borrower_notified_on=date(2026, 10, 1),
    )
    c.ledger.append(c.m(member_id).sign(event), opening)
    return opening


def openings_matching(c: Consortium, opening: Opening) -> int:
    rt = schema.records
    with sql(c).engine.connect() as conn:
        q = sa.select(sa.func.count()).where(
            sa.or_(rt.c.pseudonym == opening.pseudonym, rt.c.salt == opening.salt)
        )
        return int(conn.execute(q).scalar_one())


def assert_log_verifies(c: Consortium) -> Checkpoint:
    st = sql(c)
    verified = verify_log(st, [c.log_signer.verifier])
    head = st.head()
    assert verified.size == head.size
    checkpoint = Checkpoint.parse(open_note(head.checkpoint, [c.log_signer.verifier]).body)
    assert (checkpoint.size, checkpoint.root) == (head.size, head.root)
    leaves = st.read_leaves(0, checkpoint.size)
    assert len(leaves) == checkpoint.size
    for i, leaf in enumerate(leaves):
        proof = c.ledger.log.inclusion_proof(i, checkpoint.size)
        verify_inclusion(i, checkpoint.size, leaf_hash(leaf), proof, checkpoint.root)
    # Every signature still verifies, and the rules still admit every entry.
    fold(iter_leaves(st, checkpoint.size), origin=ORIGIN)
    return checkpoint


def test_erasure_after_retention(c: Consortium) -> None:
    ref = RecordRef("bank-a", "loan-7")
    opening = report(c, "bank-a", "loan-7", 7)
    other = report(c, "bank-b", "loan-8", 8)
    c.submit("operator", ev.dispute_opened(ref, "d-1", TODAY, "amount"))
    c.submit("bank-a", ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY))
    c.submit("bank-a", ev.record_settled(ref, SETTLED_ON))
    st = sql(c)
    (found,) = st.records_for_pseudonym(opening.pseudonym)
    assert (found[0].ref, found[1]) == (ref, opening.salt)
    erase = ev.record_erased(ref, pb.ERASURE_REASON_RETENTION_ENDED)

    c.clock.set(date(2031, 11, 1))
    with pytest.raises(RuleViolation) as info:
        c.submit("operator", erase)
    assert info.value.rule == "retention_not_ended"
    assert openings_matching(c, opening) == 1
    old = st.head()

    c.clock.set(RETENTION_ENDS)
    erased = c.submit("operator", erase)

    assert st.records_for_pseudonym(opening.pseudonym) == []
    assert openings_matching(c, opening) == 0
    projection = st.load_projection()
    assert projection.records[ref].erased
    assert opening.commitment() not in projection.openings
    leaves = st.read_leaves(0, st.head().size)
    assert erased.leaf in leaves
    for leaf in leaves:
        assert opening.pseudonym not in leaf
        assert Pseudonym.from_bytes(opening.pseudonym).value not in leaf
        assert opening.salt not in leaf
    checkpoint = assert_log_verifies(c)
    proof = c.ledger.log.consistency_proof(old.size, checkpoint.size)
    verify_consistency(old.size, checkpoint.size, old.root, checkpoint.root, proof)
    assert not check_projection(st)
    # The other subject is untouched.
    (kept,) = st.records_for_pseudonym(other.pseudonym)
    assert (kept[0].ref, kept[1]) == (RecordRef("bank-b", "loan-8"), other.salt)
    # The erased record can be neither changed nor erased again.
    with pytest.raises(RuleViolation) as again:
        c.submit("operator", erase)
    assert again.value.rule == "unknown_record"


def test_erasure_survives_a_restart(c: Consortium, db_url: str) -> None:
    ref = RecordRef("bank-a", "loan-7")
    opening = report(c, "bank-a", "loan-7", 7)
    c.submit("bank-a", ev.record_settled(ref, SETTLED_ON))
    c.clock.set(RETENTION_ENDS)
    c.submit("operator", ev.record_erased(ref, pb.ERASURE_REASON_RETENTION_ENDED))
    c.ledger.close()

    reopened = SqlStorage.open(db_url)
    ledger = Ledger(reopened, c.log_signer, clock=c.clock)
    try:
        assert reopened.records_for_pseudonym(opening.pseudonym) == []
        assert not check_projection(reopened)
        assert verify_log(reopened, [c.log_signer.verifier]).size == reopened.head().size
        update = c.m("bank-a").sign(ev.record_updated(ref, days_past_due=200))
        with pytest.raises(RuleViolation) as info:
            ledger.append(update)
        assert info.value.rule == "unknown_record"
    finally:
        ledger.close()
        reopened.close()


def test_lawful_request_erases_one_record_of_a_subject(c: Consortium) -> None:
    first = report(c, "bank-a", "loan-1", 7)
    second = report(c, "bank-b", "loan-2", 7)
    st = sql(c)
    assert len(st.records_for_pseudonym(first.pseudonym)) == 2
    c.submit(
        "operator",
        ev.record_erased(RecordRef("bank-a", "loan-1"), pb.ERASURE_REASON_LAWFUL_REQUEST),
    )
    (left,) = st.records_for_pseudonym(first.pseudonym)
    assert (left[0].ref, left[1]) == (RecordRef("bank-b", "loan-2"), second.salt)
    assert openings_matching(c, first) == 1  # the pseudonym, through the second record only
    with st.engine.connect() as conn:
        rt = schema.records
        rows = conn.execute(sa.select(rt.c.subject_commitment, rt.c.salt)).all()
    pairs = [(bytes(a), None if b is None else bytes(b)) for a, b in rows]
    assert (first.commitment(), None) in pairs  # the erased record, its opening gone
    assert (second.commitment(), second.salt) in pairs
    assert_log_verifies(c)
    assert not check_projection(st)


def test_a_reused_commitment_does_not_sink_its_batch(c: Consortium) -> None:
    # bank-b reports with the salt (so the commitment) of bank-a's record: its refusal is its
    # own, and the other submission of the same batch is committed.
    first = report(c, "bank-a", "loan-1", 7)
    size = sql(c).head().size
    fine = Opening(pseudonym(9), new_salt())

    def event(record_id: str, opening: Opening) -> pb.RecordReported:
        return ev.record_reported(
            record_id,
            opening.commitment(),
            principal_minor=10,
            outstanding_minor=10,
            days_past_due=40,
            first_missed_payment=date(2026, 9, 1),
            borrower_notified_on=date(2026, 10, 1),
        )

    items = [
        c.ledger.prepare(c.m("bank-c").sign(event("loan-9", fine)), fine),
        c.ledger.prepare(c.m("bank-b").sign(event("loan-7", first)), first),
    ]
    refusal: ArrearsError | None = None
    try:
        c.ledger.log.append_batch(items)
    except ArrearsError as e:
        refusal = e
    assert not isinstance(refusal, StorageError), f"the whole batch failed: {str(refusal)[:120]}"
    if refusal is not None:
        assert "record_reported.subject_commitment" in str(refusal)
    st = sql(c)
    assert st.head().size >= size + 1
    assert [r.ref for r, _ in st.records_for_pseudonym(fine.pseudonym)] == [
        RecordRef("bank-c", "loan-9")
    ]
    assert not check_projection(st)


@pytest.mark.parametrize("checkpoints", ["alone", "beside another connection's checkpoints"])
def test_an_erased_opening_is_gone_from_the_sqlite_files(sqlite_url: str, checkpoints: str) -> None:
    # Erasure is meant against someone who copies the database files, not only the tables:
    # the record row's old version, its pseudonym index entry and the WAL's copies of both.
    # A checkpoint running on another connection (the inquiry log's commits run theirs) makes
    # the truncation busy for a moment: the purge tries again.
    path = sa.make_url(sqlite_url).database
    assert path is not None

    def files() -> bytes:
        data = b""
        for suffix in ("", "-wal"):
            try:
                with open(path + suffix, "rb") as f:
                    data += f.read()
            except FileNotFoundError:
                pass
        return data

    st = SqlStorage.open(sqlite_url)
    c = build(st, Clock())
    try:
        opening = report(c, "bank-a", "loan-1", 41)
        kept = report(c, "bank-b", "loan-2", 42)
        assert opening.salt in files() and opening.pseudonym in files()
        stop = threading.Event()

        def checkpoint_all_the_time() -> None:
            other = sqlite3.connect(path, isolation_level=None)
            while not stop.is_set():
                other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            other.close()

        busy = threading.Thread(target=checkpoint_all_the_time)
        if checkpoints != "alone":
            busy.start()
        try:
            c.submit(
                "operator",
                ev.record_erased(RecordRef("bank-a", "loan-1"), pb.ERASURE_REASON_LAWFUL_REQUEST),
            )
        finally:
            stop.set()
            if busy.is_alive():
                busy.join()
        data = files()
        assert opening.salt not in data
        assert opening.pseudonym not in data
        assert kept.salt in data and kept.pseudonym in data
    finally:
        c.ledger.close()
        st.close()
