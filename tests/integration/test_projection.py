"""The projection on SQLite and PostgreSQL: after a long random run it equals the rebuild from
the ledger, and tampering with the live projection is reported."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from google.protobuf.message import Message

from arrears.ledger import events as ev
from arrears.ledger import schema
from arrears.ledger.envelope import Envelope, MemberSigner
from arrears.ledger.errors import ArrearsError, StorageError
from arrears.ledger.ledger import Ledger, Opening
from arrears.ledger.log import Appended
from arrears.ledger.projection import check_projection, fold, iter_leaves, rebuild
from arrears.ledger.pseudonym import Pseudonym, subject_commitment
from arrears.ledger.records import (
    MemoryState,
    RecordRef,
    RecordState,
    Status,
    decode_submission,
    record_from_json,
    record_to_json,
)
from arrears.ledger.sql import SqlStorage
from arrears.ledger.verify import verify_log
from arrears.v1 import events_pb2 as pb
from tests.consortium import ORIGIN, Clock, Consortium, build, pseudonym

BANKS = ("bank-a", "bank-b", "bank-c")
STEPS = 600
SEED = 20261102


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


# --- a random run ------------------------------------------------------------------------------

Sent = tuple[str, Envelope, Opening | None]


@dataclass
class Run:
    """Random submissions, plausible enough that many are accepted and many refused."""

    c: Consortium
    rng: random.Random
    day: date
    keys: dict[str, list[MemberSigner]] = field(default_factory=dict)
    refs: list[RecordRef] = field(default_factory=list)
    disputed: list[RecordRef] = field(default_factory=list)
    settled: list[RecordRef] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    disputes: int = 0

    def __post_init__(self) -> None:
        for mid, member in self.c.members.items():
            self.keys[mid] = [member.signer]

    # --- signing -------------------------------------------------------------------------

    def signer(self, member_id: str) -> MemberSigner:
        valid = self.valid_keys(member_id)
        if valid and self.rng.random() < 0.95:
            return self.rng.choice(valid)
        return self.rng.choice(self.keys[member_id])

    def sign(self, member_id: str, event: Message, *, submission_id: str | None = None) -> Envelope:
        member = ev.Member(member_id, self.signer(member_id), ORIGIN)
        return member.sign(event, submission_id=submission_id)

    # --- choices -------------------------------------------------------------------------

    def bank(self, but: str = "") -> str:
        return self.rng.choice([b for b in BANKS if b != but])

    def ref(self) -> RecordRef | None:
        if not self.refs:
            return None
        if self.rng.random() < 0.04:  # one that was never reported
            return RecordRef(self.bank(), f"r{self.rng.randrange(150)}")
        return self.rng.choice(self.refs)

    def pick(self, likely: list[RecordRef], otherwise: RecordRef) -> RecordRef:
        return self.rng.choice(likely) if likely and self.rng.random() < 0.75 else otherwise

    def valid_keys(self, member_id: str) -> list[MemberSigner]:
        registry = self.c.ledger.registry.keys
        return [
            k
            for k in self.keys[member_id]
            if k.key_id in registry and registry[k.key_id].revoked_at is None
        ]

    def suspended(self) -> list[str]:
        return [b for b in BANKS if self.c.ledger.registry.members[b].suspended]

    def owner_or_not(self, ref: RecordRef, p_owner: float) -> str:
        return ref.member_id if self.rng.random() < p_owner else self.bank(but=ref.member_id)

    def ago(self, lo: int, hi: int) -> date:
        return self.day - timedelta(days=self.rng.randint(lo, hi))

    # --- the events ----------------------------------------------------------------------

    def report(self) -> Sent:
        rng = self.rng
        mid = self.bank() if rng.random() < 0.92 else rng.choice(["regulator", "operator"])
        record_id = f"r{rng.randrange(150)}"
        opening = Opening(pseudonym(rng.randint(1, 40)), rng.randbytes(32))
        commitment = subject_commitment(opening.salt, Pseudonym.from_bytes(opening.pseudonym))
        principal = rng.randint(1_000, 10_000_000)
        notified: date | None = self.ago(0, 60)
        if rng.random() < 0.05:
            notified = None
        elif rng.random() < 0.05:
            notified = self.day + timedelta(days=rng.randint(1, 5))
        event = ev.record_reported(
            record_id,
            commitment,
            loan_type=rng.randint(1, 8),  # type: ignore[arg-type]
            currency=rng.choice(["CNY", "CNY", "USD"]) if rng.random() < 0.96 else "cny",
            principal_minor=principal,
            outstanding_minor=rng.randint(0, principal),
            days_past_due=rng.randint(1, 400) if rng.random() < 0.96 else 0,
            first_missed_payment=self.ago(-3, 700),
            borrower_notified_on=notified,
            collection_stage=rng.randint(1, 5),  # type: ignore[arg-type]
        )
        if rng.random() < 0.03:
            opening = Opening(opening.pseudonym, rng.randbytes(32))  # does not open it
        return "report", self.sign(mid, event), opening

    def correction(self, ref: RecordRef) -> pb.RecordUpdated:
        rng = self.rng
        days = rng.randint(1, 400) if rng.random() < 0.6 else None
        outstanding = rng.randint(0, 5_000_000) if rng.random() < 0.5 else None
        stage = rng.randint(1, 5) if rng.random() < 0.4 else 0
        return ev.record_updated(
            ref,
            days_past_due=days,
            outstanding_minor=outstanding,
            collection_stage=stage,  # type: ignore[arg-type]
        )

    def update(self, ref: RecordRef) -> Sent:
        mid = self.owner_or_not(ref, 0.85)
        return "update", self.sign(mid, self.correction(ref)), None

    def settle(self, ref: RecordRef) -> Sent:
        kind = self.rng.choice([pb.SETTLEMENT_KIND_FULL, pb.SETTLEMENT_KIND_NEGOTIATED])
        event = ev.record_settled(ref, self.ago(0, 40), kind=kind)
        return "settle", self.sign(self.owner_or_not(ref, 0.9), event), None

    def withdraw(self, ref: RecordRef) -> Sent:
        event = ev.record_withdrawn(ref, "reported in error")
        return "withdraw", self.sign(self.owner_or_not(ref, 0.9), event), None

    def open_dispute(self, ref: RecordRef) -> Sent:
        rng = self.rng
        x = rng.random()
        mid = "operator" if x < 0.5 else self.owner_or_not(ref, 0.7)
        self.disputes += 1
        n = self.disputes if rng.random() < 0.95 else rng.randint(1, self.disputes)
        event = ev.dispute_opened(ref, f"d{n}", self.ago(0, 3), "the borrower disagrees")
        return "dispute", self.sign(mid, event), None

    def resolve(self, ref: RecordRef) -> Sent:
        rng = self.rng
        live = sql(self.c).load_records([ref]).get(ref)
        open_dispute = live.open_dispute if live is not None else None
        if open_dispute is not None and rng.random() < 0.9:
            dispute_id = open_dispute.dispute_id
        else:
            dispute_id = f"d{rng.randint(1, max(1, self.disputes))}"
        outcome = rng.choice(
            [
                pb.DISPUTE_OUTCOME_CORRECTED,
                pb.DISPUTE_OUTCOME_WITHDRAWN,
                pb.DISPUTE_OUTCOME_REJECTED,
            ]
        )
        correction = None
        if outcome == pb.DISPUTE_OUTCOME_CORRECTED and rng.random() < 0.9:
            correction = self.correction(ref)
        event = ev.dispute_resolved(
            ref, dispute_id, outcome, self.day, "checked", correction=correction
        )
        x = rng.random()
        mid = "operator" if x < 0.3 else self.owner_or_not(ref, 0.85)
        return "resolve", self.sign(mid, event), None

    def suppress(self, ref: RecordRef) -> Sent:
        mid = "operator" if self.rng.random() < 0.85 else self.bank()
        return "suppress", self.sign(mid, ev.record_suppressed(ref, "regulator's order")), None

    def erase(self, ref: RecordRef) -> Sent:
        rng = self.rng
        mid = "operator" if rng.random() < 0.9 else self.bank()
        reason = (
            pb.ERASURE_REASON_RETENTION_ENDED
            if rng.random() < 0.8
            else pb.ERASURE_REASON_LAWFUL_REQUEST
        )
        return "erase", self.sign(mid, ev.record_erased(ref, reason)), None

    def suspend(self) -> Sent:
        rng = self.rng
        active = [b for b in BANKS if b not in self.suspended()]
        if active and rng.random() < 0.9:
            target = rng.choice(active)
        else:
            target = self.bank() if rng.random() < 0.8 else "operator"
        return "suspend", self.sign("operator", ev.member_suspended(target, "audit")), None

    def reinstate(self) -> Sent:
        suspended = self.suspended()
        target = (
            self.rng.choice(suspended) if suspended and self.rng.random() < 0.9 else self.bank()
        )
        event = ev.member_reinstated(target, "audit done")
        return "reinstate", self.sign("operator", event), None

    def add_key(self) -> Sent:
        target = self.bank()
        key = MemberSigner.generate()
        self.keys[target].append(key)
        return "add_key", self.sign("operator", ev.key_added(target, key.public_key)), None

    def revoke_key(self) -> Sent:
        rng = self.rng
        target = self.bank()
        valid = self.valid_keys(target)
        if len(valid) < 2 and rng.random() < 0.8:
            return self.add_key()
        key = rng.choice(valid if valid and rng.random() < 0.9 else self.keys[target])
        event = ev.key_revoked(target, key.key_id, "rotation")
        x = rng.random()
        mid = "operator" if x < 0.3 else target if x < 0.9 else self.bank(but=target)
        return "revoke_key", self.sign(mid, event), None

    def replay(self) -> Sent:
        _, env, opening = self.rng.choice(self.sent)
        return "replay", env, opening

    def reuse_id(self) -> Sent:
        _, env, _ = self.rng.choice(self.sent)
        old = decode_submission(env.payload)
        ref = self.ref()
        assert ref is not None
        event = ev.record_withdrawn(ref, "reusing an id")
        return "reuse_id", self.sign(old.member_id, event, submission_id=old.submission_id), None

    def one(self) -> Sent:
        rng = self.rng
        ref = self.ref()
        if ref is None:
            return self.report()
        actions: list[tuple[float, Callable[[], Sent]]] = [
            (30, self.report),
            (15, lambda: self.update(ref)),
            (7, lambda: self.settle(ref)),
            (3, lambda: self.withdraw(ref)),
            (8, lambda: self.open_dispute(ref)),
            (8, lambda: self.resolve(self.pick(self.disputed, ref))),
            (2, lambda: self.suppress(ref)),
            (4, lambda: self.erase(self.pick(self.settled, ref))),
            (1.5, self.suspend),
            (4, self.reinstate),
            (3, self.add_key),
            (3, self.revoke_key),
            (3, self.replay),
            (2, self.reuse_id),
        ]
        (action,) = rng.choices([a for _, a in actions], weights=[w for w, _ in actions])
        return action()

    # --- running -------------------------------------------------------------------------

    def go(self, steps: int) -> None:
        done = 0
        while done < steps:
            if self.rng.random() < 0.5:
                self.day += timedelta(days=self.rng.randint(1, 14))
                self.c.clock.set(self.day)
            burst = self.rng.randint(2, 6) if self.rng.random() < 0.1 else 1
            # All of a burst is chosen first, so that the choices never depend on how the
            # writer happened to batch it.
            batch = [self.one() for _ in range(min(burst, steps - done))]
            pending = [(sent, self.c.ledger.submit(sent[1], sent[2])) for sent in batch]
            for sent, fut in pending:
                self.settle_outcome(sent, fut)
            done += len(pending)

    def settle_outcome(self, sent: Sent, fut: Future[Appended]) -> None:
        kind = sent[0]
        try:
            fut.result(timeout=60)
        except StorageError:
            raise
        except ArrearsError:
            self.outcomes[kind, "refused"] += 1
            return
        self.outcomes[kind, "accepted"] += 1
        self.sent.append(sent)
        sub = decode_submission(sent[1].payload)
        if kind == "report":
            ref = RecordRef(sub.member_id, sub.record_reported.record_id)
            if ref not in self.refs:
                self.refs.append(ref)
        elif kind == "dispute":
            self.disputed.append(RecordRef(**_fields(sub.dispute_opened.record)))
        elif kind == "settle":
            self.settled.append(RecordRef(**_fields(sub.record_settled.record)))


def _fields(ref: pb.RecordRef) -> dict[str, str]:
    return {"member_id": ref.member_id, "record_id": ref.record_id}


def test_random_run_projection_equals_rebuild(c: Consortium, db_url: str) -> None:
    run = Run(c, random.Random(SEED), datetime.fromtimestamp(c.clock() / 1e6, UTC).date())
    run.go(STEPS)
    st = sql(c)

    accepted = sum(n for (_, what), n in run.outcomes.items() if what == "accepted")
    refused = sum(n for (_, what), n in run.outcomes.items() if what == "refused")
    assert accepted + refused == STEPS
    assert accepted >= STEPS // 3, run.outcomes
    assert refused >= STEPS // 6, run.outcomes
    for kind in (
        "report",
        "update",
        "settle",
        "withdraw",
        "dispute",
        "resolve",
        "suppress",
        "erase",
        "suspend",
        "reinstate",
        "add_key",
        "revoke_key",
        "replay",
    ):
        assert run.outcomes[kind, "accepted"] > 0, (kind, run.outcomes)
    for kind in ("report", "update", "settle", "dispute", "resolve", "erase", "reuse_id"):
        assert run.outcomes[kind, "refused"] > 0, (kind, run.outcomes)

    live = st.load_projection()
    statuses = Counter(r.status for r in live.records.values())
    assert set(statuses) == set(Status), statuses
    assert any(r.erased and r.settled_on is not None for r in live.records.values())
    assert any(r.suppressed for r in live.records.values())
    outcomes = {d.outcome for r in live.records.values() for d in r.disputes}
    assert len(outcomes) >= 3, outcomes  # open, and resolved more than one way
    assert any(k.revoked_at is not None for k in live.keys.values())

    differences = check_projection(st)
    assert not differences, differences.items[:20]
    assert rebuild(st) == live
    assert len(live.submissions) == st.head().size
    assert verify_log(st, [c.log_signer.verifier]).size == st.head().size
    replayed = fold(iter_leaves(st, st.head().size), origin=ORIGIN)
    assert replayed.records == live.records
    # Every live opening opens its record's commitment; erased records have none.
    linked = {r.subject_commitment for r in live.records.values() if not r.erased}
    assert set(live.openings) <= linked
    for commitment, (p, salt) in live.openings.items():
        assert Opening(p, salt).commitment() == commitment

    # A writer started on the same database sees the same registry.
    c.ledger.close()
    reopened = SqlStorage.open(db_url)
    try:
        again = Ledger(reopened, c.log_signer, clock=c.clock)
        assert again.registry == MemoryState(members=live.members, keys=live.keys)
        again.close()
    finally:
        reopened.close()


# --- tampering is reported ---------------------------------------------------------------------


@dataclass
class Tampered:
    loan: RecordRef
    other: RecordRef
    opening: Opening
    other_opening: Opening
    erased_opening: Opening
    revoked: bytes
    submission: tuple[str, str]


def setup(c: Consortium) -> Tampered:
    def report(mid: str, record_id: str, subject: int) -> Opening:
        opening = Opening(pseudonym(subject), bytes([subject]) * 32)
        event = ev.record_reported(
            record_id,
            opening.commitment(),
            principal_minor=100_000,
            outstanding_minor=80_000,
            days_past_due=70,
            first_missed_payment=date(2026, 8, 1),
            borrower_notified_on=date(2026, 10, 1),
        )
        c.ledger.append(c.m(mid).sign(event), opening)
        return opening

    loan, other = RecordRef("bank-a", "loan-1"), RecordRef("bank-b", "loan-2")
    opening = report("bank-a", "loan-1", 1)
    other_opening = report("bank-b", "loan-2", 2)
    erased_opening = report("bank-c", "loan-3", 3)
    c.submit(
        "operator",
        ev.record_erased(RecordRef("bank-c", "loan-3"), pb.ERASURE_REASON_LAWFUL_REQUEST),
    )
    c.submit("operator", ev.dispute_opened(loan, "d-1", date(2026, 11, 1), "not mine"))
    spare = MemberSigner.generate()
    c.submit("operator", ev.key_added("bank-c", spare.public_key))
    c.submit("operator", ev.key_revoked("bank-c", spare.key_id, "unused"))
    c.submit("bank-a", ev.record_updated(loan, days_past_due=80), submission_id="s-42")
    assert not check_projection(sql(c))
    return Tampered(
        loan, other, opening, other_opening, erased_opening, spare.key_id, ("bank-a", "s-42")
    )


def _record_state(t: Tampered, conn: sa.Connection) -> str:
    rt = schema.records
    where = (rt.c.member_id == t.loan.member_id, rt.c.record_id == t.loan.record_id)
    state = _loan_state(t, conn)._replace(outstanding_minor=1)
    conn.execute(rt.update().where(*where).values(state=record_to_json(state)))
    return f"records: {t.loan!r} differs"


def _loan_state(t: Tampered, conn: sa.Connection) -> RecordState:
    rt = schema.records
    where = (rt.c.member_id == t.loan.member_id, rt.c.record_id == t.loan.record_id)
    row = conn.execute(
        sa.select(rt.c.state, rt.c.subject_commitment, rt.c.status).where(*where)
    ).one()
    return record_from_json(row.state, t.loan, bytes(row.subject_commitment), row.status)


def _record_dispute_dropped(t: Tampered, conn: sa.Connection) -> str:
    rt = schema.records
    where = (rt.c.member_id == t.loan.member_id, rt.c.record_id == t.loan.record_id)
    state = _loan_state(t, conn)._replace(disputes=())
    conn.execute(rt.update().where(*where).values(state=record_to_json(state)))
    return f"records: {t.loan!r} differs"


def _record_deleted(t: Tampered, conn: sa.Connection) -> str:
    rt = schema.records
    conn.execute(
        rt.delete().where(rt.c.member_id == t.other.member_id, rt.c.record_id == t.other.record_id)
    )
    return f"records: {t.other!r} missing"


def _record_invented(t: Tampered, conn: sa.Connection) -> str:
    rt = schema.records
    state = _loan_state(t, conn)._replace(ref=RecordRef("bank-a", "invented"))
    conn.execute(
        rt.insert().values(
            member_id="bank-a",
            record_id="invented",
            subject_commitment=bytes(32),
            status="active",
            state=record_to_json(state),
        )
    )
    return "records: RecordRef(member_id='bank-a', record_id='invented') extra"


def _submission_deleted(t: Tampered, conn: sa.Connection) -> str:
    st = schema.submissions
    member_id, submission_id = t.submission
    conn.execute(
        st.delete().where(st.c.member_id == member_id, st.c.submission_id == submission_id)
    )
    return f"submissions: {t.submission!r} missing"


def _submission_moved(t: Tampered, conn: sa.Connection) -> str:
    st = schema.submissions
    member_id, submission_id = t.submission
    conn.execute(
        st.update()
        .where(st.c.member_id == member_id, st.c.submission_id == submission_id)
        .values(idx=1)
    )
    return f"submissions: {t.submission!r} differs"


def _member_roles(t: Tampered, conn: sa.Connection) -> str:
    mt = schema.members
    state = json.loads(
        conn.execute(sa.select(mt.c.state).where(mt.c.member_id == "bank-b")).scalar_one()
    )
    state["roles"] = [*state["roles"], pb.ROLE_OPERATOR]
    conn.execute(mt.update().where(mt.c.member_id == "bank-b").values(state=json.dumps(state)))
    return "members: 'bank-b' differs"


def _key_unrevoked(t: Tampered, conn: sa.Connection) -> str:
    kt = schema.member_keys
    conn.execute(kt.update().where(kt.c.key_id == t.revoked).values(revoked_at=None))
    return f"keys: {t.revoked!r} differs"


def _set_opening(conn: sa.Connection, commitment: bytes, **values: bytes) -> str:
    rt = schema.records
    conn.execute(rt.update().where(rt.c.subject_commitment == commitment).values(**values))
    return f"openings: {commitment!r} extra"


def _opening_restored(t: Tampered, conn: sa.Connection) -> str:
    # An erased record gets its opening back: its leaves would answer lookups of the subject.
    o = t.erased_opening
    return _set_opening(conn, o.commitment(), pseudonym=o.pseudonym, salt=o.salt)


def _opening_swapped(t: Tampered, conn: sa.Connection) -> str:
    # The record's opening now names another subject: it no longer opens the commitment.
    return _set_opening(conn, t.opening.commitment(), pseudonym=t.other_opening.pseudonym)


TAMPERS: list[Callable[[Tampered, sa.Connection], str]] = [
    _record_state,
    _record_dispute_dropped,
    _record_deleted,
    _record_invented,
    _submission_deleted,
    _submission_moved,
    _member_roles,
    _key_unrevoked,
    _opening_restored,
    _opening_swapped,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__.lstrip("_"))
def test_tampering_with_the_live_projection_is_reported(
    c: Consortium, tamper: Callable[[Tampered, sa.Connection], str]
) -> None:
    t = setup(c)
    st = sql(c)
    with st.engine.begin() as conn:
        expected = tamper(t, conn)
    differences = check_projection(st)
    assert any(expected in item for item in differences.items), differences.items


def lookup(st: SqlStorage, opening: Opening) -> list[RecordRef]:
    return sorted((r.ref for r, _ in st.records_for_pseudonym(opening.pseudonym)), key=str)


def test_lookups_follow_the_projection(c: Consortium) -> None:
    t = setup(c)
    st = sql(c)
    found = st.records_for_pseudonym(t.opening.pseudonym)
    assert [(r.ref, salt) for r, salt in found] == [(t.loan, t.opening.salt)]
    assert found[0][0] == st.load_projection().records[t.loan]


def _set_loan_columns(st: SqlStorage, t: Tampered, **values: bytes) -> None:
    rt = schema.records
    with st.engine.begin() as conn:
        conn.execute(
            rt.update()
            .where(rt.c.member_id == t.loan.member_id, rt.c.record_id == t.loan.record_id)
            .values(**values)
        )


def test_tampering_with_the_pseudonym_column_is_reported(c: Consortium) -> None:
    # records.pseudonym is the column lookups select on; load_projection reads it as the
    # record's opening, beside the state JSON.
    t = setup(c)
    st = sql(c)
    _set_loan_columns(st, t, pseudonym=t.other_opening.pseudonym)
    # bank-a's default now answers lookups of the other subject, and not of its own.
    assert lookup(st, t.opening) == []
    assert lookup(st, t.other_opening) == [t.loan, t.other]
    differences = check_projection(st)
    assert any(repr(t.opening.commitment()) in item for item in differences.items), differences


def test_tampering_with_the_commitment_column_is_reported(c: Consortium) -> None:
    # records.subject_commitment is the column the reuse check reads (and erasure writes by);
    # load_projection shows what it holds, not the state JSON beside it.
    t = setup(c)
    st = sql(c)
    _set_loan_columns(st, t, subject_commitment=t.other_opening.commitment())
    differences = check_projection(st)
    assert any(repr(t.loan) in item for item in differences.items), differences.items


def test_a_deleted_opening_of_a_live_record_is_reported(c: Consortium) -> None:
    # Without its opening, a live (not erased) default drops out of every lookup of its subject.
    t = setup(c)
    st = sql(c)
    rt = schema.records
    with st.engine.begin() as conn:
        conn.execute(
            rt.update()
            .where(rt.c.subject_commitment == t.opening.commitment())
            .values(pseudonym=None, salt=None)
        )
    assert lookup(st, t.opening) == []
    assert not st.load_projection().records[t.loan].erased
    differences = check_projection(st)
    assert any(
        repr(t.loan) in item or repr(t.opening.commitment()) in item for item in differences.items
    ), differences.items
