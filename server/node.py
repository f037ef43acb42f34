"""The server's working parts, without gRPC: the ledger writer, the inquiry log, the OPRF key,
lookups with their evidence, receipts, and watch alerts.

The gRPC services in ``arrears.server.service`` translate requests to calls here and errors to
statuses; everything here is synchronous and runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.ledger import schema
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InputError, SignatureError
from arrears.ledger.leaf import Leaf
from arrears.ledger.ledger import Ledger, record_refs
from arrears.ledger.log import Appended, Clock, Entry, Log, Sequenced, system_clock_us
from arrears.ledger.note import CosignatureVerifier, Ed25519Signer, add_signatures, split_note
from arrears.ledger.oprf import Mode, ServerKey
from arrears.ledger.pseudonym import new_salts, subject_commitments
from arrears.ledger.records import (
    ALERT_EVENTS,
    DEFAULT_RULES,
    PURPOSE_ROLES,
    Changes,
    Member,
    NotPermitted,
    RecordRef,
    RecordState,
    Rules,
    decode_submission,
    served,
)
from arrears.ledger.sql import SqlStorage
from arrears.ledger.storage import Head
from arrears.ledger.tiles import (
    NodeCache,
    consistency_proof,
    inclusion_proofs,
    run_inclusion_proofs,
)
from arrears.ledger.tlogproof import tlog_proof_texts
from arrears.server.errors import NotFound
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb

log = logging.getLogger("arrears.server")

PSEUDONYM_SIZE = 36
MAX_REFERENCE = 128
_ZERO_KEY = bytes(32)
_PURPOSES = frozenset(pb.Purpose.values()) - {pb.PURPOSE_UNSPECIFIED}


def check_pseudonym(name: str, p: bytes, epoch: int) -> bytes:
    if len(p) != PSEUDONYM_SIZE:
        raise InputError(f"{name}: a pseudonym is {PSEUDONYM_SIZE} bytes, got {len(p)}")
    if int.from_bytes(p[:4], "big") != epoch:
        raise InputError(
            f"{name}: pseudonym is from key epoch {int.from_bytes(p[:4], 'big')}, "
            f"the current epoch is {epoch}"
        )
    return p


def check_reference(name: str, value: str) -> str:
    if not value or not value.strip():
        raise InputError(f"{name}: required")
    if len(value) > MAX_REFERENCE or not value.isprintable():
        raise InputError(f"{name}: at most {MAX_REFERENCE} printable characters")
    return value


class Lookup(NamedTuple):
    """One subject looked up: who asks, about whom, why, under which consent. Each becomes
    one inquiry-log entry."""

    member_id: str
    pseudonym: bytes
    purpose: int
    consent_reference: str


def inquiry_payload(
    member_id: str, at_unix_ms: int, commitment: bytes, purpose: int, consent_reference: str
) -> bytes:
    """An inquiry-log entry's payload: the deterministic serialisation of ``pb.Inquiry``."""
    return pb.Inquiry(
        member_id=member_id,
        at_unix_ms=at_unix_ms,
        subject_commitment=commitment,
        purpose=purpose,  # type: ignore[arg-type]
        consent_reference=consent_reference,
    ).SerializeToString(deterministic=True)


# The key and length of ``subject_commitment`` (field 3) for a 32-byte commitment.
_COMMITMENT_FIELD = inquiry_payload("", 0, _ZERO_KEY, 0, "")[: -len(_ZERO_KEY)]


def inquiry_payload_frame(
    member_id: str, at_unix_ms: int, purpose: int, consent_reference: str
) -> tuple[bytes, bytes]:
    """What goes before and after a 32-byte commitment in ``inquiry_payload``, so that one
    caller's many inquiries are framed once. Deterministic serialisation writes fields in field
    number order, each encoded independently, so fields 1-2, then field 3, then fields 4-5 make
    the same bytes as the whole message (tests pin it on many inputs)."""
    head = inquiry_payload(member_id, at_unix_ms, b"", 0, "")
    tail = inquiry_payload("", 0, b"", purpose, consent_reference)
    return head + _COMMITMENT_FIELD, tail


class InquirySequencer:
    """Turns lookups into inquiry-log entries: the subject as a fresh commitment, its opening
    in the deletable inquiry index, committed together."""

    def sequence(self, items: Sequence[Any], first_index: int, now_us: int) -> Sequenced:
        at_unix_ms = now_us // 1000
        pseudonyms = [q.pseudonym for q in items]
        salts = new_salts(len(items))  # a fresh salt for every inquiry, never shared
        commitments = subject_commitments(salts, pseudonyms)
        frames: dict[tuple[str, int, str], tuple[bytes, bytes]] = {}
        entries: list[Entry] = []
        changes = Changes()
        openings = changes.inquiries
        for i, q in enumerate(items):
            key = (q.member_id, q.purpose, q.consent_reference)
            frame = frames.get(key)
            if frame is None:
                frame = frames[key] = inquiry_payload_frame(
                    q.member_id, at_unix_ms, q.purpose, q.consent_reference
                )
            entries.append(Entry(_ZERO_KEY, frame[0] + commitments[i] + frame[1], b""))
            openings[first_index + i] = (pseudonyms[i], salts[i])
        return Sequenced(entries, list(range(len(items))), changes)

    def committed(self, batch: Sequenced) -> None:
        pass

    def aborted(self, batch: Sequenced) -> None:
        pass


WATCH_QUEUE = 1000  # alerts held for one watch stream; beyond that it catches up from the ledger
REPLAY_WINDOW = 2000  # entries read at a time when a stream catches up


@dataclass
class _Subscriber:
    """One watch stream's live alerts. The queue is bounded: a stream that falls further
    behind drops what does not fit, and replays it from the ledger once the queue is empty
    (``behind``), so a watcher that stops reading costs the server a fixed amount of memory
    and still misses nothing."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[spb.Alert]
    behind: bool = False

    def offer(self, alerts: Sequence[spb.Alert]) -> None:
        """Queue ``alerts`` (on the stream's loop). Once one alert did not fit, later ones are
        dropped too, until the stream has caught up: the queue stays in ledger order."""
        for alert in alerts:
            if self.behind:
                return
            try:
                self.queue.put_nowait(alert)
            except asyncio.QueueFull:
                self.behind = True


@dataclass
class WatchHub:
    """Who watches which pseudonym, and the live alert streams."""

    storage: SqlStorage
    watched: dict[bytes, dict[str, str]] = field(default_factory=dict)  # pseudonym -> m -> ref
    commitments: dict[bytes, bytes] = field(default_factory=dict)  # commitment -> pseudonym
    subscribers: dict[str, list[_Subscriber]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        for member_id, p, ref in self.storage.load_watches():
            self.watched.setdefault(p, {})[member_id] = ref
        self.commitments.update(self.storage.commitments_for_pseudonyms(list(self.watched)))

    def note(self, openings: Mapping[bytes, tuple[bytes, bytes]]) -> None:
        """Remember which new commitments (commitment: (pseudonym, salt)) are about a watched
        pseudonym."""
        mine = {c: o[0] for c, o in openings.items() if o[0] in self.watched}
        if mine:
            with self.lock:
                self.commitments.update(mine)

    def register(self, member_id: str, regs: Sequence[tuple[bytes, str]], at_us: int) -> None:
        self.storage.add_watches(member_id, regs, at_us)
        found = self.storage.commitments_for_pseudonyms([p for p, _ in regs])
        with self.lock:
            for p, ref in regs:
                self.watched.setdefault(p, {})[member_id] = ref
            self.commitments.update(found)

    def unregister(self, member_id: str, pseudonyms: Sequence[bytes]) -> int:
        n = self.storage.remove_watches(member_id, pseudonyms)
        with self.lock:
            for p in pseudonyms:
                self.watched.get(p, {}).pop(member_id, None)
        return n

    def watchers(self, commitment: bytes) -> tuple[bytes, dict[str, str]] | None:
        p = self.commitments.get(commitment)
        if p is None:
            return None
        return p, dict(self.watched.get(p, {}))


def _prefix(rows: list[tuple[RecordState, bytes]], size: int) -> list[tuple[RecordState, bytes]]:
    """The records as of a tree size: those reported before it, with their earlier entries."""
    out = []
    for r, salt in rows:
        entries = tuple(e for e in r.entries if e < size)
        if entries:
            out.append((r._replace(entries=entries), salt))
    return out


@dataclass
class CheckResult:
    pseudonym: bytes
    records: list[tuple[RecordState, bytes]]  # served records with their salts
    inquiry_index: int


class Node:
    """One arrears server's state. Thread-safe; blocking calls run in worker threads."""

    def __init__(
        self,
        storage: SqlStorage,
        log_key: Ed25519PrivateKey,
        *,
        origin: str,
        oprf_seed: bytes,
        oprf_epoch: int = 1,
        operator_id: str = "operator",
        rules: Rules = DEFAULT_RULES,
        clock: Clock = system_clock_us,
        max_batch: int = 4096,
        watch_queue: int = WATCH_QUEUE,
    ) -> None:
        self.storage = storage
        self.watch_queue = watch_queue
        self.origin = origin
        self.rules = rules
        self.clock = clock
        self.operator_id = operator_id
        self.log_signer = Ed25519Signer(origin, log_key)
        self.ledger = Ledger(
            storage, self.log_signer, origin=origin, rules=rules, clock=clock, max_batch=max_batch
        )
        self.inquiry_signer = Ed25519Signer(f"{origin}/inquiries", log_key)
        self.inquiry_storage = storage.sibling(schema.INQUIRIES)
        self.inquiries = Log(
            self.inquiry_storage, self.inquiry_signer, clock=clock, sequencer=InquirySequencer()
        )
        self.nodes = NodeCache(storage.read_tiles)
        self.oprf_epoch = oprf_epoch
        self.oprf = ServerKey.derive(oprf_seed, b"arrears/oprf/epoch/%d" % oprf_epoch, Mode.VOPRF)
        self.watch = WatchHub(storage)
        self.watch.load()
        self.ledger.listeners.append(self._alert)

    # --- time --------------------------------------------------------------------------

    def today(self) -> date:
        return self.rules.day(self.clock())

    # --- submissions -------------------------------------------------------------------

    def receipts(
        self, appended: Sequence[Appended], into: Sequence[spb.Receipt], texts: bool = True
    ) -> None:
        """Fill ``into`` (empty messages, e.g. the receipt fields of an answer's results) with
        the receipts of ``appended``: inclusion proofs grouped by tree size, the proofs of each
        run of consecutive entries from their leaf hashes and the few nodes around them.
        ``texts=False`` leaves out the tlog-proof texts (the client makes them)."""
        runs: list[tuple[int, int, list[int]]] = []  # tree size, first index, positions
        for i in sorted(
            range(len(appended)), key=lambda i: (appended[i].tree_size, appended[i].index)
        ):
            a = appended[i]
            if (
                runs
                and runs[-1][0] == a.tree_size
                and runs[-1][1] + len(runs[-1][2]) == a.index
                and appended[runs[-1][2][0]].checkpoint == a.checkpoint
            ):
                runs[-1][2].append(i)
            else:
                runs.append((a.tree_size, a.index, [i]))
        for size, first, positions in runs:
            hashes = [appended[i].leaf_hash for i in positions]
            proofs = run_inclusion_proofs(first, hashes, size, self.nodes)
            # A run shares one checkpoint (the same signed note).
            lines = (
                tlog_proof_texts(
                    range(first, first + len(positions)), proofs, appended[positions[0]].checkpoint
                )
                if texts
                else [""] * len(positions)
            )
            for i, proof, text in zip(positions, proofs, lines, strict=True):
                a, r = appended[i], into[i]
                r.index, r.leaf, r.leaf_hash, r.tree_size = a.index, a.leaf, a.leaf_hash, size
                r.inclusion_proof.extend(proof)
                r.checkpoint = a.checkpoint
                r.tlog_proof = text
                r.replayed = a.replayed

    # --- lookups -----------------------------------------------------------------------

    def check(
        self, lookups: Sequence[Lookup], *, cosigned: bool = False, served_only: bool = True
    ) -> tuple[list[CheckResult | BaseException], Head]:
        """Look subjects up as of today; every lookup is recorded in the inquiry log (durably,
        before the answer is given). The lookups are checked beforehand (``check_lookup``); they
        may come from different members and calls, and share one records query, one inquiry
        commit and one ledger head. Returns, in order, each lookup's result (or why its inquiry
        could not be recorded) and the head they prove to: the latest, or with ``cosigned`` the
        latest checkpoint witnesses cosigned (and only entries it covers)."""
        found = self.storage.records_for_pseudonyms(
            list(dict.fromkeys(q.pseudonym for q in lookups))
        )
        newest = max((e for rows in found.values() for r, _ in rows for e in r.entries), default=-1)
        head = self.ledger.log.wait_for_size(newest + 1)
        if cosigned:
            size, note = self.latest_cosigned(spb.LOG_NAME_LEDGER)
            cp = self.storage.checkpoint_at(size)
            assert cp is not None
            head = Head(size, Checkpoint.parse(split_note(cp)[0]).root, note)
            found = {p: _prefix(rows, size) for p, rows in found.items()}
        as_of = self.today()
        # Through the inquiry log's group commit: concurrent lookups share one transaction,
        # and each answer waits until its inquiries are durable.
        outcomes = self.inquiries.submit_many(lookups).result()
        results: list[CheckResult | BaseException] = []
        for q, o in zip(lookups, outcomes, strict=True):
            if isinstance(o, BaseException):
                results.append(o)
                continue
            rows = found.get(q.pseudonym, [])
            if served_only:
                rows = [(r, s) for r, s in rows if served(r, as_of, self.rules)]
            results.append(CheckResult(q.pseudonym, rows, o.index))
        return results, head

    def check_lookup(
        self,
        pseudonyms: Sequence[bytes],
        purpose: int,
        consent: str,
        reference: str = "consent_reference",
        at: str = "",
        member: Member | None = None,
    ) -> None:
        """Refuse a malformed lookup before it costs anything (quota, an inquiry). ``consent``
        is the field named ``reference`` (a subject's own request names its request); ``at``
        is where the lookup sits in the request (``checks[3].``), for the messages. With
        ``member``, the purpose must be one its roles allow."""
        if purpose not in _PURPOSES:
            raise InputError(f"{at}purpose: required (e.g. PURPOSE_LOAN_ORIGINATION)")
        roles = PURPOSE_ROLES.get(purpose)
        if member is not None and roles and not any(member.has(r) for r in roles):
            raise NotPermitted(
                "purpose",
                f"{at}purpose: {pb.Purpose.Name(purpose)} is for "
                f"{' or '.join(pb.Role.Name(r) for r in roles)}; {member.member_id} has neither",
            )
        check_reference(at + reference, consent)
        epoch = self.oprf_epoch.to_bytes(4, "big")
        for i, p in enumerate(pseudonyms):
            if len(p) != PSEUDONYM_SIZE or p[:4] != epoch:  # the name is built for the error only
                name = f"pseudonyms[{i}]" if len(pseudonyms) > 1 else "pseudonym"
                check_pseudonym(at + name, p, self.oprf_epoch)

    def inquiry_evidence(self, pseudonym: bytes) -> tuple[Head, list[spb.InquiryEvidence]]:
        """Every lookup of a subject, with inclusion proofs in the inquiry log."""
        rows = self.inquiry_storage.inquiries_for_pseudonym(pseudonym)
        head = self.inquiries.wait_for_size(max((i for i, _ in rows), default=-1) + 1)
        if not rows:
            return head, []
        indexes = [i for i, _ in rows]
        leaves = self.inquiry_storage.read_leaves_at(indexes)
        proofs = inclusion_proofs(indexes, head.size, NodeCache(self.inquiry_storage.read_tiles))
        return head, [
            spb.InquiryEvidence(index=i, leaf=leaves[i], salt=salt, inclusion_proof=proof)
            for (i, salt), proof in zip(rows, proofs, strict=True)
        ]

    def evidence(
        self, results: Sequence[CheckResult | BaseException], tree_size: int
    ) -> dict[int, tuple[bytes, list[bytes]]]:
        """Leaves and inclusion proofs for every entry of every record in the results."""
        indexes = sorted(
            {
                e
                for res in results
                if isinstance(res, CheckResult)
                for r, _ in res.records
                for e in r.entries
            }
        )
        if not indexes:
            return {}
        leaves = self.storage.read_leaves_at(indexes)
        proofs = inclusion_proofs(indexes, tree_size, self.nodes)
        return {i: (leaves[i], p) for i, p in zip(indexes, proofs, strict=True)}

    def overdue_disputes(self) -> list[tuple[RecordRef, str]]:
        """Open disputes past their deadline as of today."""
        deadline = self.today() - timedelta(days=self.rules.dispute_deadline_days)
        return self.storage.open_disputes_before(deadline.isoformat())

    # --- the two logs, and witnesses' cosignatures ---------------------------------------

    def log_for(self, name: int) -> Log:
        return self.inquiries if name == spb.LOG_NAME_INQUIRIES else self.ledger.log

    def storage_for(self, name: int) -> SqlStorage:
        return self.inquiry_storage if name == spb.LOG_NAME_INQUIRIES else self.storage

    def cosigned_note(self, name: int, size: int) -> bytes:
        """The checkpoint signed at ``size``, with every witness cosignature it has."""
        storage = self.storage_for(name)
        note = storage.checkpoint_at(size)
        if note is None:
            raise NotFound(f"tree_size: no checkpoint was signed at size {size}")
        lines = storage.cosignature_lines(size)
        if not lines:
            return note
        extra = [s for line in lines for s in split_note(note + line.encode())[1][-1:]]
        return add_signatures(note, extra)

    def latest_cosigned(self, name: int) -> tuple[int, bytes]:
        size = self.storage_for(name).latest_cosigned_size()
        if size is None:
            raise NotFound("checkpoint: no witness has cosigned a checkpoint yet")
        return size, self.cosigned_note(name, size)

    def add_cosignature(self, member_id: str, name: int, size: int, line: str) -> bytes:
        """Check and keep a witness's cosignature/v1 line over the checkpoint at ``size``."""
        storage = self.storage_for(name)
        head = self.log_for(name).head().size
        note = storage.checkpoint_at(size) if size <= head else None
        if note is None:
            raise NotFound(f"tree_size: no checkpoint was signed at size {size}")
        if not line.endswith("\n"):
            line += "\n"
        _, sigs = split_note(note + line.encode())
        sig = sigs[-1]
        if len(sigs) != 2 or sig.name != member_id:
            raise InputError(
                f"signature_line: one cosignature line by the caller ({member_id}), named as such"
            )
        keys = [
            CosignatureVerifier(member_id, k.public_key)
            for k in self.ledger.registry.member_keys(member_id)
            if k.revoked_at is None
        ]
        verifier = next((v for v in keys if v.key_id == sig.key_id), None)
        if verifier is None:
            raise SignatureError(
                f"signature_line: key {sig.key_id:08x} is not a cosignature key of {member_id}"
            )
        body, _ = split_note(note)
        if not verifier.verify(body, sig.signature):
            raise SignatureError("signature_line: the cosignature does not verify")
        storage.add_cosignature(size, member_id, line, self.clock())
        return self.cosigned_note(name, size)

    def consistency(
        self, known_size: int, size: int, name: int = spb.LOG_NAME_LEDGER
    ) -> list[bytes]:
        if known_size == 0 or known_size >= size:
            if known_size > size:
                raise InputError(f"known_tree_size: {known_size} is beyond the log's {size}")
            return []
        return consistency_proof(known_size, size, self.storage_for(name).read_tiles)

    # --- watching ----------------------------------------------------------------------

    def subscribe(self, member_id: str, loop: asyncio.AbstractEventLoop) -> _Subscriber:
        """A live alert stream for ``member_id``. It starts behind: it first catches up from
        the ledger (what came after its cursor), and drops live alerts until then."""
        sub = _Subscriber(loop, asyncio.Queue(self.watch_queue), behind=True)
        with self.watch.lock:
            self.watch.subscribers.setdefault(member_id, []).append(sub)
        return sub

    def unsubscribe(self, member_id: str, sub: _Subscriber) -> None:
        with self.watch.lock:
            subs = self.watch.subscribers.get(member_id, [])
            if sub in subs:
                subs.remove(sub)

    def _alerts_for(
        self,
        index: int,
        payload: bytes,
        record_of: Callable[[RecordRef], RecordState | None],
        only_member: str | None = None,
    ) -> list[tuple[str, spb.Alert]]:
        """The alerts an entry raises (leaf and proof are filled in by the caller)."""
        sub = decode_submission(payload)
        kind = sub.WhichOneof("event")
        if kind not in ALERT_EVENTS:
            return []
        (ref,) = record_refs(sub)  # every alert event is about one record
        rec = record_of(ref)
        if rec is not None and rec.erased:  # an erased record names no one any more
            return []
        if kind == "record_reported":
            commitment = sub.record_reported.subject_commitment
            report = index
        else:
            if rec is None:
                return []
            commitment, report = rec.subject_commitment, rec.entries[0]
        hit = self.watch.watchers(commitment)
        if hit is None:
            return []
        pseudonym, members = hit
        out = []
        for member_id, rel in members.items():
            if member_id == ref.member_id or (only_member and member_id != only_member):
                continue  # a lender is not alerted about its own reports
            out.append(
                (
                    member_id,
                    spb.Alert(
                        cursor=index,
                        pseudonym=pseudonym,
                        relationship_reference=rel,
                        record=pb.RecordRef(member_id=ref.member_id, record_id=ref.record_id),
                        event=str(kind),
                        entry=spb.RecordEntry(index=index),
                        report=spb.RecordEntry(index=report),
                    ),
                )
            )
        return out

    def _alert(self, batch: Sequenced) -> None:
        """Commit listener (writer thread): push alerts to the watchers' live streams."""
        if not self.watch.watched:
            return
        ch: Changes = batch.changes
        # The commitments of new reports about watched subjects are kept whether or not a
        # watcher is connected: a stream resumed later replays their alerts by them.
        self.watch.note(ch.openings)
        if not self.watch.subscribers:
            return
        head = batch.head
        assert head is not None
        pending: list[tuple[str, spb.Alert]] = []
        for i, e in enumerate(batch.entries):
            pending += self._alerts_for(batch.first_index + i, e.payload, ch.records.get)
        if not pending:
            return
        self._complete([a for _, a in pending], head.size, head.checkpoint)
        by_member: dict[str, list[spb.Alert]] = {}
        for member_id, alert in pending:
            by_member.setdefault(member_id, []).append(alert)
        with self.watch.lock:
            for member_id, alerts in by_member.items():
                for s in self.watch.subscribers.get(member_id, []):
                    s.loop.call_soon_threadsafe(s.offer, alerts)  # a batch's alerts at once

    def _complete(self, alerts: Sequence[spb.Alert], size: int, checkpoint: bytes) -> None:
        """Fill in each alert's entry and its record's report (leaves and inclusion proofs),
        the salt opening the report's subject commitment, and the checkpoint."""
        indexes = sorted({a.cursor for a in alerts} | {a.report.index for a in alerts})
        leaves = self.storage.read_leaves_at(indexes)
        proofs = dict(zip(indexes, inclusion_proofs(indexes, size, self.nodes), strict=True))
        commitments = {
            a.report.index: decode_submission(
                Leaf.decode(leaves[a.report.index]).payload
            ).record_reported.subject_commitment
            for a in alerts
        }
        salts = self.storage.salts_for_commitments(list(set(commitments.values())))
        for alert in alerts:
            for e in (alert.entry, alert.report):
                e.leaf = leaves[e.index]
                e.inclusion_proof.extend(proofs[e.index])
            alert.salt = salts.get(commitments[alert.report.index], b"")
            alert.checkpoint = checkpoint
            alert.tree_size = size

    def replay_alerts(self, member_id: str, after: int, until: int) -> list[spb.Alert]:
        """Alerts for entries after ``after`` up to ``until`` (exclusive), for a resumed stream."""
        out: list[spb.Alert] = []
        head = self.ledger.log.wait_for_size(until)
        pos = after + 1
        while pos < until:
            leaves = self.storage.read_leaves(pos, min(until, pos + 2000))
            if not leaves:
                break
            payloads = [Leaf.decode(x).payload for x in leaves]
            refs = [r for p in payloads for r in record_refs(decode_submission(p))]
            records = self.storage.load_records(refs)
            for k, payload in enumerate(payloads):
                out += [a for _, a in self._alerts_for(pos + k, payload, records.get, member_id)]
            pos += len(leaves)
        if out:
            self._complete(out, head.size, head.checkpoint)
        return out

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Finish the queued batches of both logs, then stop."""
        self.ledger.close()
        self.inquiries.close()
        self.storage.close()
