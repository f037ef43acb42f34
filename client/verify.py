"""Checking what the server says, on the lender's side. Pure: bytes and protobuf in, domain
objects out, typed errors on any mismatch; no network.

A lookup answer is believed only if every entry of every record is included in the tree of
the (already trusted) checkpoint, every record's history starts with a report whose subject
commitment opens with our own pseudonym and the salt served beside it, and the state and
summary are recomputed here from those entries.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from google.protobuf.message import DecodeError

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.envelope import Envelope
from arrears.ledger.errors import ArrearsError, InputError, ProofError, VerificationError
from arrears.ledger.leaf import Leaf
from arrears.ledger.ledger import record_refs
from arrears.ledger.merkle import InclusionVerifier, leaf_hash, verify_inclusion
from arrears.ledger.pseudonym import SALT_SIZE, Pseudonym, subject_commitment
from arrears.ledger.records import (
    ALERT_EVENTS,
    DEFAULT_RULES,
    RecordRef,
    RecordState,
    Rules,
    Summary,
    decode_submission,
    fold_record,
    serve_until,
    served,
    summarise,
)
from arrears.ledger.tlogproof import TlogProof
from arrears.v1 import service_pb2 as spb


@dataclass(frozen=True)
class Receipt:
    """Proof that the ledger took a submission: keep ``tlog_proof`` to show it later."""

    index: int
    leaf_hash: bytes
    tree_size: int
    checkpoint: Checkpoint
    tlog_proof: str
    replayed: bool
    leaf: bytes = b""  # the exact leaf bytes, to verify ``tlog_proof`` offline


@dataclass(frozen=True)
class CheckResult:
    """A verified lookup of one subject."""

    pseudonym: bytes
    as_of: date
    records: tuple[RecordState, ...]
    summary: Summary
    checkpoint: Checkpoint
    inquiry_id: int


def verify_entry(
    index: int,
    leaf: bytes,
    proof: Sequence[bytes],
    cp: Checkpoint,
    *,
    shared: InclusionVerifier | None = None,
) -> Leaf:
    """The decoded leaf, once it is proven to sit at ``index`` in the checkpoint's tree.
    ``shared`` verifies the proof with work shared across the entries of that tree (a run of
    receipts); it must be for the checkpoint's tree."""
    try:
        if shared is None:
            verify_inclusion(index, cp.size, leaf_hash(leaf), proof, cp.root)
        elif (shared.size, shared.root) != (cp.size, cp.root):
            raise ValueError("shared: an inclusion verifier for another tree")
        else:
            shared.verify(index, leaf_hash(leaf), proof)
    except InputError as e:  # a malformed proof (hash size, index beyond the tree) proves nothing
        raise ProofError(f"entry {index}: {e}") from e
    try:
        decoded = Leaf.decode(leaf)
    except InputError as e:  # in the tree, but not a leaf of this log's format
        raise ProofError(f"entry {index}: {e}") from e
    if decoded.index != index:
        raise ProofError(f"entry {index}: the leaf says it is entry {decoded.index}")
    return decoded


def verify_receipt(
    r: spb.Receipt,
    cp: Checkpoint,
    envelope: Envelope | None = None,
    *,
    shared: InclusionVerifier | None = None,
) -> Receipt:
    """Check a receipt against its (trusted) checkpoint and, if given, the envelope we
    submitted: the entry must hold its payload, key id and signature. A replay's receipt is
    the first submission's entry, which holds the same payload but may be signed with another
    of the member's keys; signed with this envelope's key, it holds this very signature
    (Ed25519 signatures are deterministic).
    ``shared``: an ``InclusionVerifier`` for the checkpoint's tree, used for every receipt
    of a run (a stream's message)."""
    if r.tree_size != cp.size:
        raise ProofError(f"receipt: tree_size {r.tree_size}, checkpoint size {cp.size}")
    if r.leaf_hash != leaf_hash(r.leaf):
        raise ProofError("receipt: leaf_hash is not the hash of the leaf")
    leaf = verify_entry(r.index, r.leaf, r.inclusion_proof, cp, shared=shared)
    if envelope is not None:
        if leaf.payload != envelope.payload:
            raise VerificationError(
                "receipt: the entry holds another payload than the one we signed"
            )
        if (leaf.key_id, leaf.signature) != (envelope.key_id, envelope.signature) and (
            not r.replayed or leaf.key_id == envelope.key_id
        ):
            raise VerificationError(
                "receipt: the entry does not hold our envelope's key id and signature"
            )
    # The text to keep is made here from what was just verified; one the server sent must be
    # exactly that text, or a member could keep a proof that proves nothing.
    text = TlogProof(r.index, tuple(r.inclusion_proof), r.checkpoint).text()
    if r.tlog_proof and r.tlog_proof != text:
        raise ProofError("receipt: tlog_proof is not the text of its index, proof and checkpoint")
    return Receipt(r.index, r.leaf_hash, r.tree_size, cp, text, r.replayed, r.leaf)


def verify_record(
    ev: spb.RecordEvidence, pseudonym: bytes, cp: Checkpoint, rules: Rules
) -> RecordState:
    """One record of a lookup: its entries proven, its subject opened, its state folded."""
    ref = RecordRef(ev.record.member_id, ev.record.record_id)
    if not ev.entries:
        raise VerificationError(f"record {ref}: no entries")
    history = []
    last = -1
    for e in ev.entries:
        if e.index <= last:
            raise VerificationError(f"record {ref}: entries out of order at {e.index}")
        last = e.index
        leaf = verify_entry(e.index, e.leaf, e.inclusion_proof, cp)
        try:
            sub = decode_submission(leaf.payload)
        except InputError as e2:
            raise VerificationError(f"record {ref}: entry {e.index}: {e2}") from e2
        history.append((e.index, leaf.integrated_at_us, sub))
    first = history[0][2]
    if first.WhichOneof("event") != "record_reported":
        raise VerificationError(f"record {ref}: history does not start with its report")
    if len(ev.salt) != SALT_SIZE:
        raise VerificationError(f"record {ref}: salt is {len(ev.salt)} bytes, not {SALT_SIZE}")
    expected = subject_commitment(ev.salt, Pseudonym.from_bytes(pseudonym))
    if first.record_reported.subject_commitment != expected:
        raise VerificationError(f"record {ref}: the report is about another subject")
    try:
        state = fold_record(history, rules)
    except ArrearsError as e:  # an entry about another record, or about no record
        raise VerificationError(
            f"record {ref}: the entries are not one record's history: {e}"
        ) from e
    except (ValueError, OverflowError) as e:  # days no calendar holds (year 10000 and on)
        raise VerificationError(f"record {ref}: {e}") from e
    try:
        serve_until(state, rules)  # judged below by it: a day past the calendar's end
    except (ValueError, OverflowError) as e:
        raise VerificationError(f"record {ref}: its retention ends beyond the calendar: {e}") from e
    if state.ref != ref:
        raise VerificationError(f"record {ref}: the entries are about {state.ref}")
    return state


@functools.lru_cache(maxsize=64)
def _day(year: int, month: int, day: int) -> date:
    """An answer's ``as_of``; cached, as a batch's answers all carry the same day."""
    return date(year, month, day)


@functools.lru_cache(maxsize=64)
def _nothing_served(day: date) -> Summary:
    """The summary of a subject without a served record on ``day`` (most subjects of a
    pre-screen): one frozen value shared by all their results."""
    return summarise((), day)


def verify_check(
    answer: spb.CheckResponse,
    pseudonym: bytes,
    cp: Checkpoint,
    *,
    rules: Rules = DEFAULT_RULES,
    as_of: date | None = None,
    today: date | None = None,
) -> CheckResult:
    """A lookup answer, re-derived from its evidence. ``as_of`` defaults to the server's day,
    which must then be ``today`` (the caller's day), give or take one for clocks either side
    of midnight: another day would serve records as of a date the lender did not ask for."""
    if answer.pseudonym != pseudonym:
        raise VerificationError("check: the answer is about another pseudonym")
    if answer.tree_size != cp.size:
        raise ProofError(f"check: tree_size {answer.tree_size}, checkpoint size {cp.size}")
    if as_of:
        day = as_of
    else:
        d = answer.as_of
        try:
            day = _day(d.year, d.month, d.day)
        except ValueError:
            raise VerificationError("check: as_of is not a date") from None
        if today is not None and abs(day.toordinal() - today.toordinal()) > 1:
            raise VerificationError(
                f"check: answered as of {day.isoformat()}, but today is {today.isoformat()}"
            )
    evidence = answer.records
    if not evidence:
        return CheckResult(pseudonym, day, (), _nothing_served(day), cp, answer.inquiry_id)
    records = []
    seen: set[RecordRef] = set()
    for ev in evidence:
        rec = verify_record(ev, pseudonym, cp, rules)
        if rec.ref in seen:
            raise VerificationError(f"check: record {rec.ref} twice")
        seen.add(rec.ref)
        if served(rec, day, rules):
            records.append(rec)
    summary = summarise(records, day, rules) if records else _nothing_served(day)
    return CheckResult(pseudonym, day, tuple(records), summary, cp, answer.inquiry_id)


@dataclass(frozen=True)
class InquiryView:
    index: int
    member_id: str
    at_unix_ms: int
    purpose: int
    consent_reference: str


@dataclass(frozen=True)
class SubjectReport:
    """A borrower's own report: every record with its state and the day it stops being served,
    and every lookup of the borrower."""

    pseudonym: bytes
    as_of: date
    records: tuple[tuple[RecordState, date | None], ...]
    inquiries: tuple[InquiryView, ...]
    checkpoint: Checkpoint
    inquiry_checkpoint: Checkpoint


def verify_subject_report(
    answer: spb.SubjectReportResponse,
    pseudonym: bytes,
    cp: Checkpoint,
    inquiry_cp: Checkpoint,
    *,
    rules: Rules = DEFAULT_RULES,
) -> SubjectReport:
    """Every record and inquiry of a subject report, proven and opened with the pseudonym."""
    from arrears.v1 import events_pb2 as pb

    if answer.pseudonym != pseudonym:
        raise VerificationError("subject report: about another pseudonym")
    if (answer.tree_size, answer.inquiry_tree_size) != (cp.size, inquiry_cp.size):
        raise ProofError("subject report: tree sizes differ from their checkpoints'")
    d = answer.as_of
    try:
        day = _day(d.year, d.month, d.day)
    except ValueError:
        raise VerificationError("subject report: as_of is not a date") from None
    records = []
    seen: set[RecordRef] = set()
    for ev in answer.records:
        rec = verify_record(ev, pseudonym, cp, rules)
        if rec.ref in seen:
            raise VerificationError(f"subject report: record {rec.ref} twice")
        seen.add(rec.ref)
        records.append((rec, serve_until(rec, rules)))
    inquiries = []
    subject = Pseudonym.from_bytes(pseudonym)
    indexes: set[int] = set()
    for q in answer.inquiries:
        if q.index in indexes:
            raise VerificationError(f"inquiry {q.index}: twice")
        indexes.add(q.index)
        leaf = verify_entry(q.index, q.leaf, q.inclusion_proof, inquiry_cp)
        inquiry = pb.Inquiry()
        try:
            inquiry.ParseFromString(leaf.payload)
            opened = subject_commitment(q.salt, subject)
        except (DecodeError, InputError) as e:
            raise VerificationError(f"inquiry {q.index}: {e}") from None
        if inquiry.subject_commitment != opened:
            raise VerificationError(f"inquiry {q.index}: about another subject")
        inquiries.append(
            InquiryView(
                q.index,
                inquiry.member_id,
                inquiry.at_unix_ms,
                inquiry.purpose,
                inquiry.consent_reference,
            )
        )
    return SubjectReport(pseudonym, day, tuple(records), tuple(inquiries), cp, inquiry_cp)


def verify_alert(
    a: spb.Alert,
    cp: Checkpoint,
    *,
    after: int,
    member_id: str = "",
    borrowers: Mapping[bytes, str] | None = None,
) -> RecordRef:
    """A watch alert, bound to the entry it proves: the entry is included in the (trusted)
    checkpoint's tree at ``cursor``, which is beyond ``after`` (the resume cursor or the last
    alert's); the signed submission it holds is the alert's event about the alert's record;
    the record is another member's than ``member_id`` (a lender is not alerted about its own
    records). The record's report, proven in the same tree, must open its subject commitment
    with the alert's pseudonym and salt: the record is about the alerted subject. With
    ``borrowers`` (pseudonym: relationship reference, as registered), the alert's pseudonym and
    reference must be one of them. Returns the record."""
    if a.cursor <= after:
        raise VerificationError(f"alert: cursor {a.cursor} is not beyond {after} (replayed?)")
    if a.entry.index != a.cursor:
        raise VerificationError(f"alert: cursor {a.cursor}, but the entry is {a.entry.index}")
    if a.tree_size != cp.size:
        raise ProofError(f"alert: tree_size {a.tree_size}, checkpoint size {cp.size}")
    leaf = verify_entry(a.entry.index, a.entry.leaf, a.entry.inclusion_proof, cp)
    try:
        sub = decode_submission(leaf.payload)
    except InputError as e:
        raise VerificationError(f"alert: entry {a.cursor}: {e}") from e
    kind = sub.WhichOneof("event")
    if kind not in ALERT_EVENTS:
        raise VerificationError(f"alert: entry {a.cursor} is a {kind}, which raises no alert")
    if kind != a.event:
        raise VerificationError(f"alert: says {a.event!r}, the entry is a {kind}")
    (ref,) = record_refs(sub)  # every alert event is about one record
    if (a.record.member_id, a.record.record_id) != (ref.member_id, ref.record_id):
        raise VerificationError(
            f"alert: says record {a.record.member_id}/{a.record.record_id}, the entry is "
            f"about {ref}"
        )
    if member_id and ref.member_id == member_id:
        raise VerificationError(f"alert: about {ref}, one of this member's own records")
    if borrowers is not None and borrowers.get(a.pseudonym) != a.relationship_reference:
        raise VerificationError(
            "alert: about a pseudonym and relationship reference this lender did not register"
        )
    if a.report.index == a.cursor:  # a report alert: the entry is the report
        if a.report.leaf != a.entry.leaf:
            raise VerificationError(f"alert: two leaves given for entry {a.cursor}")
        report = sub
    else:
        given = verify_entry(a.report.index, a.report.leaf, a.report.inclusion_proof, cp)
        try:
            report = decode_submission(given.payload)
        except InputError as e:
            raise VerificationError(f"alert: report entry {a.report.index}: {e}") from e
    if report.WhichOneof("event") != "record_reported" or (
        report.member_id,
        report.record_reported.record_id,
    ) != (ref.member_id, ref.record_id):
        raise VerificationError(f"alert: entry {a.report.index} is not the report of {ref}")
    try:
        opened = subject_commitment(a.salt, Pseudonym.from_bytes(a.pseudonym))
    except InputError as e:
        raise VerificationError(f"alert: {e}") from e
    if report.record_reported.subject_commitment != opened:
        raise VerificationError(f"alert: {ref} is about another subject than the alert's")
    return ref
