"""The ledger: signed submissions in, lifecycle rules enforced, entries and projection out.

``Ledger.submit`` checks what can be checked without the ledger's order (the envelope's shape,
the payload's encoding, the subject opening against its commitment, the signature under the
key the registry holds now) in the caller's thread, so many callers verify in parallel. The
writer then runs every submission of a batch, in order, through ``records.apply`` against the
state as of its index (the key registry, the records it touches, earlier submissions of the
same batch), and commits the accepted entries together with the projection's changes in one
transaction. A refused submission gets its own error and never reaches the ledger; a retried
submission id gets the original entry back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from arrears.ledger.envelope import Envelope, key_id_for, verify_envelope
from arrears.ledger.errors import ArrearsError, InputError, InternalError
from arrears.ledger.leaf import Leaf
from arrears.ledger.log import Appended, Clock, Entry, Log, Replay, Sequenced, system_clock_us
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.pseudonym import Pseudonym, subject_commitment
from arrears.ledger.records import (
    DEFAULT_RULES,
    AlreadyExists,
    Changes,
    Context,
    Member,
    MemberKey,
    MemoryState,
    NotPermitted,
    Overlay,
    RecordRef,
    RecordState,
    Rules,
    apply,
    authorise_key,
    decode_submission,
)
from arrears.ledger.storage import LogStorage
from arrears.v1 import events_pb2 as pb

log = logging.getLogger("arrears.ledger")


@dataclass(frozen=True, slots=True)
class Opening:
    """The opening of a subject commitment: kept in the deletable index, never in a leaf."""

    pseudonym: bytes  # Pseudonym.to_bytes(): uint32-BE epoch || 32 bytes
    salt: bytes

    def commitment(self) -> bytes:
        try:
            return subject_commitment(self.salt, Pseudonym.from_bytes(self.pseudonym))
        except ArrearsError as e:
            raise InputError(f"opening: {e}") from None


def check_opening(sub: pb.Submission, opening: Opening | None) -> None:
    """A report carries the opening of its subject commitment; nothing else carries one."""
    if sub.WhichOneof("event") == "record_reported":
        if opening is None:
            raise InputError("opening: a report needs the subject's pseudonym and salt")
        if opening.commitment() != sub.record_reported.subject_commitment:
            raise InputError(
                "opening: salt and pseudonym do not open record_reported.subject_commitment"
            )
    elif opening is not None:
        raise InputError("opening: only a report carries a subject opening")


class ProjectionStorage(LogStorage, Protocol):
    """A log storage that also keeps the projection, committed with each batch."""

    def load_registry(self) -> tuple[dict[str, Member], dict[bytes, MemberKey]]: ...

    def load_records(self, refs: Sequence[RecordRef]) -> dict[RecordRef, RecordState]: ...

    def load_submissions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]: ...

    def commitment_owners(self, commitments: Sequence[bytes]) -> dict[bytes, RecordRef]:
        """The records whose reports carry these subject commitments."""
        ...

    def records_for_pseudonym(self, pseudonym: bytes) -> list[tuple[RecordState, bytes]]:
        """Every record whose subject opening has this pseudonym, with its salt."""
        ...

    def records_for_pseudonyms(
        self, pseudonyms: Sequence[bytes]
    ) -> dict[bytes, list[tuple[RecordState, bytes]]]:
        """The same for many pseudonyms; those without records are left out."""
        ...

    def inquiries_for_pseudonym(self, pseudonym: bytes) -> list[tuple[int, bytes]]:
        """The inquiry-log indexes and salts of every lookup of this pseudonym."""
        ...

    def load_projection(self) -> MemoryState:
        """The whole live projection."""
        ...


@dataclass(frozen=True, slots=True)
class _Item:
    envelope: Envelope
    submission: pb.Submission
    opening: Opening | None
    public_key: bytes


class _BatchView:
    """The registry (always in memory) plus the records and submissions a batch touches."""

    def __init__(
        self,
        registry: MemoryState,
        records: dict[RecordRef, RecordState],
        submissions: dict[tuple[str, str], int],
        commitments: dict[bytes, RecordRef],
    ) -> None:
        self.registry = registry
        self.records = records
        self.submissions = submissions
        self.commitments = commitments

    def member(self, member_id: str) -> Member | None:
        return self.registry.members.get(member_id)

    def key(self, key_id: bytes) -> MemberKey | None:
        return self.registry.keys.get(key_id)

    def record(self, ref: RecordRef) -> RecordState | None:
        return self.records.get(ref)

    def submission(self, member_id: str, submission_id: str) -> int | None:
        return self.submissions.get((member_id, submission_id))

    def commitment_owner(self, commitment: bytes) -> RecordRef | None:
        return self.commitments.get(commitment)

    def member_keys(self, member_id: str) -> list[MemberKey]:
        return self.registry.member_keys(member_id)


RECORD_CHANGES = frozenset(
    {
        "record_updated",
        "record_settled",
        "record_withdrawn",
        "dispute_opened",
        "dispute_resolved",
        "record_suppressed",
        "record_erased",
    }
)
"""The events about an existing record (each names it in its ``record`` field)."""
RECORD_EVENTS = RECORD_CHANGES | {"record_reported"}
"""Every event about a record: what a reporter's submission may carry."""


def record_refs(sub: pb.Submission) -> list[RecordRef]:
    """The records a submission touches (to load them once per batch)."""
    kind = sub.WhichOneof("event")
    if kind == "record_reported":
        return [RecordRef(sub.member_id, sub.record_reported.record_id)]
    if kind in RECORD_CHANGES:
        r = getattr(sub, kind).record
        return [RecordRef(r.member_id, r.record_id)]
    return []


class Ledger:
    """The writer of the arrears ledger: one per database."""

    def __init__(
        self,
        storage: ProjectionStorage,
        signer: Ed25519Signer,
        *,
        origin: str | None = None,
        rules: Rules = DEFAULT_RULES,
        clock: Clock = system_clock_us,
        max_batch: int = 4096,
    ) -> None:
        self.storage = storage
        self.rules = rules
        members, keys = storage.load_registry()
        self.registry = MemoryState(members=members, keys=keys)
        self.log = Log(
            storage, signer, origin=origin, clock=clock, max_batch=max_batch, sequencer=self
        )
        self.origin = self.log.origin
        # Called in the writer thread after each committed batch (e.g. watch alerts).
        self.listeners: list[Callable[[Sequenced], None]] = []

    # --- the callers' side ---------------------------------------------------------------

    def prepare(
        self,
        envelope: Envelope,
        opening: Opening | None = None,
        submission: pb.Submission | None = None,
    ) -> _Item:
        """Every check that does not depend on the ledger's order; raises on the first fault.
        ``submission`` is the envelope's payload already decoded (by ``decode_submission``)."""
        envelope.check_shape()
        sub = submission if submission is not None else decode_submission(envelope.payload)
        check_opening(sub, opening)
        public_key = self._public_key(envelope, sub)
        verify_envelope(self.origin, envelope, public_key)
        return _Item(envelope, sub, opening, public_key)

    def prepared(self, envelope: Envelope, opening: Opening | None, public_key: bytes) -> _Item:
        """A submission whose every ``prepare`` check already passed elsewhere (a worker
        process, ``arrears.server.precheck``) under ``public_key``, the registry's key for
        ``envelope.key_id``: its payload is decoded, not checked again."""
        return _Item(envelope, pb.Submission.FromString(envelope.payload), opening, public_key)

    def _public_key(self, envelope: Envelope, sub: pb.Submission) -> bytes:
        key = self.registry.keys.get(envelope.key_id)
        if key is not None:
            return key.public_key
        if self.log.head().size == 0 and sub.WhichOneof("event") == "member_admitted":
            for pk in sub.member_admitted.public_keys:
                if len(pk) == 32 and key_id_for(pk) == envelope.key_id:
                    return pk  # the genesis entry introduces the key it is signed with
        raise NotPermitted(
            "unknown_key", f"envelope.key_id: {envelope.key_id.hex()[:16]} is not registered"
        )

    def submit(self, envelope: Envelope, opening: Opening | None = None) -> Future[Appended]:
        """Check and queue a submission; the future gives its committed entry or the refusal."""
        try:
            item = self.prepare(envelope, opening)
        except ArrearsError as e:
            fut: Future[Appended] = Future()
            fut.set_exception(e)
            return fut
        return self.log.submit(item)

    def append(self, envelope: Envelope, opening: Opening | None = None) -> Appended:
        return self.submit(envelope, opening).result()

    # --- the writer's side (Sequencer) ---------------------------------------------------

    def sequence(self, items: Sequence[Any], first_index: int, now_us: int) -> Sequenced:
        refs = sorted({r for it in items for r in record_refs(it.submission)}, key=str)
        subs = sorted({(it.submission.member_id, it.submission.submission_id) for it in items})
        commitments = [
            it.submission.record_reported.subject_commitment
            for it in items
            if it.submission.WhichOneof("event") == "record_reported"
        ]
        submissions = self.storage.load_submissions(subs)
        # Retries are answered with their first entry: those read in one query, not each.
        priors = self.storage.read_leaves_at(list(submissions.values())) if submissions else {}
        view = Overlay(
            _BatchView(
                self.registry,
                self.storage.load_records(refs),
                submissions,
                self.storage.commitment_owners(commitments),
            )
        )
        entries: list[Entry] = []
        outcomes: list[int | Replay | BaseException] = []
        for it in items:
            try:
                index = first_index + len(entries)
                outcomes.append(self._one(view, it, index, now_us, entries, priors))
            except ArrearsError as e:
                outcomes.append(e)
            except Exception as e:  # a fault of ours: this submission fails, the batch goes on
                log.exception("sequencing a submission failed")
                outcomes.append(
                    InternalError(f"internal error while sequencing: {type(e).__name__}")
                )
        return Sequenced(entries, outcomes, view.changes)

    def _one(
        self,
        view: Overlay,
        it: _Item,
        index: int,
        now_us: int,
        entries: list[Entry],
        priors: dict[int, bytes],
    ) -> int | Replay:
        sub, env = it.submission, it.envelope
        if index > 0:  # first: a retry is answered only to a key of the member it names
            authorise_key(view, env.key_id, sub.member_id, index)
        prior = view.submission(sub.member_id, sub.submission_id)
        if prior is not None:
            return self._replay(prior, env, entries, index - len(entries), priors)
        ctx = Context(index, now_us, self.rules, admitting=True)
        ch = apply(view, sub, ctx, genesis_key=it.public_key)
        if it.opening is not None:
            ch.openings[sub.record_reported.subject_commitment] = (
                it.opening.pseudonym,
                it.opening.salt,
            )
        view.changes.merge(ch)
        entries.append(Entry(env.key_id, env.payload, env.signature))
        return len(entries) - 1

    def _replay(
        self,
        prior: int,
        env: Envelope,
        entries: list[Entry],
        first: int,
        priors: dict[int, bytes],
    ) -> Replay:
        leaf = b""
        if prior >= first:  # submitted twice within this batch
            payload = entries[prior - first].payload
        else:
            leaf = priors.get(prior) or self.storage.read_leaves(prior, prior + 1)[0]
            payload = Leaf.decode(leaf).payload
        if payload != env.payload:
            raise AlreadyExists(
                "submission_reused",
                f"submission.submission_id: already used at index {prior} for another submission",
            )
        return Replay(prior, leaf)

    def committed(self, batch: Sequenced) -> None:
        ch: Changes = batch.changes
        self.registry.members.update(ch.members)
        self.registry.keys.update(ch.keys)
        if batch.entries:
            for listener in list(self.listeners):
                try:
                    listener(batch)
                except Exception:  # a listener's fault must not fail a committed batch
                    log.exception("commit listener failed")

    def aborted(self, batch: Sequenced) -> None:
        """The commit failed. It may have landed all the same (a connection lost at COMMIT),
        or another writer sharing the database moved the head first: as the log reloads its
        head, the registry is reloaded from storage, which is the truth."""
        try:
            members, keys = self.storage.load_registry()
        except Exception:
            log.exception("could not reload the key registry after a failed commit")
            return
        self.registry = MemoryState(members=members, keys=keys)

    def close(self) -> None:
        self.log.close()
