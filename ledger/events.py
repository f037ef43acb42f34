"""Building and signing submissions: the one place that turns domain values into the
``arrears.v1.Submission`` bytes a member signs.

Used by the SDK, the CLI, the operator's tools and the tests alike, so every submission is
encoded the same way (deterministic protobuf encoding, which the ledger insists on).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date

from google.protobuf.message import Message

from arrears.ledger.envelope import Envelope, MemberSigner
from arrears.ledger.errors import InputError
from arrears.ledger.records import RecordRef, bucket_for
from arrears.v1 import events_pb2 as pb

_EVENT_FIELDS = {
    f.message_type.full_name: f.name
    for f in pb.Submission.DESCRIPTOR.oneofs_by_name["event"].fields
    if f.message_type is not None
}


def pb_date(d: date | None) -> pb.Date:
    return pb.Date() if d is None else pb.Date(year=d.year, month=d.month, day=d.day)


def pb_ref(ref: RecordRef) -> pb.RecordRef:
    return pb.RecordRef(member_id=ref.member_id, record_id=ref.record_id)


_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT32 = (0, (1 << 32) - 1)


def _whole(name: str, value: int, bounds: tuple[int, int]) -> int:
    """``value`` if it is a whole number that the wire field holds, else an InputError naming
    the field (protobuf's own error names neither the field nor the limit)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}: want a whole number, got {type(value).__name__}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise InputError(f"{name}: {value} is out of range ({lo} to {hi})")
    return value


def money(currency: str, minor_units: int, name: str = "minor_units") -> pb.Money:
    return pb.Money(currency=currency, minor_units=_whole(name, minor_units, _INT64))


def _days_past_due(days: int) -> int:
    return _whole("days_past_due", days, _UINT32)


def new_submission_id() -> str:
    """A fresh submission id: a UUIDv7 (RFC 9562) in 32 hex digits, the millisecond it was
    made, then 74 random bits. Ids made later sort later, so the ledger's index of submissions
    (member, id) grows at its right end, where its pages are already in memory, instead of at
    a random place per submission. (``uuid.uuid7`` arrives in Python 3.14.)"""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 are kept
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62
    return f"{value | rand & (1 << 62) - 1:032x}"


@dataclass(frozen=True)
class Member:
    """A member's identity for signing: its id, its key, and the ledger it signs for."""

    member_id: str
    signer: MemberSigner
    origin: str

    def submission(self, event: Message, *, submission_id: str | None = None) -> pb.Submission:
        """Wrap one event in a Submission with a fresh (or the given) submission id."""
        sub = pb.Submission(
            member_id=self.member_id,
            submission_id=submission_id or new_submission_id(),
            signed_at_unix_ms=int(time.time() * 1000),
        )
        field = _EVENT_FIELDS.get(event.DESCRIPTOR.full_name)
        if field is None:
            raise InputError(f"event: {event.DESCRIPTOR.full_name} is not a submission event")
        getattr(sub, field).CopyFrom(event)
        return sub

    def sign(self, event: Message, *, submission_id: str | None = None) -> Envelope:
        """Sign one event: the deterministic encoding of its Submission."""
        sub = self.submission(event, submission_id=submission_id)
        return self.signer.sign(self.origin, sub.SerializeToString(deterministic=True))


def record_reported(
    record_id: str,
    subject_commitment: bytes,
    *,
    subject_kind: pb.SubjectKind = pb.SUBJECT_KIND_PERSON,
    loan_type: pb.LoanType = pb.LOAN_TYPE_PERSONAL,
    currency: str = "CNY",
    principal_minor: int,
    outstanding_minor: int,
    days_past_due: int,
    first_missed_payment: date,
    borrower_notified_on: date | None,
    collection_stage: pb.CollectionStage = pb.COLLECTION_STAGE_REMINDER,
) -> pb.RecordReported:
    ev = pb.RecordReported(
        record_id=record_id,
        subject_commitment=subject_commitment,
        subject_kind=subject_kind,
        loan_type=loan_type,
        principal=money(currency, principal_minor, "principal_minor"),
        outstanding=money(currency, outstanding_minor, "outstanding_minor"),
        days_past_due=_days_past_due(days_past_due),
        dpd_bucket=bucket_for(days_past_due),
        first_missed_payment=pb_date(first_missed_payment),
        collection_stage=collection_stage,
    )
    if borrower_notified_on is not None:
        ev.borrower_notified_on.CopyFrom(pb_date(borrower_notified_on))
    return ev


def record_updated(
    ref: RecordRef,
    *,
    currency: str = "CNY",
    days_past_due: int | None = None,
    outstanding_minor: int | None = None,
    collection_stage: pb.CollectionStage = pb.COLLECTION_STAGE_UNSPECIFIED,
    as_of: date | None = None,
) -> pb.RecordUpdated:
    ev = pb.RecordUpdated(record=pb_ref(ref), collection_stage=collection_stage)
    if days_past_due is not None:
        ev.days_past_due = _days_past_due(days_past_due)
        ev.dpd_bucket = bucket_for(days_past_due)
    if outstanding_minor is not None:
        ev.outstanding.CopyFrom(money(currency, outstanding_minor, "outstanding_minor"))
    if as_of is not None:
        ev.as_of.CopyFrom(pb_date(as_of))
    return ev


def record_settled(
    ref: RecordRef,
    settled_on: date,
    *,
    kind: pb.SettlementKind = pb.SETTLEMENT_KIND_FULL,
    currency: str = "CNY",
    amount_paid_minor: int | None = None,
) -> pb.RecordSettled:
    ev = pb.RecordSettled(record=pb_ref(ref), kind=kind, settled_on=pb_date(settled_on))
    if amount_paid_minor is not None:
        ev.amount_paid.CopyFrom(money(currency, amount_paid_minor, "amount_paid_minor"))
    return ev


def record_withdrawn(ref: RecordRef, reason: str) -> pb.RecordWithdrawn:
    return pb.RecordWithdrawn(record=pb_ref(ref), reason=reason)


def dispute_opened(
    ref: RecordRef, dispute_id: str, opened_on: date, reason: str
) -> pb.DisputeOpened:
    return pb.DisputeOpened(
        record=pb_ref(ref), dispute_id=dispute_id, opened_on=pb_date(opened_on), reason=reason
    )


def dispute_resolved(
    ref: RecordRef,
    dispute_id: str,
    outcome: pb.DisputeOutcome,
    resolved_on: date,
    explanation: str = "",
    correction: pb.RecordUpdated | None = None,
) -> pb.DisputeResolved:
    ev = pb.DisputeResolved(
        record=pb_ref(ref),
        dispute_id=dispute_id,
        outcome=outcome,
        resolved_on=pb_date(resolved_on),
        explanation=explanation,
    )
    if correction is not None:
        ev.correction.CopyFrom(correction)
    return ev


def record_suppressed(ref: RecordRef, reason: str) -> pb.RecordSuppressed:
    return pb.RecordSuppressed(record=pb_ref(ref), reason=reason)


def record_erased(ref: RecordRef, reason: pb.ErasureReason) -> pb.RecordErased:
    return pb.RecordErased(record=pb_ref(ref), reason=reason)


def member_admitted(
    member_id: str, name: str, roles: list[pb.Role], public_keys: list[bytes]
) -> pb.MemberAdmitted:
    return pb.MemberAdmitted(member_id=member_id, name=name, roles=roles, public_keys=public_keys)


def member_suspended(member_id: str, reason: str) -> pb.MemberSuspended:
    return pb.MemberSuspended(member_id=member_id, reason=reason)


def member_reinstated(member_id: str, reason: str) -> pb.MemberReinstated:
    return pb.MemberReinstated(member_id=member_id, reason=reason)


def key_added(member_id: str, public_key: bytes) -> pb.KeyAdded:
    return pb.KeyAdded(member_id=member_id, public_key=public_key)


def key_revoked(member_id: str, key_id: bytes, reason: str) -> pb.KeyRevoked:
    return pb.KeyRevoked(member_id=member_id, key_id=key_id, reason=reason)
