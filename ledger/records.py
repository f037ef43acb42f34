"""What the ledger's entries mean: members, keys, records, and the rules that govern them.

``apply(view, submission, ...)`` is the one state machine. The server runs it before anything
is appended (a refused submission never reaches the ledger); the projection rebuild and the
audit replay the ledger through the same function. It is pure: it reads the current state
through a ``StateView`` and returns the new states, raising a typed error that names the rule
it refuses under.

Time enters only as arguments: the integration time of the entry (rules such as "the borrower
must have been notified before reporting" are judged on that day), and an ``as_of`` time for
everything served (retention, dispute deadlines), so tests can move the clock.
"""

from __future__ import annotations

import calendar
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, cast

from google.protobuf.message import Message

from arrears.ledger.envelope import PUBLIC_KEY_SIZE, key_id_for, usable_public_key
from arrears.ledger.errors import ArrearsError, ConflictError, InputError
from arrears.v1 import events_pb2 as pb

MAX_ID_LENGTH = 128
COMMITMENT_SIZE = 32
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
# The purposes' names in reports, audits and the CLI: the enum's, lower case with dashes.
PURPOSE_LABELS = {
    v.number: v.name.removeprefix("PURPOSE_").lower().replace("_", "-")
    for v in pb.Purpose.DESCRIPTOR.values
}
# Lookup purposes only some roles may give (the others are any lender's): the server refuses
# the rest, and the inquiry log's audit flags them.
PURPOSE_ROLES: dict[int, tuple[int, ...]] = {
    pb.PURPOSE_SUBJECT_REQUEST: (pb.ROLE_OPERATOR,),
    pb.PURPOSE_DISPUTE: (pb.ROLE_OPERATOR, pb.ROLE_REPORTER),
}
# Checks added after ledgers were written hold for new entries only (``Context.admitting``):
# an amount above MAX_MINOR, a currency code with a trailing newline, a future ``as_of`` in an
# update, a blank or unprintable member name, a member key no signature verifies under.
# The largest amount a record may state: 10 trillion in a two-decimal currency, beyond any one
# loan, and 9,000 times less than the wire's int64 holds.
MAX_MINOR = 10**15


# --- errors with rule names ------------------------------------------------------------------


class RuleViolation(ConflictError):
    """A submission that breaks a lifecycle rule; ``rule`` is a short stable name."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class NotPermitted(ArrearsError):
    """The submitter may not do this (role, ownership, suspension, revoked key)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class AlreadyExists(ConflictError):
    """An id that must be new is taken (record id, dispute id, member id, key)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """The periods of credit-reporting law, as configuration (defaults: China's rules)."""

    retention_years: int = 5  # negative data is served this long after the default ends
    dispute_deadline_days: int = 20  # a dispute must be answered within this many days
    min_notice_days: int = 0  # the borrower must be notified at least this long before
    utc_offset_minutes: int = 480  # the consortium's legal day (China Standard Time, UTC+8)

    def day(self, unix_us: int) -> date:
        """The calendar day, in the consortium's time zone, of an instant."""
        return date.fromordinal(
            _UNIX_EPOCH_ORDINAL + (unix_us + self.utc_offset_minutes * 60_000_000) // _DAY_US
        )


DEFAULT_RULES = Rules()
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


# --- state -------------------------------------------------------------------------------------


class Status(StrEnum):
    ACTIVE = "active"
    SETTLED = "settled"
    WITHDRAWN = "withdrawn"


class RecordRef(NamedTuple):
    """A record's identity: the reporting member's id and the member's own record id."""

    member_id: str
    record_id: str

    def __str__(self) -> str:
        return f"{self.member_id}/{self.record_id}"


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    name: str
    roles: frozenset[int]
    suspended: bool
    admitted_at: int

    def has(self, role: int) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class MemberKey:
    key_id: bytes
    member_id: str
    public_key: bytes
    added_at: int
    revoked_at: int | None = None

    def valid_at(self, index: int) -> bool:
        """Was this key usable for an entry at ``index``?"""
        return self.added_at < index and (self.revoked_at is None or index < self.revoked_at)


@dataclass(frozen=True, slots=True)
class Dispute:
    dispute_id: str
    opened_on: date
    opened_at: int
    reason: str
    outcome: int = pb.DISPUTE_OUTCOME_UNSPECIFIED
    resolved_on: date | None = None
    resolved_at: int | None = None

    @property
    def open(self) -> bool:
        return self.outcome == pb.DISPUTE_OUTCOME_UNSPECIFIED


class RecordState(NamedTuple):
    """One record's current state. A named tuple, not a dataclass: a fold makes a new state
    for most entries (``evolve``), and building a tuple is a quarter of the cost of a frozen
    dataclass's ``__init__``."""

    ref: RecordRef
    subject_commitment: bytes
    subject_kind: int
    loan_type: int
    currency: str
    principal_minor: int
    outstanding_minor: int
    days_past_due: int
    dpd_bucket: int
    first_missed_payment: date
    collection_stage: int
    borrower_notified_on: date
    reported_at: int
    reported_on: date
    status: Status = Status.ACTIVE
    settled_on: date | None = None
    settlement_kind: int = pb.SETTLEMENT_KIND_UNSPECIFIED
    withdrawn_reason: str = ""
    suppressed: bool = False
    erased: bool = False
    disputes: tuple[Dispute, ...] = ()
    entries: tuple[int, ...] = ()  # every ledger index about this record, in order

    @property
    def open_dispute(self) -> Dispute | None:
        return next((d for d in self.disputes if d.open), None)


_FIELD_AT = {name: i for i, name in enumerate(RecordState._fields)}
_tuple_new = tuple.__new__


def evolve(rec: RecordState, **changes: object) -> RecordState:
    """``rec._replace(**changes)`` without its per-call overhead (the hot path of every fold
    and audit); an unknown field name raises ``KeyError``."""
    values: list[object] = list(rec)
    for name, value in changes.items():
        values[_FIELD_AT[name]] = value
    return _tuple_new(RecordState, values)


class StateView(Protocol):
    """Read access to the state that rules need. Absent things are None."""

    def member(self, member_id: str) -> Member | None: ...

    def key(self, key_id: bytes) -> MemberKey | None: ...

    def record(self, ref: RecordRef) -> RecordState | None: ...

    def submission(self, member_id: str, submission_id: str) -> int | None: ...

    def commitment_owner(self, commitment: bytes) -> RecordRef | None:
        """The record whose report carries this subject commitment, if any."""
        ...

    def member_keys(self, member_id: str) -> list[MemberKey]:
        """Every key ever registered for a member."""
        ...


class Changes:
    """New states produced by a run of entries; later entries overwrite earlier ones.

    A plain class (not a dataclass): one is made for every entry applied, so its construction
    is on the hot path of every fold."""

    __slots__ = (
        "commitments",
        "erased",
        "inquiries",
        "keys",
        "members",
        "openings",
        "records",
        "submissions",
    )

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.keys: dict[bytes, MemberKey] = {}
        self.records: dict[RecordRef, RecordState] = {}
        self.submissions: dict[tuple[str, str], int] = {}
        # subject commitment -> (pseudonym, salt): the deletable index; never in a leaf
        self.openings: dict[bytes, tuple[bytes, bytes]] = {}
        self.erased: set[bytes] = set()  # subject commitments to unlink
        # inquiry log index -> (pseudonym, salt): the inquiry log's deletable index
        self.inquiries: dict[int, tuple[bytes, bytes]] = {}
        # subject commitment -> record, of the records merged in (a batch's own reports)
        self.commitments: dict[bytes, RecordRef] = {}

    def merge(self, other: Changes) -> None:
        self.members.update(other.members)
        self.keys.update(other.keys)
        self.records.update(other.records)
        for r in other.records.values():
            self.commitments[r.subject_commitment] = r.ref
        self.submissions.update(other.submissions)
        self.openings.update(other.openings)
        for c in other.erased:
            self.openings.pop(c, None)
        self.erased |= other.erased
        self.inquiries.update(other.inquiries)


class Overlay:
    """A StateView that sees pending ``Changes`` over a base view (a batch in progress)."""

    def __init__(self, base: StateView, changes: Changes | None = None) -> None:
        self.base = base
        self.changes = changes if changes is not None else Changes()

    def member(self, member_id: str) -> Member | None:
        m = self.changes.members.get(member_id)
        return m if m is not None else self.base.member(member_id)

    def key(self, key_id: bytes) -> MemberKey | None:
        k = self.changes.keys.get(key_id)
        return k if k is not None else self.base.key(key_id)

    def record(self, ref: RecordRef) -> RecordState | None:
        r = self.changes.records.get(ref)
        return r if r is not None else self.base.record(ref)

    def submission(self, member_id: str, submission_id: str) -> int | None:
        s = self.changes.submissions.get((member_id, submission_id))
        return s if s is not None else self.base.submission(member_id, submission_id)

    def commitment_owner(self, commitment: bytes) -> RecordRef | None:
        ref = self.changes.commitments.get(commitment)
        return ref if ref is not None else self.base.commitment_owner(commitment)

    def member_keys(self, member_id: str) -> list[MemberKey]:
        keys = {k.key_id: k for k in self.base.member_keys(member_id)}
        keys.update((k.key_id, k) for k in self.changes.keys.values() if k.member_id == member_id)
        return list(keys.values())


@dataclass
class MemoryState:
    """The whole projection in dicts: the state view of the in-memory harness and of the
    projection rebuild."""

    members: dict[str, Member] = field(default_factory=dict)
    keys: dict[bytes, MemberKey] = field(default_factory=dict)
    records: dict[RecordRef, RecordState] = field(default_factory=dict)
    submissions: dict[tuple[str, str], int] = field(default_factory=dict)
    openings: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict)
    inquiries: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    commitments: dict[bytes, RecordRef] = field(default_factory=dict, compare=False)

    def member(self, member_id: str) -> Member | None:
        return self.members.get(member_id)

    def key(self, key_id: bytes) -> MemberKey | None:
        return self.keys.get(key_id)

    def record(self, ref: RecordRef) -> RecordState | None:
        return self.records.get(ref)

    def submission(self, member_id: str, submission_id: str) -> int | None:
        return self.submissions.get((member_id, submission_id))

    def commitment_owner(self, commitment: bytes) -> RecordRef | None:
        return self.commitments.get(commitment)

    def member_keys(self, member_id: str) -> list[MemberKey]:
        return [k for k in self.keys.values() if k.member_id == member_id]

    def apply_changes(self, changes: Changes) -> None:
        # Most entries change one record and one submission: skip the empty collections.
        if changes.members:
            self.members.update(changes.members)
        if changes.keys:
            self.keys.update(changes.keys)
        if changes.records:
            self.records.update(changes.records)
            for r in changes.records.values():
                self.commitments[r.subject_commitment] = r.ref
        self.submissions.update(changes.submissions)
        if changes.openings:
            self.openings.update(changes.openings)
        for c in changes.erased:
            self.openings.pop(c, None)
        if changes.inquiries:
            self.inquiries.update(changes.inquiries)


# --- field checks ------------------------------------------------------------------------------


def _valid_id(value: str) -> bool:
    return len(value) <= MAX_ID_LENGTH and _ID_RE.fullmatch(value) is not None


def check_id(name: str, value: str) -> str:
    if not value:
        raise InputError(f"{name}: required")
    if not _valid_id(value):
        raise InputError(
            f"{name}: at most {MAX_ID_LENGTH} characters of letters, digits and . _ : / -"
        )
    return value


def to_date(name: str, d: pb.Date, *, required: bool = True) -> date | None:
    if d.year == 0 and d.month == 0 and d.day == 0:
        if required:
            raise InputError(f"{name}: required")
        return None
    try:
        return date(d.year, d.month, d.day)
    except ValueError:
        raise InputError(f"{name}: {d.year:04d}-{d.month:02d}-{d.day:02d} is not a date") from None


def _req_date(name: str, d: pb.Date) -> date:
    out = to_date(name, d)
    assert out is not None
    return out


MINOR_DIGITS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
}
"""Decimals of the currencies (ISO 4217) that do not have two; amounts are kept in minor units."""


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency.upper(), 2)


def amount_text(minor: int, currency: str) -> str:
    """Minor units as an amount in ``currency``, with its number of decimals: 123,456.78 CNY."""
    digits = minor_digits(currency)
    return f"{Decimal(minor).scaleb(-digits):,.{digits}f} {currency}"


def check_money(
    name: str, m: pb.Money, *, currency: str | None = None, admitting: bool = True
) -> int:
    """Minor units of an amount. ``admitting=False`` (replaying a ledger) leaves out the checks
    added later: the ceiling, and a currency code followed by a newline."""
    code = m.currency if admitting else m.currency.removesuffix("\n")
    if _CURRENCY_RE.fullmatch(code) is None:
        raise InputError(f"{name}.currency: want an ISO 4217 code such as CNY, got {m.currency!r}")
    if currency is not None and m.currency != currency:
        raise InputError(f"{name}.currency: {m.currency} differs from the record's {currency}")
    if m.minor_units < 0:
        raise InputError(f"{name}.minor_units: must not be negative")
    if admitting and m.minor_units > MAX_MINOR:
        raise InputError(f"{name}.minor_units: at most {MAX_MINOR:,} minor units")
    return m.minor_units


def bucket_for(days_past_due: int) -> pb.DpdBucket:
    """The PBOC repayment-status bucket (1-7) of a number of days past due."""
    if days_past_due <= 0:
        return pb.DPD_BUCKET_UNSPECIFIED
    return cast(pb.DpdBucket, min(7, (days_past_due - 1) // 30 + 1))


def _check_enum(name: str, value: int, enum: type) -> int:
    descriptor = enum.DESCRIPTOR  # type: ignore[attr-defined]
    if value == 0 or value not in descriptor.values_by_number:
        raise InputError(f"{name}: required (one of {', '.join(descriptor.values_by_name)[:200]})")
    return value


def _check_dpd(name: str, days: int, bucket: int) -> None:
    if days < 1:
        raise InputError(f"{name}.days_past_due: a default is at least 1 day past due")
    if bucket != bucket_for(days):
        names = pb.DpdBucket.DESCRIPTOR.values_by_number
        given = names[bucket].name if bucket in names else f"{bucket}, not a bucket,"
        raise InputError(
            f"{name}.dpd_bucket: {given} does not match {days} days past due "
            f"(want {pb.DpdBucket.Name(bucket_for(days))})"
        )


def _ref(name: str, r: pb.RecordRef) -> RecordRef:
    m, rid = r.member_id, r.record_id
    if not (_valid_id(m) and _valid_id(rid)):  # the field names are built only on a refusal
        check_id(f"{name}.member_id", m)  # raises, naming the field
        check_id(f"{name}.record_id", rid)
    return RecordRef(m, rid)


# --- the state machine -------------------------------------------------------------------------


class Context:
    """Where and when an entry lands (the day is worked out once, on first use).

    ``admitting``: the ledger is deciding whether to take the entry, rather than replaying one
    it took (a client folding a record, an audit, a projection rebuild). Checks of the input's
    form added after entries were taken apply only then, so history a server accepted stays
    verifiable (they are listed above ``MAX_MINOR``)."""

    __slots__ = ("_today", "admitting", "index", "integrated_at_us", "rules")

    def __init__(
        self,
        index: int,
        integrated_at_us: int,
        rules: Rules = DEFAULT_RULES,
        *,
        admitting: bool = False,
    ) -> None:
        self.index = index
        self.integrated_at_us = integrated_at_us
        self.rules = rules
        self.admitting = admitting
        self._today: date | None = None

    @property
    def today(self) -> date:
        if self._today is None:
            self._today = self.rules.day(self.integrated_at_us)
        return self._today


def parse_canonical(message: Message, payload: bytes) -> str:
    """Parse ``payload`` into ``message``; return what is wrong with it, or "" if it is the
    message's one canonical encoding. One payload, one meaning: unknown fields or
    non-canonical encodings are refused so that every verifier decodes the same bytes to the
    same event. Protobuf keeps unknown fields and writes them back out, so they are dropped
    before the comparison."""
    try:
        message.ParseFromString(payload)
    except Exception:
        return f"not a serialised {message.DESCRIPTOR.full_name}"
    message.DiscardUnknownFields()
    if message.SerializeToString(deterministic=True) != payload:
        return "not in canonical (deterministic) encoding, or unknown fields"
    return ""


ALERT_EVENTS = frozenset(
    {
        "record_reported",
        "record_updated",
        "record_settled",
        "record_withdrawn",
        "dispute_opened",
        "dispute_resolved",
    }
)
"""The events about a record that raise a watch alert for its subject (server and SDK)."""


def decode_submission(payload: bytes) -> pb.Submission:
    sub = pb.Submission()
    if problem := parse_canonical(sub, payload):
        raise InputError(f"envelope.payload: {problem}")
    if sub.WhichOneof("event") is None:
        raise InputError("submission.event: required")
    return sub


def authorise_key(view: StateView, key_id: bytes, member_id: str, index: int) -> MemberKey:
    """The key registry as of ``index``: the key must exist, belong to the submitter, not be
    revoked, and its member must not be suspended."""
    key = view.key(key_id)
    if key is None:
        raise NotPermitted("unknown_key", f"envelope.key_id: {key_id.hex()[:16]} is not registered")
    if key.member_id != member_id:
        raise NotPermitted(
            "key_owner", f"submission.member_id: key {key_id.hex()[:16]} belongs to another member"
        )
    if key.revoked_at is not None and key.revoked_at < index:
        raise NotPermitted("revoked_key", f"envelope.key_id: key {key_id.hex()[:16]} is revoked")
    member = view.member(member_id)
    if member is None:
        raise NotPermitted("unknown_member", f"submission.member_id: {member_id} is not a member")
    if member.suspended:
        raise NotPermitted("suspended_member", f"submission.member_id: {member_id} is suspended")
    return key


def _need_role(view: StateView, member_id: str, role: int, what: str) -> Member:
    member = view.member(member_id)
    if member is None or not member.has(role):
        raise NotPermitted(
            "role", f"submission.member_id: {member_id} lacks role {pb.Role.Name(role)} to {what}"
        )
    return member


def _existing(view: StateView, ref: RecordRef, field_name: str) -> RecordState:
    rec = view.record(ref)
    if rec is None or rec.erased:
        raise RuleViolation("unknown_record", f"{field_name}: no record {ref}")
    return rec


def _own(rec: RecordState, member_id: str, field_name: str) -> None:
    if rec.ref.member_id != member_id:
        raise NotPermitted(
            "not_reporter",
            f"{field_name}: record {rec.ref} was reported by another member; only its reporter "
            "may change it",
        )


def _active(rec: RecordState, field_name: str, what: str) -> None:
    if rec.status is not Status.ACTIVE:
        raise RuleViolation(
            f"{what}_after_{rec.status.value}",
            f"{field_name}: record {rec.ref} is {rec.status.value}; no {what} after that",
        )


def _not_future(name: str, d: date, ctx: Context) -> None:
    if d > ctx.today:
        raise InputError(f"{name}: {d.isoformat()} is in the future")


def apply(
    view: StateView, sub: pb.Submission, ctx: Context, *, genesis_key: bytes = b""
) -> Changes:
    """Apply one authorised submission to the state; return what changed or raise.

    The caller has checked the envelope's signature and, except for the genesis entry, that the
    key is authorised (``authorise_key``). ``genesis_key`` is the public key of the genesis entry.
    """
    member_id = check_id("submission.member_id", sub.member_id)
    submission_id = check_id("submission.submission_id", sub.submission_id)
    kind = sub.WhichOneof("event")
    ch = Changes()
    ch.submissions[(member_id, submission_id)] = ctx.index
    if ctx.index == 0:
        _genesis(sub, ctx, ch, genesis_key)
    else:
        _HANDLERS[str(kind)](view, sub, member_id, ctx, ch)
    return ch


def _genesis(sub: pb.Submission, ctx: Context, ch: Changes, public_key: bytes) -> None:
    if ctx.index != 0 or sub.WhichOneof("event") != "member_admitted":
        raise RuleViolation("genesis", "submission.event: the first entry must admit the operator")
    ev = sub.member_admitted
    if ev.member_id != sub.member_id:
        raise RuleViolation(
            "genesis", "member_admitted.member_id: the operator admits itself first"
        )
    if pb.ROLE_OPERATOR not in ev.roles:
        raise RuleViolation(
            "genesis", "member_admitted.roles: the first member must be the operator"
        )
    if public_key not in ev.public_keys:
        raise RuleViolation(
            "genesis", "envelope.key_id: the genesis entry must be signed by a key it registers"
        )
    _admit(ev, ctx, ch)


def _admit(ev: pb.MemberAdmitted, ctx: Context, ch: Changes, view: StateView | None = None) -> None:
    mid = check_id("member_admitted.member_id", ev.member_id)
    if (
        not ev.name
        or len(ev.name) > 200
        or (ctx.admitting and (not ev.name.strip() or not ev.name.isprintable()))
    ):
        raise InputError(
            "member_admitted.name: required, at most 200 characters, no control characters"
        )
    if not ev.roles:
        raise InputError("member_admitted.roles: at least one role")
    for r in ev.roles:
        _check_enum("member_admitted.roles", r, pb.Role)
    ch.members[mid] = Member(mid, ev.name, frozenset(ev.roles), False, ctx.index)
    for i, pk in enumerate(ev.public_keys):
        _add_key(f"member_admitted.public_keys[{i}]", mid, pk, ctx, ch, view)


def _add_key(
    name: str, member_id: str, pk: bytes, ctx: Context, ch: Changes, view: StateView | None
) -> None:
    if len(pk) != PUBLIC_KEY_SIZE:
        raise InputError(f"{name}: an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(pk)}")
    if ctx.admitting and not usable_public_key(pk):
        raise InputError(
            f"{name}: not a usable Ed25519 public key (no signature verifies under it)"
        )
    kid = key_id_for(pk)
    if kid in ch.keys or (view is not None and view.key(kid) is not None):
        raise AlreadyExists("key_registered", f"{name}: key {kid.hex()[:16]} is already registered")
    ch.keys[kid] = MemberKey(kid, member_id, pk, ctx.index)


def _member_admitted(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "admit members")
    if view.member(sub.member_admitted.member_id) is not None:
        raise AlreadyExists(
            "member_exists", f"member_admitted.member_id: {sub.member_admitted.member_id} exists"
        )
    _admit(sub.member_admitted, ctx, ch, view)


def _target_member(view: StateView, name: str, member_id: str) -> Member:
    m = view.member(check_id(name, member_id))
    if m is None:
        raise RuleViolation("unknown_member", f"{name}: no member {member_id}")
    return m


def _member_suspended(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "suspend members")
    m = _target_member(view, "member_suspended.member_id", sub.member_suspended.member_id)
    if m.member_id == mid:
        raise RuleViolation(
            "suspend_self", "member_suspended.member_id: the operator cannot suspend itself"
        )
    if m.suspended:
        raise RuleViolation(
            "already_suspended", f"member_suspended.member_id: {m.member_id} is suspended"
        )
    ch.members[m.member_id] = replace(m, suspended=True)


def _member_reinstated(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "reinstate members")
    m = _target_member(view, "member_reinstated.member_id", sub.member_reinstated.member_id)
    if not m.suspended:
        raise RuleViolation(
            "not_suspended", f"member_reinstated.member_id: {m.member_id} is not suspended"
        )
    ch.members[m.member_id] = replace(m, suspended=False)


def _key_added(view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "register keys")
    m = _target_member(view, "key_added.member_id", sub.key_added.member_id)
    _add_key("key_added.public_key", m.member_id, sub.key_added.public_key, ctx, ch, view)


def _key_revoked(view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes) -> None:
    ev = sub.key_revoked
    if ev.member_id != mid:  # a member may revoke its own keys at once; others need the operator
        _need_role(view, mid, pb.ROLE_OPERATOR, "revoke another member's keys")
    key = view.key(ev.key_id)
    if key is None or key.member_id != ev.member_id:
        raise RuleViolation(
            "unknown_key",
            f"key_revoked.key_id: {ev.key_id.hex()[:16]} is not a key of {ev.member_id}",
        )
    if key.revoked_at is not None:
        raise RuleViolation(
            "already_revoked", f"key_revoked.key_id: {ev.key_id.hex()[:16]} is already revoked"
        )
    ch.keys[key.key_id] = replace(key, revoked_at=ctx.index)


def _record_reported(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_REPORTER, "report records")
    ev = sub.record_reported
    ref = RecordRef(mid, check_id("record_reported.record_id", ev.record_id))
    if view.record(ref) is not None:
        raise AlreadyExists(
            "record_exists", f"record_reported.record_id: {ref} was reported before"
        )
    if len(ev.subject_commitment) != COMMITMENT_SIZE:
        raise InputError(f"record_reported.subject_commitment: must be {COMMITMENT_SIZE} bytes")
    if view.commitment_owner(ev.subject_commitment) is not None:
        # Each report takes a fresh salt; a reused commitment would let one record's erasure
        # unlink another's.
        raise AlreadyExists(
            "commitment_reused",
            "record_reported.subject_commitment: already used by another record; use a fresh salt",
        )
    _check_enum("record_reported.subject_kind", ev.subject_kind, pb.SubjectKind)
    _check_enum("record_reported.loan_type", ev.loan_type, pb.LoanType)
    _check_enum("record_reported.collection_stage", ev.collection_stage, pb.CollectionStage)
    principal = check_money("record_reported.principal", ev.principal, admitting=ctx.admitting)
    outstanding = check_money(
        "record_reported.outstanding",
        ev.outstanding,
        currency=ev.principal.currency,
        admitting=ctx.admitting,
    )
    _check_dpd("record_reported", ev.days_past_due, ev.dpd_bucket)
    missed = _req_date("record_reported.first_missed_payment", ev.first_missed_payment)
    _not_future("record_reported.first_missed_payment", missed, ctx)
    if not ev.HasField("borrower_notified_on"):
        raise RuleViolation(
            "notice_before_reporting",
            "record_reported.borrower_notified_on: required; the borrower must be notified before "
            "negative data is reported",
        )
    notified = _req_date("record_reported.borrower_notified_on", ev.borrower_notified_on)
    if notified > ctx.today - timedelta(days=ctx.rules.min_notice_days):
        raise RuleViolation(
            "notice_before_reporting",
            f"record_reported.borrower_notified_on: {notified.isoformat()} is not at least "
            f"{ctx.rules.min_notice_days} days before reporting on {ctx.today.isoformat()}",
        )
    ch.records[ref] = RecordState(
        ref=ref,
        subject_commitment=ev.subject_commitment,
        subject_kind=ev.subject_kind,
        loan_type=ev.loan_type,
        currency=ev.principal.currency,
        principal_minor=principal,
        outstanding_minor=outstanding,
        days_past_due=ev.days_past_due,
        dpd_bucket=ev.dpd_bucket,
        first_missed_payment=missed,
        collection_stage=ev.collection_stage,
        borrower_notified_on=notified,
        reported_at=ctx.index,
        reported_on=ctx.today,
        entries=(ctx.index,),
    )


def _updated_fields(
    name: str, rec: RecordState, ev: pb.RecordUpdated, ctx: Context
) -> dict[str, object]:
    """The fields an update (or a dispute's correction) changes, checked."""
    changes: dict[str, object] = {}
    if ev.HasField("days_past_due"):
        _check_dpd(name, ev.days_past_due, ev.dpd_bucket)
        changes.update(days_past_due=ev.days_past_due, dpd_bucket=ev.dpd_bucket)
    elif ev.dpd_bucket:
        raise InputError(f"{name}.dpd_bucket: only together with days_past_due")
    if ev.HasField("outstanding"):
        changes["outstanding_minor"] = check_money(
            f"{name}.outstanding", ev.outstanding, currency=rec.currency, admitting=ctx.admitting
        )
    if ev.HasField("as_of"):
        as_of = to_date(f"{name}.as_of", ev.as_of, required=False)
        if as_of is not None and ctx.admitting:
            _not_future(f"{name}.as_of", as_of, ctx)
    if ev.collection_stage:
        changes["collection_stage"] = _check_enum(
            f"{name}.collection_stage", ev.collection_stage, pb.CollectionStage
        )
    if not changes:
        raise InputError(
            f"{name}: changes nothing (set days_past_due, outstanding or collection_stage)"
        )
    return changes


def _record_updated(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    ev = sub.record_updated
    rec = _existing(view, _ref("record_updated.record", ev.record), "record_updated.record")
    _own(rec, mid, "record_updated.record")
    _need_role(view, mid, pb.ROLE_REPORTER, "update records")
    _active(rec, "record_updated.record", "update")
    changes = _updated_fields("record_updated", rec, ev, ctx)
    ch.records[rec.ref] = evolve(rec, entries=(*rec.entries, ctx.index), **changes)


def _record_settled(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    ev = sub.record_settled
    rec = _existing(view, _ref("record_settled.record", ev.record), "record_settled.record")
    _own(rec, mid, "record_settled.record")
    _need_role(view, mid, pb.ROLE_REPORTER, "settle records")
    _active(rec, "record_settled.record", "settlement")
    _check_enum("record_settled.kind", ev.kind, pb.SettlementKind)
    on = _req_date("record_settled.settled_on", ev.settled_on)
    _not_future("record_settled.settled_on", on, ctx)
    if on < rec.first_missed_payment:
        raise InputError("record_settled.settled_on: before the first missed payment")
    if ev.HasField("amount_paid"):
        check_money(
            "record_settled.amount_paid",
            ev.amount_paid,
            currency=rec.currency,
            admitting=ctx.admitting,
        )
    outstanding = 0 if ev.kind == pb.SETTLEMENT_KIND_FULL else rec.outstanding_minor
    ch.records[rec.ref] = evolve(
        rec,
        status=Status.SETTLED,
        settled_on=on,
        settlement_kind=ev.kind,
        outstanding_minor=outstanding,
        entries=(*rec.entries, ctx.index),
    )


def _record_withdrawn(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    ev = sub.record_withdrawn
    rec = _existing(view, _ref("record_withdrawn.record", ev.record), "record_withdrawn.record")
    _own(rec, mid, "record_withdrawn.record")
    if rec.status is Status.WITHDRAWN:
        raise RuleViolation("already_withdrawn", f"record_withdrawn.record: {rec.ref} is withdrawn")
    if not ev.reason:
        raise InputError("record_withdrawn.reason: required")
    ch.records[rec.ref] = evolve(
        rec, status=Status.WITHDRAWN, withdrawn_reason=ev.reason, entries=(*rec.entries, ctx.index)
    )


def _reporter_or_operator(view: StateView, rec: RecordState, member_id: str) -> bool:
    """Disputes are the reporter's to open and answer, or the operator's (for the borrower)."""
    if rec.ref.member_id == member_id:
        return True
    member = view.member(member_id)
    return member is not None and member.has(pb.ROLE_OPERATOR)


def _dispute_opened(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    ev = sub.dispute_opened
    rec = _existing(view, _ref("dispute_opened.record", ev.record), "dispute_opened.record")
    if not _reporter_or_operator(view, rec, mid):
        raise NotPermitted(
            "dispute_opener",
            "dispute_opened.record: only the operator (for the borrower) or the reporter "
            "opens a dispute",
        )
    if rec.status is Status.WITHDRAWN:
        raise RuleViolation("dispute_withdrawn", f"dispute_opened.record: {rec.ref} is withdrawn")
    if rec.open_dispute is not None:
        raise RuleViolation("dispute_open", f"dispute_opened.record: {rec.ref} has an open dispute")
    did = check_id("dispute_opened.dispute_id", ev.dispute_id)
    if any(d.dispute_id == did for d in rec.disputes):
        raise AlreadyExists("dispute_exists", f"dispute_opened.dispute_id: {did} was used before")
    on = _req_date("dispute_opened.opened_on", ev.opened_on)
    _not_future("dispute_opened.opened_on", on, ctx)
    d = Dispute(did, on, ctx.index, ev.reason)
    ch.records[rec.ref] = evolve(
        rec, disputes=(*rec.disputes, d), entries=(*rec.entries, ctx.index)
    )


def _dispute_resolved(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    ev = sub.dispute_resolved
    rec = _existing(view, _ref("dispute_resolved.record", ev.record), "dispute_resolved.record")
    if not _reporter_or_operator(view, rec, mid):
        raise NotPermitted(
            "not_reporter",
            "dispute_resolved.record: only the reporter or the operator resolves a dispute",
        )
    d = rec.open_dispute
    if d is None or d.dispute_id != ev.dispute_id:
        raise RuleViolation(
            "no_open_dispute",
            f"dispute_resolved.dispute_id: {ev.dispute_id!r} is not open on {rec.ref}",
        )
    outcome = _check_enum("dispute_resolved.outcome", ev.outcome, pb.DisputeOutcome)
    on = _req_date("dispute_resolved.resolved_on", ev.resolved_on)
    _not_future("dispute_resolved.resolved_on", on, ctx)
    if on < d.opened_on:
        raise InputError("dispute_resolved.resolved_on: before the dispute was opened")
    new = rec
    if outcome == pb.DISPUTE_OUTCOME_CORRECTED:
        if not ev.HasField("correction"):
            raise InputError("dispute_resolved.correction: required when the outcome is CORRECTED")
        new = evolve(rec, **_updated_fields("dispute_resolved.correction", rec, ev.correction, ctx))
    elif ev.HasField("correction"):
        raise InputError("dispute_resolved.correction: only with the outcome CORRECTED")
    if outcome == pb.DISPUTE_OUTCOME_WITHDRAWN:
        new = evolve(
            new, status=Status.WITHDRAWN, withdrawn_reason=f"dispute {d.dispute_id} upheld"
        )
    resolved = replace(d, outcome=outcome, resolved_on=on, resolved_at=ctx.index)
    disputes = tuple(resolved if x is d else x for x in rec.disputes)
    ch.records[rec.ref] = evolve(new, disputes=disputes, entries=(*rec.entries, ctx.index))


def _record_suppressed(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "suppress records")
    ev = sub.record_suppressed
    rec = _existing(view, _ref("record_suppressed.record", ev.record), "record_suppressed.record")
    if rec.suppressed:
        raise RuleViolation(
            "already_suppressed", f"record_suppressed.record: {rec.ref} is suppressed"
        )
    if not ev.reason:
        raise InputError("record_suppressed.reason: required")
    ch.records[rec.ref] = evolve(rec, suppressed=True, entries=(*rec.entries, ctx.index))


def _record_erased(
    view: StateView, sub: pb.Submission, mid: str, ctx: Context, ch: Changes
) -> None:
    _need_role(view, mid, pb.ROLE_OPERATOR, "erase records")
    ev = sub.record_erased
    rec = _existing(view, _ref("record_erased.record", ev.record), "record_erased.record")
    _check_enum("record_erased.reason", ev.reason, pb.ErasureReason)
    if ev.reason == pb.ERASURE_REASON_RETENTION_ENDED and not retention_ended(
        rec, ctx.today, ctx.rules
    ):
        raise RuleViolation(
            "retention_not_ended", f"record_erased.record: {rec.ref} is still within retention"
        )
    ch.records[rec.ref] = evolve(rec, erased=True, entries=(*rec.entries, ctx.index))
    ch.erased.add(rec.subject_commitment)


_HANDLERS = {
    "member_admitted": _member_admitted,
    "member_suspended": _member_suspended,
    "member_reinstated": _member_reinstated,
    "key_added": _key_added,
    "key_revoked": _key_revoked,
    "record_reported": _record_reported,
    "record_updated": _record_updated,
    "record_settled": _record_settled,
    "record_withdrawn": _record_withdrawn,
    "dispute_opened": _dispute_opened,
    "dispute_resolved": _dispute_resolved,
    "record_suppressed": _record_suppressed,
    "record_erased": _record_erased,
}


_EVERY_ROLE = frozenset(pb.Role.values())


class _RecordOnly:
    """A view of one record in which every member may do everything: for folding a record's
    own entries where the registry is not at hand (authorisation was the ledger's job, and
    the audit checks it)."""

    def __init__(self) -> None:
        self.rec: RecordState | None = None

    def member(self, member_id: str) -> Member | None:
        return Member(member_id, member_id, _EVERY_ROLE, False, 0)

    def key(self, key_id: bytes) -> MemberKey | None:
        return None

    def record(self, ref: RecordRef) -> RecordState | None:
        return self.rec if self.rec is not None and self.rec.ref == ref else None

    def submission(self, member_id: str, submission_id: str) -> int | None:
        return None

    def commitment_owner(self, commitment: bytes) -> RecordRef | None:
        return None

    def member_keys(self, member_id: str) -> list[MemberKey]:
        return []


def fold_record(
    entries: Iterable[tuple[int, int, pb.Submission]], rules: Rules = DEFAULT_RULES
) -> RecordState:
    """A record's state from its entries (index, integration time in us, submission), oldest
    first; the first must be its report. Raises if they do not form one record's history."""
    view = _RecordOnly()
    for index, at_us, sub in entries:
        if view.rec is None and sub.WhichOneof("event") != "record_reported":
            raise InputError(f"entry {index}: a record's history starts with its report")
        changes = apply(view, sub, Context(index, at_us, rules))
        if len(changes.records) != 1:
            raise InputError(f"entry {index}: not about a record")
        (rec,) = changes.records.values()
        if view.rec is not None and rec.ref != view.rec.ref:
            raise InputError(f"entry {index}: about record {rec.ref}, not {view.rec.ref}")
        view.rec = rec
    if view.rec is None:
        raise InputError("record: no entries")
    return view.rec


# --- what is served, as of a time ----------------------------------------------------------------


def add_years(d: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February in common years)."""
    y = d.year + years
    return d.replace(year=y, day=min(d.day, calendar.monthrange(y, d.month)[1]))


def serve_until(rec: RecordState, rules: Rules) -> date | None:
    """The first day a record is no longer served (None: as long as the default lasts)."""
    if rec.settled_on is None:
        return None
    return add_years(rec.settled_on, rules.retention_years)


def retention_ended(rec: RecordState, as_of: date, rules: Rules) -> bool:
    until = serve_until(rec, rules)
    return until is not None and as_of >= until


def served(rec: RecordState, as_of: date, rules: Rules) -> bool:
    """Is the record shown to queriers on ``as_of``? (Not before it was reported.)"""
    if rec.erased or rec.suppressed or rec.status is Status.WITHDRAWN:
        return False
    if rec.reported_on > as_of:
        return False
    return not retention_ended(rec, as_of, rules)


def _status_on(rec: RecordState, as_of: date) -> Status:
    """The status as it was on ``as_of``: a settlement after that day had not happened yet."""
    if rec.status is Status.SETTLED and rec.settled_on is not None and rec.settled_on > as_of:
        return Status.ACTIVE
    return rec.status


def dispute_overdue(d: Dispute, as_of: date, rules: Rules) -> bool:
    return d.open and as_of > d.opened_on + timedelta(days=rules.dispute_deadline_days)


@functools.lru_cache(maxsize=4096)
def months_before(as_of: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day where it is shorter). Cached: a
    batch's summaries all ask for the same few."""
    y, m = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
    m += 1
    return date(y, m, min(as_of.day, calendar.monthrange(y, m)[1]))


@dataclass(frozen=True, slots=True)
class Summary:
    """What a lender sees first at origination."""

    as_of: date
    defaults_12m: int
    defaults_24m: int
    defaults_60m: int
    active: int
    settled: int
    worst_dpd_bucket: int
    outstanding: Mapping[str, int]  # per currency, active records
    open_dispute: bool
    overdue_dispute: bool
    reporting_members: tuple[str, ...]


def summarise(records: Iterable[RecordState], as_of: date, rules: Rules = DEFAULT_RULES) -> Summary:
    """The origination summary over the records served on ``as_of``."""
    shown = [r for r in records if served(r, as_of, rules)]
    if not shown:  # most subjects of a pre-screen
        return Summary(as_of, 0, 0, 0, 0, 0, 0, {}, False, False, ())
    # One pass over the records (a pre-screen summarises every subject it finds); a record's
    # status on the day is looked up by its ref, as in a record set keyed by ref.
    since_12, since_24, since_60 = (months_before(as_of, n) for n in (12, 24, 60))
    status = {r.ref: _status_on(r, as_of) for r in shown}
    defaults_12m = defaults_24m = defaults_60m = active = settled = 0
    worst = shown[0].dpd_bucket
    outstanding: dict[str, int] = {}
    open_dispute = overdue_dispute = False
    members: set[str] = set()
    for r in shown:
        missed = r.first_missed_payment
        defaults_12m += missed > since_12
        defaults_24m += missed > since_24
        defaults_60m += missed > since_60
        state = status[r.ref]
        if state is Status.ACTIVE:
            active += 1
            outstanding[r.currency] = outstanding.get(r.currency, 0) + r.outstanding_minor
        elif state is Status.SETTLED:
            settled += 1
        worst = max(worst, r.dpd_bucket)
        dispute = r.open_dispute
        if dispute is not None:
            open_dispute = True
            overdue_dispute = overdue_dispute or dispute_overdue(dispute, as_of, rules)
        members.add(r.ref.member_id)
    return Summary(
        as_of,
        defaults_12m,
        defaults_24m,
        defaults_60m,
        active,
        settled,
        worst,
        outstanding,
        open_dispute,
        overdue_dispute,
        tuple(sorted(members)),
    )


# --- storage codec: JSON for the projection's state columns -----------------------------------


def _d(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _pd(s: str | None) -> date | None:
    return None if s is None else date.fromisoformat(s)


# One encoder for every state written: ``json.dumps`` with arguments builds a new encoder per
# call, a third of the cost of encoding a record. Same options, same text.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


RECORD_STATE_FORMAT = 3
"""The record state's encoding in the ``records.state`` column: a JSON array that starts with
this number and follows ``RecordState``'s fields in order, leaving out the three the row keeps
in columns of its own (``member_id`` and ``record_id``, ``subject_commitment``, ``status``):
about half of the text, on every record. Still read: format 2, the same array with every field,
and format 1, a JSON object with short keys. An array is built from the state tuple in one step
and carries no keys."""

# The fields a row keeps in its own columns sit first (``ref``, ``subject_commitment``: a unit
# test holds that order) and at ``status``; the stored array holds the others in two runs:
# subject_kind .. reported_on, then settled_on .. entries.
_STATUS_AT = _FIELD_AT["status"]


def _at(name: str) -> int:
    """Where a stored field sits in a format 3 array (after the format number)."""
    i = _FIELD_AT[name]
    return i - 1 if i < _STATUS_AT else i - 2


_MISSED, _NOTIFIED, _REPORTED_ON, _SETTLED_ON, _DISPUTES = map(
    _at, ("first_missed_payment", "borrower_notified_on", "reported_on", "settled_on", "disputes")
)
_RUN = _STATUS_AT - 1  # the first run ends before this position


def record_to_json(r: RecordState) -> str:
    v: list[Any] = [RECORD_STATE_FORMAT, *r[2:_STATUS_AT], *r[_STATUS_AT + 1 :]]
    # The fields JSON has no type for (the entries are an array already).
    v[_MISSED] = r.first_missed_payment.isoformat()
    v[_NOTIFIED] = r.borrower_notified_on.isoformat()
    v[_REPORTED_ON] = r.reported_on.isoformat()
    if r.settled_on is not None:
        v[_SETTLED_ON] = r.settled_on.isoformat()
    if r.disputes:
        v[_DISPUTES] = [_dispute_to_list(d) for d in r.disputes]
    return _to_json(v)


def record_from_json(text: str, ref: RecordRef, commitment: bytes, status: str) -> RecordState:
    """A stored record state, in any format, with the key, commitment and status of the row's
    own columns: lookups find records by those columns, so they are what every reader shows.
    Formats 1 and 2 also carry the three in their text, which is not read."""
    v = json.loads(text)
    if isinstance(v, dict):
        return _record_from_object(v)._replace(
            ref=ref, subject_commitment=commitment, status=Status(status)
        )
    if v[0] == 2 and len(v) == len(RecordState._fields) + 1:  # every field, in order
        v = [RECORD_STATE_FORMAT, *v[3 : _STATUS_AT + 1], *v[_STATUS_AT + 2 :]]
    if v[0] != RECORD_STATE_FORMAT or len(v) != len(RecordState._fields) - 2:
        raise ValueError(f"record state: unknown format {v[0]!r} of {len(v)} values")
    v[_MISSED] = date.fromisoformat(v[_MISSED])
    v[_NOTIFIED] = date.fromisoformat(v[_NOTIFIED])
    v[_REPORTED_ON] = date.fromisoformat(v[_REPORTED_ON])
    v[_SETTLED_ON] = _pd(v[_SETTLED_ON])
    v[_DISPUTES] = tuple(map(_dispute_from_list, v[_DISPUTES]))
    v[-1] = tuple(v[-1])  # entries
    return RecordState._make([ref, commitment, *v[1:_RUN], Status(status), *v[_RUN:]])


def _dispute_to_list(d: Dispute) -> list[object]:
    return [
        d.dispute_id,
        d.opened_on.isoformat(),
        d.opened_at,
        d.reason,
        d.outcome,
        _d(d.resolved_on),
        d.resolved_at,
    ]


def _dispute_from_list(d: list[Any]) -> Dispute:
    return Dispute(d[0], date.fromisoformat(d[1]), d[2], d[3], d[4], _pd(d[5]), d[6])


def _record_from_object(j: dict[str, Any]) -> RecordState:
    """Format 1: a JSON object with short keys (what earlier versions stored)."""
    return RecordState(
        ref=RecordRef(j["m"], j["r"]),
        subject_commitment=bytes.fromhex(j["c"]),
        subject_kind=j["sk"],
        loan_type=j["lt"],
        currency=j["cur"],
        principal_minor=j["p"],
        outstanding_minor=j["o"],
        days_past_due=j["dpd"],
        dpd_bucket=j["b"],
        first_missed_payment=date.fromisoformat(j["fm"]),
        collection_stage=j["cs"],
        borrower_notified_on=date.fromisoformat(j["n"]),
        reported_at=j["ra"],
        reported_on=date.fromisoformat(j["ro"]),
        status=Status(j["st"]),
        settled_on=_pd(j["so"]),
        settlement_kind=j["sk2"],
        withdrawn_reason=j["wr"],
        suppressed=j["sup"],
        erased=j["er"],
        disputes=tuple(map(_dispute_from_list, j["d"])),
        entries=tuple(j["e"]),
    )


def member_to_json(m: Member) -> str:
    return _to_json(
        {"name": m.name, "roles": sorted(m.roles), "suspended": m.suspended, "at": m.admitted_at}
    )


def member_from_json(member_id: str, text: str) -> Member:
    j = json.loads(text)
    return Member(member_id, j["name"], frozenset(j["roles"]), j["suspended"], j["at"])
