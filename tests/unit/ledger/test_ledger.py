"""The Ledger on MemoryStorage: refusals change nothing, retries are idempotent, batches are
sequenced in order, and only canonical, signed, opened submissions get in."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest

from arrears.ledger import events as ev
from arrears.ledger.envelope import Envelope, MemberSigner
from arrears.ledger.errors import (
    ArrearsError,
    ConflictError,
    InputError,
    InternalError,
    SignatureError,
)
from arrears.ledger.leaf import Leaf
from arrears.ledger.ledger import Opening
from arrears.ledger.log import Appended
from arrears.ledger.merkle import verify_inclusion
from arrears.ledger.projection import check_projection
from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment
from arrears.ledger.records import AlreadyExists, NotPermitted, RecordRef, RuleViolation
from arrears.ledger.storage import MemoryStorage
from arrears.v1 import events_pb2 as pb
from tests.consortium import ORIGIN, Consortium, build, pseudonym

LOAN = RecordRef("bank-a", "loan-1")


@pytest.fixture
def c() -> Consortium:
    c = build(MemoryStorage())
    c.report("bank-a", "loan-1", 1)
    return c


def storage(c: Consortium) -> MemoryStorage:
    st = c.ledger.storage
    assert isinstance(st, MemoryStorage)
    return st


def snapshot(c: Consortium) -> tuple[Any, ...]:
    st = storage(c)
    return (
        list(st.leaves),
        dict(st.tiles),
        dict(st.checkpoints),
        st.head(),
        c.ledger.log.head(),
        copy.deepcopy(st.load_projection()),
        copy.deepcopy(c.ledger.registry),
    )


def report(
    c: Consortium,
    member_id: str,
    record_id: str,
    subject: int,
    *,
    salt: bytes | None = None,
    submission_id: str | None = None,
    outstanding: int = 500_000,
) -> tuple[Envelope, Opening]:
    salt = salt or new_salt()
    p = pseudonym(subject)
    event = ev.record_reported(
        record_id,
        subject_commitment(salt, Pseudonym.from_bytes(p)),
        principal_minor=1_000_000,
        outstanding_minor=outstanding,
        days_past_due=45,
        first_missed_payment=date(2026, 9, 1),
        borrower_notified_on=date(2026, 10, 1),
    )
    return c.m(member_id).sign(event, submission_id=submission_id), Opening(p, salt)


def signed(c: Consortium, member_id: str, payload: bytes) -> Envelope:
    return c.m(member_id).signer.sign(ORIGIN, payload)


def payload_of(c: Consortium, member_id: str, event: Any, submission_id: str = "s-1") -> bytes:
    sub = c.m(member_id).submission(event, submission_id=submission_id)
    return sub.SerializeToString(deterministic=True)


# --- every refusal changes nothing -------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    envelope: Envelope
    opening: Opening | None
    error: type[ArrearsError]
    rule: str | None
    field: str


def _bad_signature(c: Consortium) -> Refusal:
    env, opening = report(c, "bank-a", "loan-2", 2)
    sig = bytes([env.signature[0] ^ 1]) + env.signature[1:]
    return Refusal(replace(env, signature=sig), opening, SignatureError, None, "envelope.signature")


def _other_origin(c: Consortium) -> Refusal:
    env = c.m("bank-a").signer.sign("another/ledger", payload_of(c, "bank-a", _update()))
    return Refusal(env, None, SignatureError, None, "envelope.signature")


def _tampered_payload(c: Consortium) -> Refusal:
    good = c.m("bank-a").sign(_update())
    other = payload_of(c, "bank-a", ev.record_updated(LOAN, days_past_due=99))
    return Refusal(replace(good, payload=other), None, SignatureError, None, "envelope.signature")


def _unknown_key(c: Consortium) -> Refusal:
    env = MemberSigner.generate().sign(ORIGIN, payload_of(c, "bank-a", _update()))
    return Refusal(env, None, NotPermitted, "unknown_key", "envelope.key_id")


def _short_key_id(c: Consortium) -> Refusal:
    env = c.m("bank-a").sign(_update())
    return Refusal(replace(env, key_id=env.key_id[:31]), None, InputError, None, "envelope.key_id")


def _empty_payload(c: Consortium) -> Refusal:
    return Refusal(signed(c, "bank-a", b""), None, InputError, None, "envelope.payload")


def _garbage_payload(c: Consortium) -> Refusal:
    return Refusal(signed(c, "bank-a", b"\xff\xff\xff"), None, InputError, None, "envelope.payload")


def _no_event(c: Consortium) -> Refusal:
    sub = pb.Submission(member_id="bank-a", submission_id="s-1", signed_at_unix_ms=1)
    payload = sub.SerializeToString(deterministic=True)
    return Refusal(signed(c, "bank-a", payload), None, InputError, None, "submission.event")


def _no_opening(c: Consortium) -> Refusal:
    env, _ = report(c, "bank-a", "loan-2", 2)
    return Refusal(env, None, InputError, None, "opening")


def _wrong_opening(c: Consortium) -> Refusal:
    env, _ = report(c, "bank-a", "loan-2", 2)
    return Refusal(env, Opening(pseudonym(3), new_salt()), InputError, None, "opening")


def _wrong_salt(c: Consortium) -> Refusal:
    env, opening = report(c, "bank-a", "loan-2", 2)
    return Refusal(env, replace(opening, salt=new_salt()), InputError, None, "opening")


def _malformed_opening(c: Consortium) -> Refusal:
    env, opening = report(c, "bank-a", "loan-2", 2)
    return Refusal(env, replace(opening, pseudonym=b"short"), InputError, None, "opening")


def _opening_on_update(c: Consortium) -> Refusal:
    _, opening = report(c, "bank-a", "loan-2", 2)
    return Refusal(c.m("bank-a").sign(_update()), opening, InputError, None, "opening")


def _not_reporter(c: Consortium) -> Refusal:
    env = c.m("bank-b").sign(_update())
    return Refusal(env, None, NotPermitted, "not_reporter", "record_updated.record")


def _record_exists(c: Consortium) -> Refusal:
    env, opening = report(c, "bank-a", "loan-1", 2)
    return Refusal(env, opening, AlreadyExists, "record_exists", "record_reported.record_id")


def _no_notice(c: Consortium) -> Refusal:
    salt, p = new_salt(), pseudonym(2)
    event = ev.record_reported(
        "loan-2",
        subject_commitment(salt, Pseudonym.from_bytes(p)),
        principal_minor=10,
        outstanding_minor=10,
        days_past_due=45,
        first_missed_payment=date(2026, 9, 1),
        borrower_notified_on=None,
    )
    return Refusal(
        c.m("bank-a").sign(event),
        Opening(p, salt),
        RuleViolation,
        "notice_before_reporting",
        "record_reported.borrower_notified_on",
    )


def _not_operator(c: Consortium) -> Refusal:
    env = c.m("bank-a").sign(ev.member_suspended("bank-b", "rivalry"))
    return Refusal(env, None, NotPermitted, "role", "submission.member_id")


def _submission_reused(c: Consortium) -> Refusal:
    c.submit("bank-a", _update(60), submission_id="used")
    env = c.m("bank-a").sign(_update(70), submission_id="used")
    return Refusal(env, None, AlreadyExists, "submission_reused", "submission.submission_id")


def _update(days: int = 60) -> pb.RecordUpdated:
    return ev.record_updated(LOAN, days_past_due=days)


REFUSALS: list[Callable[[Consortium], Refusal]] = [
    _bad_signature,
    _other_origin,
    _tampered_payload,
    _unknown_key,
    _short_key_id,
    _empty_payload,
    _garbage_payload,
    _no_event,
    _no_opening,
    _wrong_opening,
    _wrong_salt,
    _malformed_opening,
    _opening_on_update,
    _not_reporter,
    _record_exists,
    _no_notice,
    _not_operator,
    _submission_reused,
]


@pytest.mark.parametrize("make", REFUSALS, ids=lambda f: f.__name__.lstrip("_"))
def test_a_refused_submission_changes_nothing(
    c: Consortium, make: Callable[[Consortium], Refusal]
) -> None:
    r = make(c)
    before = snapshot(c)
    with pytest.raises(ArrearsError) as info:
        c.ledger.append(r.envelope, r.opening)
    e = info.value
    assert type(e) is r.error, f"{type(e).__name__}: {e}"
    if r.rule is not None:
        assert getattr(e, "rule", None) == r.rule
    assert r.field in str(e)
    assert snapshot(c) == before
    assert not check_projection(storage(c))
    # The ledger goes on after a refusal.
    assert c.submit("bank-a", _update(75)).index == before[3].size


# --- idempotent retries ------------------------------------------------------------------------


def test_a_retry_returns_the_original_entry(c: Consortium) -> None:
    env = c.m("bank-a").sign(_update())
    first = c.ledger.append(env)
    c.report("bank-b", "other", 2)
    before = snapshot(c)
    again = c.ledger.append(env)
    assert (again.index, again.leaf, again.leaf_hash) == (first.index, first.leaf, first.leaf_hash)
    assert again.tree_size == first.tree_size + 1  # answered with the current head
    assert again.root == storage(c).head().root
    assert snapshot(c) == before
    proof = c.ledger.log.inclusion_proof(again.index, again.tree_size)
    verify_inclusion(again.index, again.tree_size, again.leaf_hash, proof, again.root)


def test_a_retried_report_returns_the_original_entry(c: Consortium) -> None:
    env, opening = report(c, "bank-b", "b-1", 5)
    first = c.ledger.append(env, opening)
    before = snapshot(c)
    again = c.ledger.append(env, opening)
    assert (again.index, again.leaf) == (first.index, first.leaf)
    assert snapshot(c) == before


def test_the_same_submission_id_with_another_payload(c: Consortium) -> None:
    first = c.submit("bank-a", _update(60), submission_id="s-7")
    before = snapshot(c)
    with pytest.raises(AlreadyExists) as info:
        c.submit("bank-a", _update(61), submission_id="s-7")
    assert info.value.rule == "submission_reused"
    assert "submission.submission_id" in str(info.value)
    assert f"index {first.index}" in str(info.value)
    assert snapshot(c) == before


def test_submission_ids_are_per_member(c: Consortium) -> None:
    a = c.submit("bank-a", _update(60), submission_id="shared")
    b_env, b_opening = report(c, "bank-b", "b-1", 5, submission_id="shared")
    b = c.ledger.append(b_env, b_opening)
    assert b.index == a.index + 1


def test_a_refused_submission_id_can_be_retried(c: Consortium) -> None:
    ref = RecordRef("bank-a", "later")
    env = c.m("bank-a").sign(ev.record_updated(ref, days_past_due=70))
    with pytest.raises(RuleViolation, match=r"record_updated\.record"):
        c.ledger.append(env)
    c.report("bank-a", "later", 4)
    accepted = c.ledger.append(env)
    assert Leaf.decode(accepted.leaf).payload == env.payload


def test_a_retry_is_answered_only_to_the_key_of_its_member(c: Consortium) -> None:
    # bank-b signs a submission in bank-a's name, with a submission id bank-a has used.
    c.submit("bank-a", _update(60), submission_id="a-17")
    sub = c.m("bank-a").submission(_update(80), submission_id="a-17")
    env = signed(c, "bank-b", sub.SerializeToString(deterministic=True))
    before = snapshot(c)
    with pytest.raises(ArrearsError) as info:
        c.ledger.append(env)
    assert type(info.value) is NotPermitted, f"{type(info.value).__name__}: {info.value}"
    assert info.value.rule == "key_owner"
    assert snapshot(c) == before


# --- batches -----------------------------------------------------------------------------------


def test_a_conflicting_batch_keeps_the_first_and_stays_gapless(c: Consortium) -> None:
    size = storage(c).head().size
    a_env, a_open = report(c, "bank-b", "dup", 10)
    b_env, b_open = report(c, "bank-b", "dup", 11)
    c_env, c_open = report(c, "bank-b", "next", 12)
    items = [
        c.ledger.prepare(a_env, a_open),
        c.ledger.prepare(b_env, b_open),
        c.ledger.prepare(c_env, c_open),
    ]
    with pytest.raises(AlreadyExists) as info:
        c.ledger.log.append_batch(items)
    assert info.value.rule == "record_exists"
    st = storage(c)
    assert st.head().size == size + 2
    leaves = [Leaf.decode(x) for x in st.leaves[size:]]
    assert [x.index for x in leaves] == [size, size + 1]
    assert [x.payload for x in leaves] == [a_env.payload, c_env.payload]
    assert size + 1 not in st.checkpoints  # one checkpoint for the batch
    rec = st.state.records[RecordRef("bank-b", "dup")]
    assert rec.subject_commitment == a_open.commitment()
    assert b_open.commitment() not in st.state.openings
    assert st.state.openings[a_open.commitment()] == (a_open.pseudonym, a_open.salt)
    assert not check_projection(st)


def test_a_batch_sees_its_own_earlier_entries(c: Consortium) -> None:
    size = storage(c).head().size
    new_key = MemberSigner.generate()
    old = c.m("bank-a")
    items = [
        (c.m("operator").sign(ev.key_revoked("bank-a", old.signer.key_id, "rotated")), None),
        (old.sign(_update(61)), None),  # signed with the key revoked just before: refused
        (c.m("operator").sign(ev.member_suspended("bank-b", "audit")), None),
        report(c, "bank-b", "b-9", 9),  # bank-b is suspended by now: refused
        (c.m("operator").sign(ev.key_added("bank-c", new_key.public_key)), None),
        report(c, "bank-c", "c-1", 10),
        (
            c.m("bank-c").sign(ev.record_settled(RecordRef("bank-c", "c-1"), date(2026, 11, 1))),
            None,
        ),
    ]
    prepared = [c.ledger.prepare(env, opening) for env, opening in items]
    with pytest.raises(NotPermitted) as info:
        c.ledger.log.append_batch(prepared)
    assert info.value.rule == "revoked_key"
    st = storage(c)
    assert st.head().size == size + 5
    assert [Leaf.decode(x).payload for x in st.leaves[size:]] == [
        items[i][0].payload for i in (0, 2, 4, 5, 6)
    ]
    assert st.state.members["bank-b"].suspended
    assert st.state.records[RecordRef("bank-c", "c-1")].settled_on == date(2026, 11, 1)
    assert RecordRef("bank-b", "b-9") not in st.state.records
    assert c.ledger.registry.keys[new_key.key_id].member_id == "bank-c"
    assert not check_projection(st)


def test_a_fault_in_one_submission_fails_it_alone(
    c: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception while applying one submission (a bug of ours) refuses that
    submission with an InternalError; the rest of its batch is committed as usual."""
    from arrears.ledger import ledger as ledger_module

    real = ledger_module.apply

    def apply(view: Any, sub: pb.Submission, *a: Any, **kw: Any) -> Any:
        if sub.record_reported.record_id == "boom":
            raise RuntimeError("a bug")
        return real(view, sub, *a, **kw)

    monkeypatch.setattr(ledger_module, "apply", apply)
    size = storage(c).head().size
    items = [report(c, "bank-b", rid, 20 + i) for i, rid in enumerate(["b-1", "boom", "b-2"])]
    with pytest.raises(InternalError, match="RuntimeError"):
        c.ledger.log.append_batch([c.ledger.prepare(env, o) for env, o in items])
    st = storage(c)
    assert [Leaf.decode(x).payload for x in st.leaves[size:]] == [
        items[0][0].payload,
        items[2][0].payload,
    ]
    assert not check_projection(st)


def test_the_same_submission_twice_in_one_batch(c: Consortium) -> None:
    size = storage(c).head().size
    env = c.m("bank-a").sign(_update())
    reused = c.m("bank-a").sign(_update(99), submission_id="s-b")
    first = c.m("bank-a").sign(_update(98), submission_id="s-b")
    items = [c.ledger.prepare(e) for e in (env, env, first, reused)]
    with pytest.raises(AlreadyExists) as info:
        c.ledger.log.append_batch(items)
    assert info.value.rule == "submission_reused"
    st = storage(c)
    assert st.head().size == size + 2
    assert [Leaf.decode(x).payload for x in st.leaves[size:]] == [env.payload, first.payload]


def test_a_batch_of_replays_only(c: Consortium) -> None:
    env = c.m("bank-a").sign(_update())
    first = c.ledger.append(env)
    before = snapshot(c)
    out = c.ledger.log.append_batch([c.ledger.prepare(env), c.ledger.prepare(env)])
    assert [a.index for a in out] == [first.index, first.index]
    assert snapshot(c) == before


def test_a_retried_batch_reads_its_first_entries_in_one_query(
    c: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk upload run again: every row is a retry, answered with its first entry. Those
    are read together, not one query (or two) per row in the writer's thread."""
    envs = [report(c, "bank-b", f"again-{i}", 30 + i) for i in range(20)]
    first = c.ledger.log.append_batch([c.ledger.prepare(e, o) for e, o in envs])
    st = storage(c)
    calls: list[str] = []
    for name in ("read_leaves", "read_leaves_at"):
        real = getattr(st, name)

        def counted(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls.append(_name)
            return _real(*a, **kw)

        monkeypatch.setattr(st, name, counted)
    again = c.ledger.log.append_batch([c.ledger.prepare(e, o) for e, o in envs])
    assert [a.index for a in again] == [a.index for a in first]
    assert all(a.replayed for a in again) and [a.leaf for a in again] == [a.leaf for a in first]
    assert calls == ["read_leaves_at"]


# --- canonical payloads ------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    key = _varint(number << 3 | wire_type)
    if wire_type == 2:
        return key + _varint(len(body)) + body
    return key + body


def _canonical(c: Consortium) -> tuple[pb.Submission, bytes]:
    sub = c.m("bank-a").submission(_update(), submission_id="s-canon")
    return sub, sub.SerializeToString(deterministic=True)


def _appended_unknown_field(c: Consortium) -> bytes:
    _, payload = _canonical(c)
    return payload + _field(99, 0, _varint(1))


def _appended_unknown_bytes_field(c: Consortium) -> bytes:
    _, payload = _canonical(c)
    return payload + _field(1000, 2, b"hidden")


def _unknown_field_inside_the_event(c: Consortium) -> bytes:
    sub, _ = _canonical(c)
    head = pb.Submission(
        member_id=sub.member_id,
        submission_id=sub.submission_id,
        signed_at_unix_ms=sub.signed_at_unix_ms,
    ).SerializeToString(deterministic=True)
    event = sub.record_updated.SerializeToString(deterministic=True) + _field(50, 0, b"\x01")
    return head + _field(11, 2, event)


def _unknown_field_first(c: Consortium) -> bytes:
    _, payload = _canonical(c)
    return _field(99, 0, _varint(1)) + payload


def _event_before_header(c: Consortium) -> bytes:
    sub, _ = _canonical(c)
    head = pb.Submission(
        member_id=sub.member_id,
        submission_id=sub.submission_id,
        signed_at_unix_ms=sub.signed_at_unix_ms,
    ).SerializeToString(deterministic=True)
    event = pb.Submission(record_updated=sub.record_updated).SerializeToString(deterministic=True)
    return event + head


def _explicit_default(c: Consortium) -> bytes:
    sub, _ = _canonical(c)
    sub.signed_at_unix_ms = 0
    return _field(3, 0, b"\x00") + sub.SerializeToString(deterministic=True)


def _repeated_scalar(c: Consortium) -> bytes:
    _, payload = _canonical(c)
    return _field(1, 2, b"bank-a") + payload


def _long_varint(c: Consortium) -> bytes:
    sub, _ = _canonical(c)
    ms = sub.signed_at_unix_ms
    sub.signed_at_unix_ms = 0
    rest = sub.SerializeToString(deterministic=True)
    # member_id, submission_id, then signed_at_unix_ms with a redundant continuation byte
    head = pb.Submission(member_id=sub.member_id, submission_id=sub.submission_id)
    head_bytes = head.SerializeToString(deterministic=True)
    padded = bytearray(_varint(ms))
    padded[-1] |= 0x80
    padded.append(0)
    return head_bytes + _field(3, 0, bytes(padded)) + rest[len(head_bytes) :]


@pytest.mark.parametrize(
    "make",
    [
        _appended_unknown_field,
        _appended_unknown_bytes_field,
        _unknown_field_inside_the_event,
        _unknown_field_first,
        _event_before_header,
        _explicit_default,
        _repeated_scalar,
        _long_varint,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_a_payload_that_is_not_canonical_protobuf(
    c: Consortium, make: Callable[[Consortium], bytes]
) -> None:
    payload = make(c)
    parsed = pb.Submission()
    parsed.ParseFromString(payload)
    assert parsed.member_id == "bank-a"
    assert parsed.record_updated.days_past_due == 60  # it means the canonical update...
    _, canonical = _canonical(c)
    assert payload != canonical  # ...in other bytes
    before = snapshot(c)
    with pytest.raises(InputError, match=r"envelope\.payload"):
        c.ledger.append(signed(c, "bank-a", payload))
    assert snapshot(c) == before


def test_the_canonical_payload_is_accepted(c: Consortium) -> None:
    _, payload = _canonical(c)
    appended: Appended = c.ledger.append(signed(c, "bank-a", payload))
    assert Leaf.decode(appended.leaf).payload == payload


# --- subject openings --------------------------------------------------------------------------


def test_a_report_keeps_its_opening_beside_the_leaf(c: Consortium) -> None:
    env, opening = report(c, "bank-b", "b-1", 42)
    appended = c.ledger.append(env, opening)
    st = storage(c)
    assert st.state.openings[opening.commitment()] == (opening.pseudonym, opening.salt)
    assert opening.pseudonym not in appended.leaf
    assert opening.salt not in appended.leaf
    (found,) = st.records_for_pseudonym(opening.pseudonym)
    assert found[0].ref == RecordRef("bank-b", "b-1")
    assert found[1] == opening.salt


def test_erasing_a_record_never_unlinks_another(c: Consortium) -> None:
    # A second report that reuses the first one's salt (and so its commitment) must either be
    # refused, or survive the erasure of the first.
    a_env, opening = report(c, "bank-a", "shared-1", 77)
    c.ledger.append(a_env, opening)
    b_env, b_open = report(c, "bank-b", "shared-2", 77, salt=opening.salt)
    assert b_open == opening
    try:
        c.ledger.append(b_env, b_open)
    except (ConflictError, InputError) as e:
        assert "record_reported.subject_commitment" in str(e)
        return
    c.submit(
        "operator",
        ev.record_erased(RecordRef("bank-a", "shared-1"), pb.ERASURE_REASON_LAWFUL_REQUEST),
    )
    found = [r.ref for r, _ in storage(c).records_for_pseudonym(opening.pseudonym)]
    assert found == [RecordRef("bank-b", "shared-2")]
