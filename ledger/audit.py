"""The regulator's audit: every leaf, link, signature, rule and root of a log, from its raw
entries and the checkpoint the operator signed over them.

``audit(entries, note, verifier, origin, as_of=...)`` reads ``(index, leaf bytes)`` pairs as the
storage holds them (an export's ``index``, a database's ``idx`` column, ``GetEntries``) and checks

* continuity: every index from 0 to the checkpoint's size once, in order (a missing row is a
  ``gap``, a row out of its place ``order``); each leaf's own index field (``index_field``);
* the hash chain (``chain``) and every leaf hash, folded into the RFC 6962 root, which must be
  the checkpoint's (``root``, ``size``), whose signature must verify under the log's key
  (``checkpoint_signature``); a previously saved checkpoint must be a prefix of this one
  (``consistency``: the root of the first ``saved.size`` leaves, computed on the way);
* every member signature (``signature``) under the key the registry held at that index
  (``key``: unknown, another member's, revoked, or a suspended member), and the lifecycle
  rules, by replaying each entry through ``records.apply`` exactly as the ledger admitted it
  (``rule``); undecodable leaves or payloads are ``malformed``;
* integration times (``time``): never going backwards, never after the audit's own clock (the
  operator writes them, and the rules that depend on the day are judged by them); a time no
  calendar holds is ``malformed``;
* as of ``as_of``: records past retention that were never erased (``retention``), and open
  disputes past their deadline (listed in ``overdue_disputes``; they do not fail the audit).

Signatures are verified in chunks on worker threads (libsodium releases the GIL) beside the
replay, which stays sequential: an entry's signature result does not hold up the entries after
it, so an entry whose signature fails has still been replayed. Pure: no I/O besides the
iterator it is given; ``indexed_leaves`` turns a storage's ``read_leaves`` into such pairs.

``audit_inquiries`` checks the inquiry log the same way (continuity, chain, root, checkpoint)
and counts lookups per member and purpose, flagging those without a consent reference or with
an unspecified purpose.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import multiprocessing
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.envelope import Envelope, verify_many
from arrears.ledger.errors import ArrearsError, EncodingError, InputError
from arrears.ledger.leaf import KEY_ID_SIZE, ZERO_HASH, Leaf
from arrears.ledger.merkle import EMPTY_ROOT, HASH_SIZE, CompactRange
from arrears.ledger.note import Verifier, open_note, split_note
from arrears.ledger.projection import entry_key, no_cyclic_gc
from arrears.ledger.records import (
    DEFAULT_RULES,
    PURPOSE_LABELS,
    PURPOSE_ROLES,
    Context,
    Member,
    MemoryState,
    NotPermitted,
    RecordRef,
    RecordState,
    Rules,
    Status,
    apply,
    decode_submission,
    dispute_overdue,
    parse_canonical,
    serve_until,
)
from arrears.v1 import events_pb2 as pb

# Faults in what the log is: any of them means the log is not the one that was signed, or
# holds an entry the rules would have refused.
INTEGRITY_KINDS = (
    "gap",
    "order",
    "index_field",
    "chain",
    "signature",
    "key",
    "rule",
    "root",
    "size",
    "checkpoint_signature",
    "consistency",
    "malformed",
    "time",
)
# Faults in what the log says, as of a day: the log is intact, the operator's duty is not done.
COMPLIANCE_KINDS = ("retention",)
# The inquiry log's own compliance findings.
INQUIRY_KINDS = ("consent", "purpose")
KINDS = INTEGRITY_KINDS + COMPLIANCE_KINDS

_INTEGRITY = frozenset(INTEGRITY_KINDS)
_DAY_US = 86_400_000_000
# Integration times: from 1970 to the day before the calendar's last (a day in any time zone).
_LAST_TIME_US = (date(9999, 12, 30) - date(1970, 1, 1)).days * _DAY_US
CLOCK_SKEW_US = 300_000_000
"""How far past the audit's own clock an entry may be dated before it is a ``time`` finding."""
PROCESS_FROM = 20_000  # entries: from here on, signatures are verified in a process of their own
_INQUIRY_KEY = bytes(KEY_ID_SIZE)


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One fault: its kind, the first index it concerns (None: the log as a whole) and what."""

    kind: str
    index: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "message": self.message}

    def __str__(self) -> str:
        where = "checkpoint" if self.index is None else f"index {self.index}"
        return f"{self.kind} at {where}: {self.message}"


@dataclass(frozen=True, slots=True)
class SavedCheckpoint:
    """The checkpoint an auditor audited last time: the next audit must extend it."""

    origin: str
    size: int
    root: bytes
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "arrears-audit-state/v1",
            "origin": self.origin,
            "tree_size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Any) -> SavedCheckpoint:
        try:
            if data.get("format") != "arrears-audit-state/v1":
                raise InputError("saved checkpoint: not an arrears-audit-state/v1 file")
            root = base64.b64decode(data["root"], validate=True)
            size = data["tree_size"]
            origin = data["origin"]
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise InputError(f"saved checkpoint: malformed ({e})") from None
        if not isinstance(size, int) or size < 0 or len(root) != HASH_SIZE:
            raise InputError("saved checkpoint: want a tree_size >= 0 and a 32-byte root")
        if not isinstance(origin, str) or not origin:
            raise InputError("saved checkpoint: origin required")
        return cls(origin, size, root, str(data.get("note", "")))


@dataclass(frozen=True, slots=True)
class OverdueDispute:
    record: str
    dispute_id: str
    opened_on: date
    opened_at: int  # ledger index of the DisputeOpened entry
    deadline: date  # the last day to answer it
    days_open: int  # as of the audit's day

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "dispute_id": self.dispute_id,
            "opened_on": self.opened_on.isoformat(),
            "opened_at": self.opened_at,
            "deadline": self.deadline.isoformat(),
            "days_open": self.days_open,
        }


@dataclass(frozen=True, slots=True)
class DisputeStat:
    record: str
    dispute_id: str
    opened_on: date
    outcome: str  # "open", "corrected", "withdrawn", "rejected"
    resolved_on: date | None
    days: int  # to resolution, or open so far (as of the audit's day)

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "dispute_id": self.dispute_id,
            "opened_on": self.opened_on.isoformat(),
            "outcome": self.outcome,
            "resolved_on": None if self.resolved_on is None else self.resolved_on.isoformat(),
            "days": self.days,
        }


def _label(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).lower().replace("_", "-")


LOAN_TYPE_LABELS = {
    v.number: _label(v.name, "LOAN_TYPE_")
    for v in pb.LoanType.DESCRIPTOR.values
    if v.number != pb.LOAN_TYPE_UNSPECIFIED
}
DPD_BUCKET_LABELS = {
    1: "1-30",
    2: "31-60",
    3: "61-90",
    4: "91-120",
    5: "121-150",
    6: "151-180",
    7: "over 180",
}
ROLE_LABELS = {v.number: _label(v.name, "ROLE_") for v in pb.Role.DESCRIPTOR.values}
_OUTCOMES: dict[int, str] = {
    pb.DISPUTE_OUTCOME_UNSPECIFIED: "open",
    pb.DISPUTE_OUTCOME_CORRECTED: "corrected",
    pb.DISPUTE_OUTCOME_WITHDRAWN: "withdrawn",
    pb.DISPUTE_OUTCOME_REJECTED: "rejected",
}


@dataclass
class AuditStats:
    """The figures of the report. Months are the consortium's calendar months ("YYYY-MM")."""

    events: Counter[str] = field(default_factory=Counter)  # entries by event kind
    entries_by_month: dict[str, Counter[str]] = field(default_factory=dict)  # month -> member
    defaults_by_loan_type: dict[str, int] = field(default_factory=dict)
    defaults_by_dpd_bucket: dict[str, int] = field(default_factory=dict)
    records_by_status: Counter[str] = field(default_factory=Counter)
    disputes: list[DisputeStat] = field(default_factory=list)
    erasures_by_month: Counter[str] = field(default_factory=Counter)
    expiries_by_month: Counter[str] = field(default_factory=Counter)  # retention end month
    members: int = 0
    keys: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "events": dict(sorted(self.events.items())),
            "entries_by_month": {
                m: dict(sorted(c.items())) for m, c in sorted(self.entries_by_month.items())
            },
            "defaults_by_loan_type": dict(self.defaults_by_loan_type),
            "defaults_by_dpd_bucket": dict(self.defaults_by_dpd_bucket),
            "records_by_status": dict(sorted(self.records_by_status.items())),
            "disputes": [d.to_json() for d in self.disputes],
            "erasures_by_month": dict(sorted(self.erasures_by_month.items())),
            "expiries_by_month": dict(sorted(self.expiries_by_month.items())),
            "members": self.members,
            "keys": self.keys,
        }


def _checkpoint_json(cp: Checkpoint | None) -> dict[str, Any] | None:
    if cp is None:
        return None
    return {"origin": cp.origin, "tree_size": cp.size, "root": base64.b64encode(cp.root).decode()}


@dataclass
class AuditResult:
    """What ``audit`` found. ``ok``: no finding at all; ``verified``: no integrity fault (the
    checkpoint verifies and the leaves are exactly the log it signs, every entry admissible)."""

    origin: str
    as_of: date
    ok: bool
    verified: bool
    size: int  # leaves audited
    root: bytes  # the root recomputed from them
    checkpoint: Checkpoint | None  # as the note states it (trusted only when verified)
    note: bytes
    first_fault: Finding | None
    findings: list[Finding]
    finding_counts: dict[str, int]
    overdue_disputes: list[OverdueDispute]
    stats: AuditStats
    saved: SavedCheckpoint | None
    seconds: float
    # member -> (integration time, may it look up from then on), in ledger order: see
    # ``audit_inquiries``
    lookup_rights: dict[str, list[RightsLine]] = field(default_factory=dict)

    @property
    def entries_per_second(self) -> float:
        return self.size / self.seconds if self.seconds > 0 else 0.0

    def to_save(self) -> SavedCheckpoint | None:
        """The checkpoint to keep for the next audit: only one that verified."""
        if not self.verified or self.checkpoint is None:
            return None
        cp = self.checkpoint
        return SavedCheckpoint(cp.origin, cp.size, cp.root, self.note.decode())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "arrears-audit/v1",
            "log": "ledger",
            "origin": self.origin,
            "as_of": self.as_of.isoformat(),
            "ok": self.ok,
            "verified": self.verified,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoint": _checkpoint_json(self.checkpoint),
            "first_fault": None if self.first_fault is None else self.first_fault.to_json(),
            "finding_counts": dict(self.finding_counts),
            "findings": [f.to_json() for f in self.findings],
            "overdue_disputes": [d.to_json() for d in self.overdue_disputes],
            "saved": None if self.saved is None else self.saved.to_json(),
            "seconds": round(self.seconds, 3),
            "stats": self.stats.to_json(),
        }


@dataclass
class InquiryAuditResult:
    """What ``audit_inquiries`` found."""

    origin: str
    ok: bool
    verified: bool
    size: int
    root: bytes
    checkpoint: Checkpoint | None
    note: bytes
    first_fault: Finding | None
    findings: list[Finding]
    finding_counts: dict[str, int]
    by_member_purpose: dict[str, Counter[str]]  # member -> purpose -> lookups
    by_month: dict[str, Counter[str]]  # month -> member -> lookups
    saved: SavedCheckpoint | None
    seconds: float

    def to_save(self) -> SavedCheckpoint | None:
        if not self.verified or self.checkpoint is None:
            return None
        cp = self.checkpoint
        return SavedCheckpoint(cp.origin, cp.size, cp.root, self.note.decode())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "arrears-audit/v1",
            "log": "inquiries",
            "origin": self.origin,
            "ok": self.ok,
            "verified": self.verified,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoint": _checkpoint_json(self.checkpoint),
            "first_fault": None if self.first_fault is None else self.first_fault.to_json(),
            "finding_counts": dict(self.finding_counts),
            "findings": [f.to_json() for f in self.findings],
            "by_member_purpose": {
                m: dict(sorted(c.items())) for m, c in sorted(self.by_member_purpose.items())
            },
            "by_month": {m: dict(sorted(c.items())) for m, c in sorted(self.by_month.items())},
            "saved": None if self.saved is None else self.saved.to_json(),
            "seconds": round(self.seconds, 3),
        }


# --- reading a storage -----------------------------------------------------------------------


def indexed_leaves(
    read_leaves: Callable[[int, int], Sequence[bytes]],
    start: int,
    end: int,
    *,
    chunk: int = 8192,
) -> Iterator[tuple[int, bytes]]:
    """``(index, leaf)`` pairs of a storage's rows ``start <= index < end``, from its
    ``read_leaves`` alone: a window that comes back short has rows missing, and is split until
    every row's index is known, so a deleted row shows as a gap rather than shifting the rest."""

    def window(a: int, b: int, got: Sequence[bytes]) -> Iterator[tuple[int, bytes]]:
        if len(got) == b - a:
            yield from zip(range(a, b), got, strict=True)
        elif got:
            if b - a == 1:  # one index, several rows: cannot happen with a primary key
                raise InputError(f"storage: {len(got)} rows at index {a}")
            mid = (a + b) // 2
            yield from window(a, mid, read_leaves(a, mid))
            yield from window(mid, b, read_leaves(mid, b))

    pos = start
    while pos < end:
        b = min(end, pos + chunk)
        yield from window(pos, b, read_leaves(pos, b))
        pos = b


# --- the parts of an audit -------------------------------------------------------------------


class _Findings:
    """Collects findings (at most ``limit`` kept, all counted) and the first fault."""

    def __init__(self, limit: int) -> None:
        self.items: list[Finding] = []
        self.counts: Counter[str] = Counter()
        self.limit = limit
        self.first: Finding | None = None  # the first integrity fault, by index
        self.first_other: Finding | None = None

    def add(self, kind: str, index: int | None, message: str) -> None:
        f = Finding(kind, index, message)
        self.counts[kind] += 1
        if len(self.items) < self.limit:
            self.items.append(f)
        if kind in _INTEGRITY:
            if _earlier(f, self.first):
                self.first = f
        elif _earlier(f, self.first_other):
            self.first_other = f

    def sorted(self) -> list[Finding]:
        return sorted(self.items, key=lambda f: (f.index is None, f.index or 0))


def _earlier(f: Finding, than: Finding | None) -> bool:
    if than is None:
        return True
    if f.index is None:
        return False
    return than.index is None or f.index < than.index


class _Tree:
    """Continuity, index fields, the hash chain and the Merkle tree of one log, row by row."""

    def __init__(self, findings: _Findings, size: int | None, saved_size: int | None) -> None:
        self.f = findings
        self.size = size  # the checkpoint's, when it could be read
        self.saved_size = saved_size
        self.prefix_root: bytes | None = EMPTY_ROOT if saved_size == 0 else None
        self.expected = 0
        self.prev: bytes | None = ZERO_HASH  # None: the predecessor is missing
        self.range = CompactRange()
        self.missing: list[list[int]] = []  # [start, end) ranges skipped so far
        self.beyond = False

    def take(self, index: int, data: bytes, leaf_hash: bytes) -> bool:
        """Check one row; True when the leaf stands in its own place (to be replayed)."""
        if self.size is not None and index >= self.size:
            if not self.beyond:
                self.f.add(
                    "size",
                    index,
                    f"entry {index} is past the checkpoint's tree size {self.size}",
                )
                self.beyond = True
            return False
        if index < self.expected:
            if self._arrived(index):
                message = f"entry {index} comes after entry {self.expected - 1}: out of order"
            else:
                message = f"entry {index} appears again after entry {self.expected - 1}"
            self.f.add("order", index, message)
            return False
        if index > self.expected:
            if len(self.missing) < 10_000:
                self.missing.append([self.expected, index])
            self.prev = None
        in_place = True
        if len(data) < 41:
            self.f.add("malformed", index, f"leaf: {len(data)} bytes is too short")
            in_place = False
        else:
            own = int.from_bytes(data[1:9], "big")
            chained = self.prev is not None and data[9:41] == self.prev
            if own != index:
                if chained:  # in its place, by the chain: only its index field is wrong
                    self.f.add("index_field", index, f"the leaf's index field says {own}")
                else:
                    self.f.add(
                        "order",
                        index,
                        f"row {index} holds the leaf of entry {own}: rows out of order",
                    )
                    in_place = False
            elif not chained and self.prev is not None:
                self.f.add(
                    "chain",
                    index,
                    f"previous-hash field does not match the hash of leaf {index - 1}",
                )
        self.prev = leaf_hash
        self.range.append(leaf_hash)
        if self.range.size == self.saved_size:
            self.prefix_root = self.range.root()
        self.expected = index + 1
        return in_place

    def _arrived(self, index: int) -> bool:
        """A row that was skipped turns up late: it is no longer missing."""
        for r in self.missing:
            a, b = r
            if a <= index < b:
                if index == a:
                    r[0] += 1
                elif index == b - 1:
                    r[1] -= 1
                else:
                    r[1] = index
                    self.missing.append([index + 1, b])
                self.missing = [m for m in self.missing if m[0] < m[1]]
                return True
        return False

    def finish(self, cp: Checkpoint | None, saved: SavedCheckpoint | None) -> bytes:
        f = self.f
        for a, b in sorted(self.missing):
            if b - a == 1:
                f.add("gap", a, f"entry {a} is missing")
            else:
                f.add("gap", a, f"entries {a} to {b - 1} are missing")
        root = self.range.root()
        if cp is not None:
            if self.expected < cp.size:
                f.add(
                    "size",
                    self.expected,
                    f"the checkpoint covers {cp.size} entries; the log ends after {self.expected}",
                )
            elif self.range.size != cp.size:
                f.add(
                    "size",
                    None,
                    f"{self.range.size} leaves where the checkpoint covers {cp.size}",
                )
            if root != cp.root:
                f.add(
                    "root",
                    None,
                    f"the root of the {self.range.size} leaves is {root.hex()[:16]}..., "
                    f"the checkpoint signs {cp.root.hex()[:16]}...",
                )
        if saved is not None:
            if cp is not None and saved.size > cp.size:
                f.add(
                    "consistency",
                    None,
                    f"the saved checkpoint (size {saved.size}) is larger than this one "
                    f"(size {cp.size}): the log went back",
                )
            elif self.prefix_root is None:
                f.add(
                    "consistency",
                    None,
                    f"only {self.range.size} leaves: cannot compare the saved checkpoint of "
                    f"size {saved.size}",
                )
            elif self.prefix_root != saved.root:
                f.add(
                    "consistency",
                    None,
                    f"the first {saved.size} leaves have root {self.prefix_root.hex()[:16]}..., "
                    f"not the saved checkpoint's {saved.root.hex()[:16]}...: another history",
                )
        return root


def _open_checkpoint(
    note: bytes, verifier: Verifier, origin: str, f: _Findings
) -> Checkpoint | None:
    """The checkpoint a note states, with findings for a bad signature or another origin. The
    body is read even when the signature fails, so the leaves can still be compared with it."""
    try:
        body, _ = split_note(note)
        cp = Checkpoint.parse(body)
    except ArrearsError as e:
        f.add("malformed", None, f"checkpoint: {e}")
        return None
    try:
        open_note(note, [verifier])
    except ArrearsError as e:
        f.add(
            "checkpoint_signature",
            None,
            f"the checkpoint does not verify under the log key {verifier.name}: {e}",
        )
    if cp.origin != origin:
        f.add("malformed", None, f"checkpoint: origin {cp.origin!r}, this log is {origin!r}")
    return cp


class _Months:
    """The consortium's month ("YYYY-MM") of an instant, cached by day."""

    def __init__(self, rules: Rules) -> None:
        self.offset_us = rules.utc_offset_minutes * 60_000_000
        self.cache: dict[int, str] = {}

    def __call__(self, at_us: int) -> str:
        day = (at_us + self.offset_us) // _DAY_US
        m = self.cache.get(day)
        if m is None:
            m = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m")
            self.cache[day] = m
        return m


SignatureItem = tuple[bytes, bytes, bytes, bytes]  # key id, payload, signature, public key


class _Times:
    """Integration times as the log's entries come: each on a day the calendar holds, none
    before the one before it, none after the audit's own clock (with ``CLOCK_SKEW_US``)."""

    def __init__(self, f: _Findings, now_us: int | None) -> None:
        self.f = f
        self.now_us = time.time_ns() // 1000 if now_us is None else now_us
        self.last, self.last_index = -1, -1

    def check(self, index: int, at_us: int) -> bool:
        """False for a time no calendar day holds (a ``malformed`` finding: the entry cannot
        be judged); a ``time`` finding, and True, for one out of order or in the future."""
        if not 0 <= at_us <= _LAST_TIME_US:
            self.f.add("malformed", index, f"integrated_at: {at_us} µs is no time of the calendar")
            return False
        if at_us < self.last:
            self.f.add(
                "time",
                index,
                f"integrated at {_iso(at_us)}, before entry {self.last_index} "
                f"({_iso(self.last)}): integration times never go backwards",
            )
        elif at_us > self.now_us + CLOCK_SKEW_US:
            self.f.add(
                "time",
                index,
                f"integrated at {_iso(at_us)}, after this audit's own time {_iso(self.now_us)}",
            )
        self.last, self.last_index = at_us, index  # one late entry is one finding, not many
        return True


def _iso(at_us: int) -> str:
    return datetime.fromtimestamp(at_us / 1e6, UTC).isoformat(timespec="seconds")


def verify_chunk(
    origin: str, items: Sequence[SignatureItem], workers: int
) -> list[tuple[int, str]]:
    """Verify a chunk of entry signatures; the failures as (position in the chunk, message).
    Runs in the signature worker (a thread, or a process of its own)."""
    pairs = [(Envelope(k, p, s), pk) for k, p, s, pk in items]
    errors = verify_many(origin, pairs, workers=workers)
    return [(i, str(e)) for i, e in enumerate(errors) if e is not None]


@dataclass
class _Chunk:
    indexes: list[int]
    items: list[SignatureItem]
    future: Future[list[tuple[int, str]]]


class _Signatures:
    """Chunks of signatures verified beside the replay.

    In a process of its own for long logs: libsodium releases the GIL while it verifies, but a
    thread needs the GIL back after every signature, and a busy replay thread hands it over
    only every switch interval (5 ms), so threads would verify a few hundred signatures a
    second while the replay runs. In that process ``verify_many`` runs on ``workers`` threads,
    which have the GIL to themselves. Short logs use a thread, sparing the process's start."""

    def __init__(
        self, origin: str, f: _Findings, workers: int, chunk: int, separate_process: bool
    ) -> None:
        self.origin = origin
        self.f = f
        self.workers = workers
        self.chunk = chunk
        self.items: list[SignatureItem] = []
        self.indexes: list[int] = []
        self.pending: deque[_Chunk] = deque()
        self.pool: Executor = ThreadPoolExecutor(1, thread_name_prefix="arrears-audit-signatures")
        if separate_process:
            try:
                process = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            except (OSError, ValueError, NotImplementedError):
                pass  # no processes here: a thread does it, more slowly
            else:
                self.pool.shutdown()
                self.pool = process

    def add(self, index: int, leaf: Leaf, public_key: bytes) -> None:
        self.items.append((leaf.key_id, leaf.payload, leaf.signature, public_key))
        self.indexes.append(index)
        if len(self.items) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.pending.append(_Chunk(self.indexes, self.items, self._submit(self.items)))
            self.items, self.indexes = [], []
        while self.pending and (self.pending[0].future.done() or len(self.pending) > 4):
            self._collect()

    def _submit(self, items: list[SignatureItem]) -> Future[list[tuple[int, str]]]:
        try:
            return self.pool.submit(verify_chunk, self.origin, items, self.workers)
        except BrokenExecutor:
            self._to_threads()
            return self.pool.submit(verify_chunk, self.origin, items, self.workers)

    def _to_threads(self) -> None:
        """The process could not run (say, a ``__main__`` it cannot import): use a thread."""
        if isinstance(self.pool, ProcessPoolExecutor):
            self.pool.shutdown(cancel_futures=True)
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="arrears-audit-signatures")

    def _collect(self) -> None:
        chunk = self.pending.popleft()
        try:
            failures = chunk.future.result()
        except BrokenExecutor:
            self._to_threads()
            for c in self.pending:
                c.future = self.pool.submit(verify_chunk, self.origin, c.items, self.workers)
            failures = verify_chunk(self.origin, chunk.items, self.workers)
        for position, message in failures:
            self.f.add("signature", chunk.indexes[position], message)

    def finish(self) -> None:
        self.flush()
        while self.pending:
            self._collect()
        self.pool.shutdown()

    def abort(self) -> None:
        self.pool.shutdown(cancel_futures=True)


# --- the ledger audit ------------------------------------------------------------------------


P = ParamSpec("P")
R = TypeVar("R")


def _no_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic garbage collector paused (see ``no_cyclic_gc``)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with no_cyclic_gc():
            return fn(*args, **kwargs)

    return wrapper


@_no_gc
def audit(
    entries: Iterable[tuple[int, bytes]],
    note: bytes,
    verifier: Verifier,
    origin: str,
    *,
    as_of: date,
    rules: Rules = DEFAULT_RULES,
    saved: SavedCheckpoint | None = None,
    workers: int = 2,
    chunk: int = 2048,
    separate_process: bool | None = None,
    max_findings: int = 1000,
    progress: Callable[[int], None] | None = None,
    now_us: int | None = None,
) -> AuditResult:
    """Audit a ledger: ``entries`` as stored, up to the size of the checkpoint ``note``.
    ``now_us``: the audit's own time (default: the clock's), which no entry may be dated after.

    Signatures are verified ``chunk`` at a time by ``verify_many`` on ``workers`` threads, in a
    process of their own when ``separate_process`` (by default: for logs of at least
    ``PROCESS_FROM`` entries)."""
    t0 = time.perf_counter()
    f = _Findings(max_findings)
    cp = _open_checkpoint(note, verifier, origin, f)
    if saved is not None and saved.origin != origin:
        raise InputError(f"saved checkpoint: of log {saved.origin!r}, not {origin!r}")
    tree = _Tree(f, None if cp is None else cp.size, None if saved is None else saved.size)
    state = MemoryState()
    stats = AuditStats()
    rights: dict[str, list[RightsLine]] = {}
    month_of = _Months(rules)
    times = _Times(f, now_us)
    # The records as they stood at the end of ``as_of`` (the consortium's day) are the ones
    # judged: a record erased only later was overdue on that day.
    day_after = (as_of.toordinal() + 1 - date(1970, 1, 1).toordinal()) * _DAY_US
    as_of_end_us = day_after - rules.utc_offset_minutes * 60_000_000
    records_then: dict[RecordRef, RecordState] | None = None
    if separate_process is None:
        separate_process = cp is not None and cp.size >= PROCESS_FROM
    sigs = _Signatures(origin, f, workers, chunk, separate_process)
    sha256 = hashlib.sha256
    take = tree.take
    append = tree.range.append
    limit = (1 << 63) if cp is None else cp.size
    saved_size = -1 if saved is None else saved.size
    add_finding = f.add
    submissions = state.submissions
    keys = state.keys
    events = stats.events
    by_month = stats.entries_by_month
    seen = 0
    try:
        for index, data in entries:
            seen += 1
            if progress is not None and seen % chunk == 0:
                progress(seen)
            h = sha256(b"\x00" + data).digest()
            # The common case inline: the next row, carrying its own index, chained to the
            # one before. Anything else goes through the tree's full checks.
            if (
                index == tree.expected
                and index < limit
                and data[9:41] == tree.prev
                and int.from_bytes(data[1:9], "big") == index
            ):
                tree.prev = h
                append(h)
                tree.expected = index + 1
                if tree.range.size == saved_size:
                    tree.prefix_root = tree.range.root()
            elif not take(index, data, h):
                continue
            try:
                leaf = Leaf.decode(data)
                sub = decode_submission(leaf.payload)
            except ArrearsError as e:
                add_finding("malformed", index, str(e))
                continue
            if not times.check(index, leaf.integrated_at_us):
                continue
            if records_then is None and leaf.integrated_at_us >= as_of_end_us:
                records_then = dict(state.records)
            kind = sub.WhichOneof("event")
            member_id = sub.member_id
            month = month_of(leaf.integrated_at_us)
            events[str(kind)] += 1
            c = by_month.get(month)
            if c is None:
                c = by_month[month] = Counter()
            c[member_id] += 1
            try:
                public_key = entry_key(state, index, leaf, sub)
            except NotPermitted as e:
                add_finding("key", index, str(e))
                known = keys.get(leaf.key_id)
                if known is not None:
                    sigs.add(index, leaf, known.public_key)
                continue
            if public_key:
                sigs.add(index, leaf, public_key)
            prior = submissions.get((member_id, sub.submission_id))
            if prior is not None:
                add_finding(
                    "rule",
                    index,
                    f"submission.submission_id: {sub.submission_id!r} of {member_id} was used "
                    f"at index {prior}",
                )
                continue
            try:
                changes = apply(
                    state,
                    sub,
                    Context(index, leaf.integrated_at_us, rules),
                    genesis_key=public_key,
                )
            except ArrearsError as e:
                rule = getattr(e, "rule", "")
                add_finding("rule", index, f"{rule + ': ' if rule else ''}{e}")
                continue
            state.apply_changes(changes)
            for m in changes.members.values():
                _note_right(rights, m, leaf.integrated_at_us)
            if kind == "record_erased":
                stats.erasures_by_month[month] += 1
        sigs.finish()
    except BaseException:
        sigs.abort()
        raise
    if progress is not None:
        progress(seen)
    root = tree.finish(cp, saved)
    overdue = _records(
        state.records if records_then is None else records_then, stats, f, as_of, rules
    )
    stats.members = len(state.members)
    stats.keys = len(state.keys)
    first = f.first or f.first_other
    return AuditResult(
        origin=origin,
        as_of=as_of,
        ok=first is None,
        verified=f.first is None,
        size=tree.range.size,
        root=root,
        checkpoint=cp,
        note=note,
        first_fault=first,
        findings=f.sorted(),
        finding_counts=dict(f.counts),
        overdue_disputes=overdue,
        stats=stats,
        saved=saved,
        seconds=time.perf_counter() - t0,
        lookup_rights=rights,
    )


RightsLine = tuple[int, bool, frozenset[int]]
"""From a time on: whether the member may look subjects up, and its roles."""


def _note_right(rights: dict[str, list[RightsLine]], m: Member, at_us: int) -> None:
    """Note whether ``m`` may look subjects up from ``at_us`` on: an admitted member, not
    suspended, holding the lender role (lookups) or the operator role (subjects' own reports);
    and its roles (some purposes are some roles' only)."""
    may = not m.suspended and (m.has(pb.ROLE_LENDER) or m.has(pb.ROLE_OPERATOR))
    line = rights.setdefault(m.member_id, [])
    if not line or line[-1][1:] != (may, m.roles):
        line.append((at_us, may, m.roles))


LOOKUP_GRACE_US = 60_000_000
"""How long after losing the right to look up a member's lookup may still be recorded without
a finding: the server checks the role when a call arrives and records the lookup when it
answers, so a suspension can be integrated in between."""


class _Rights:
    """Who could look subjects up when, from a ledger audit's ``lookup_rights``."""

    def __init__(self, rights: Mapping[str, Sequence[RightsLine]]) -> None:
        self.lines = {
            m: ([t for t, _, _ in line], [v for _, v, _ in line], [r for _, _, r in line])
            for m, line in rights.items()
        }

    def problem(self, member_id: str, at_us: int) -> str | None:
        """Why ``member_id`` could not have looked anyone up at ``at_us``, or None."""
        line = self.lines.get(member_id)
        if line is None:
            return "not a member of the ledger"
        times, may, _ = line
        # Any time in the grace window before the lookup: the right as it stood when the
        # window opened, and every change within it (changes at one instant included).
        first = max(0, bisect.bisect_right(times, at_us - LOOKUP_GRACE_US) - 1)
        last = bisect.bisect_right(times, at_us)
        if any(may[first:last]):
            return None
        if at_us < times[0]:
            return "not yet admitted"
        return "suspended, or holding neither the lender nor the operator role"

    def purpose_problem(self, member_id: str, purpose: int, at_us: int) -> str | None:
        """Why ``member_id`` could not look up for ``purpose`` at ``at_us`` (a purpose some
        roles only may give), or None."""
        allowed = PURPOSE_ROLES.get(purpose)
        line = self.lines.get(member_id)
        if not allowed or line is None:
            return None
        times, _, roles = line
        i = bisect.bisect_right(times, at_us) - 1
        if i >= 0 and roles[i] & set(allowed):
            return None
        return f"a purpose for the {' or '.join(ROLE_LABELS[r] for r in allowed)} only"


def _records(
    records: Mapping[RecordRef, RecordState],
    stats: AuditStats,
    f: _Findings,
    as_of: date,
    rules: Rules,
) -> list[OverdueDispute]:
    """Retention, disputes and the record figures, from the replayed records as they stood
    at the end of ``as_of``."""
    loan_types = Counter[int]()
    buckets = Counter[int]()
    overdue: list[OverdueDispute] = []
    recs: list[RecordState] = sorted(records.values(), key=lambda r: r.reported_at)
    for rec in recs:
        stats.records_by_status["erased" if rec.erased else rec.status.value] += 1
        if rec.status is not Status.WITHDRAWN:
            loan_types[rec.loan_type] += 1
            buckets[rec.dpd_bucket] += 1
        try:
            until = serve_until(rec, rules)
        except (ValueError, OverflowError):
            f.add("rule", rec.reported_at, f"record {rec.ref}: retention ends past the calendar")
            until = None
        if until is not None and as_of >= until:
            stats.expiries_by_month[until.strftime("%Y-%m")] += 1
            if not rec.erased:
                f.add(
                    "retention",
                    rec.reported_at,
                    f"record {rec.ref}: settled on {rec.settled_on}, retention ended on "
                    f"{until}, and it was never erased ({(as_of - until).days} days over)",
                )
        for d in rec.disputes:
            end = d.resolved_on if d.resolved_on is not None else as_of
            stats.disputes.append(
                DisputeStat(
                    str(rec.ref),
                    d.dispute_id,
                    d.opened_on,
                    _OUTCOMES.get(d.outcome, str(d.outcome)),
                    d.resolved_on,
                    max(0, (end - d.opened_on).days),
                )
            )
            try:
                late = not rec.erased and dispute_overdue(d, as_of, rules)
            except OverflowError:
                f.add(
                    "rule",
                    rec.reported_at,
                    f"record {rec.ref}: dispute {d.dispute_id}'s deadline is past the calendar",
                )
                late = False
            if late:
                overdue.append(
                    OverdueDispute(
                        str(rec.ref),
                        d.dispute_id,
                        d.opened_on,
                        d.opened_at,
                        d.opened_on + timedelta(days=rules.dispute_deadline_days),
                        (as_of - d.opened_on).days,
                    )
                )
    stats.defaults_by_loan_type = {
        label: loan_types.get(n, 0) for n, label in LOAN_TYPE_LABELS.items()
    }
    stats.defaults_by_dpd_bucket = {
        label: buckets.get(n, 0) for n, label in DPD_BUCKET_LABELS.items()
    }
    return overdue


# --- the inquiry log audit -----------------------------------------------------------------


def _decode_inquiry(payload: bytes) -> pb.Inquiry:
    q = pb.Inquiry()
    if problem := parse_canonical(q, payload):
        raise EncodingError(f"payload: {problem}")
    return q


def audit_inquiries(
    entries: Iterable[tuple[int, bytes]],
    note: bytes,
    verifier: Verifier,
    *,
    rules: Rules = DEFAULT_RULES,
    saved: SavedCheckpoint | None = None,
    max_findings: int = 1000,
    chunk: int = 8192,
    progress: Callable[[int], None] | None = None,
    lookup_rights: Mapping[str, Sequence[RightsLine]] | None = None,
    now_us: int | None = None,
) -> InquiryAuditResult:
    """Audit the inquiry log (origin: the verifier's key name, ``<ledger origin>/inquiries``):
    continuity, chain, root and checkpoint as for the ledger; each leaf must be a server-made
    inquiry (no key id, no signature) with a canonical payload; lookups are counted per member
    and purpose, and those with an empty consent reference or an unspecified purpose flagged.
    With ``lookup_rights`` (from ``audit`` of the ledger: ``AuditResult.lookup_rights``), each
    lookup's member must have been able to look subjects up when the lookup was integrated
    (``member`` findings; ``LOOKUP_GRACE_US`` of grace after losing that right)."""
    t0 = time.perf_counter()
    origin = verifier.name
    f = _Findings(max_findings)
    cp = _open_checkpoint(note, verifier, origin, f)
    if saved is not None and saved.origin != origin:
        raise InputError(f"saved checkpoint: of log {saved.origin!r}, not {origin!r}")
    tree = _Tree(f, None if cp is None else cp.size, None if saved is None else saved.size)
    month_of = _Months(rules)
    by_member: dict[str, Counter[str]] = {}
    by_month: dict[str, Counter[str]] = {}
    rights = None if lookup_rights is None else _Rights(lookup_rights)
    times = _Times(f, now_us)
    sha256 = hashlib.sha256
    seen = 0
    for index, data in entries:
        seen += 1
        if progress is not None and seen % chunk == 0:
            progress(seen)
        if not tree.take(index, data, sha256(b"\x00" + data).digest()):
            continue
        try:
            leaf = Leaf.decode(data)
            if leaf.key_id != _INQUIRY_KEY or leaf.signature:
                raise EncodingError("an inquiry leaf has no key id and no signature")
            q = _decode_inquiry(leaf.payload)
        except ArrearsError as e:
            f.add("malformed", index, str(e))
            continue
        if not times.check(index, leaf.integrated_at_us):
            continue
        member_id = q.member_id or "(none)"
        purpose = PURPOSE_LABELS.get(q.purpose, str(q.purpose))
        by_member.setdefault(member_id, Counter())[purpose] += 1
        by_month.setdefault(month_of(leaf.integrated_at_us), Counter())[member_id] += 1
        if q.purpose == pb.PURPOSE_UNSPECIFIED or q.purpose not in PURPOSE_LABELS:
            f.add("purpose", index, f"lookup by {member_id} without a purpose ({purpose})")
        if not q.consent_reference.strip():
            f.add("consent", index, f"lookup by {member_id} without a consent reference")
        if rights is not None and (why := rights.problem(q.member_id, leaf.integrated_at_us)):
            f.add("member", index, f"lookup by {member_id} at {_iso(leaf.integrated_at_us)}: {why}")
        elif rights is not None and (
            why := rights.purpose_problem(q.member_id, q.purpose, leaf.integrated_at_us)
        ):
            f.add("purpose", index, f"lookup by {member_id} for {purpose}: {why}")
    if progress is not None:
        progress(seen)
    root = tree.finish(cp, saved)
    first = f.first or f.first_other
    return InquiryAuditResult(
        origin=origin,
        ok=first is None,
        verified=f.first is None,
        size=tree.range.size,
        root=root,
        checkpoint=cp,
        note=note,
        first_fault=first,
        findings=f.sorted(),
        finding_counts=dict(f.counts),
        by_member_purpose=by_member,
        by_month=by_month,
        saved=saved,
        seconds=time.perf_counter() - t0,
    )
