"""The append-only log: sequencing, group commit, checkpoints and proofs.

Many callers ``submit`` entries concurrently; one writer thread takes whatever has queued up
(up to ``max_batch``), gives the entries consecutive indexes, builds their leaves (each
committing to the previous leaf's hash), integrates them into the tree, signs a checkpoint and
commits all of it in one transaction. Only then are the callers answered: an acknowledged
entry is durable, and a crash at any point leaves the last committed, fully consistent batch.

Before signing, the writer proves the new tree consistent with the last checkpoint it signed
(from the stored tiles, not from its own bookkeeping), so the log never signs two checkpoints
that are not consistent with each other.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import (
    ArrearsError,
    InconsistentCheckpointError,
    InputError,
    StorageError,
)
from arrears.ledger.leaf import ZERO_HASH, encode_leaf
from arrears.ledger.merkle import leaf_hash, verify_consistency
from arrears.ledger.note import Ed25519Signer, open_note, sign_note
from arrears.ledger.storage import Batch, Head, LogStorage
from arrears.ledger.tiles import (
    RightEdge,
    consistency_proof,
    inclusion_proof,
    integrate,
    overlay,
)

log = logging.getLogger("arrears.ledger.log")

Clock = Callable[[], int]
"""Returns the current time in unix microseconds."""


def system_clock_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """What a submitter gives the log: a key id, the signed payload and its signature."""

    key_id: bytes
    payload: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Replay:
    """A submission that is already in the log, at ``index``: answer with that entry
    (``leaf``: its bytes, when the sequencer read them already)."""

    index: int
    leaf: bytes = b""


Outcome = int | Replay | BaseException
"""Per submitted item: its position among the batch's new entries, a replay, or the error."""


@dataclass
class Sequenced:
    """What a sequencer made of a batch of submitted items."""

    entries: list[Entry]
    outcomes: list[Outcome]
    changes: Any = None  # projection changes committed with the leaves (see Batch.changes)
    first_index: int = 0  # the index of entries[0]
    head: Head | None = None  # the head after the commit (set by the log)


class Sequencer(Protocol):
    """Turns submitted items into entries, in order, inside the writer (one batch at a time).

    ``sequence`` sees the items, the index the first new entry will get and the integration
    time; ``committed`` is called after the batch is durable, ``aborted`` if it was not."""

    def sequence(self, items: Sequence[Any], first_index: int, now_us: int) -> Sequenced: ...

    def committed(self, batch: Sequenced) -> None: ...

    def aborted(self, batch: Sequenced) -> None: ...


class PlainEntries:
    """The default sequencer: every item is an ``Entry`` and is appended as it is."""

    def sequence(self, items: Sequence[Any], first_index: int, now_us: int) -> Sequenced:
        return Sequenced(list(items), list(range(len(items))))

    def committed(self, batch: Sequenced) -> None:
        pass

    def aborted(self, batch: Sequenced) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Appended:
    """An entry's place in the log, as committed."""

    index: int
    leaf: bytes
    leaf_hash: bytes
    tree_size: int
    root: bytes
    checkpoint: bytes
    replayed: bool = False  # a retried submission: this is the original entry


_Queued = tuple[list[Any], "Future[Any]", bool]


class Log:
    """The writer of one log. Use ``append``/``submit`` from any thread; ``close`` when done."""

    def __init__(
        self,
        storage: LogStorage,
        signer: Ed25519Signer,
        *,
        origin: str | None = None,
        clock: Clock = system_clock_us,
        max_batch: int = 4096,
        sequencer: Sequencer | None = None,
    ) -> None:
        self.storage = storage
        self.signer = signer
        self.origin = origin or signer.name
        self.clock = clock
        self._clock_may_go_back = bool(getattr(clock, "may_go_back", False))
        self.max_batch = max_batch
        self.sequencer: Sequencer = sequencer or PlainEntries()
        # (items, future, one): ``one`` futures resolve to the single item's outcome, the
        # others (submit_many) to the list of outcomes.
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # one batch at a time, whichever thread commits it
        self._advanced = threading.Condition()  # notified whenever the head moves
        self._load()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="arrears-sequencer", daemon=True)
        self._thread.start()

    # --- state ---------------------------------------------------------------------------

    def _load(self) -> None:
        head = self.storage.head()
        self._edge = RightEdge.load(head.size, self.storage.read_tiles)
        if self._edge.root() != head.root:
            raise StorageError(
                f"stored tiles give another root than the head at size {head.size}: "
                "run `arrears verify` on this database"
            )
        if head.size:
            cp = Checkpoint.parse(open_note(head.checkpoint, [self.signer.verifier]).body)
            if (cp.size, cp.root) != (head.size, head.root):
                raise StorageError(f"the head's checkpoint is not for size {head.size}")
            last = self.storage.read_leaves(head.size - 1, head.size)
            if len(last) != 1:
                raise StorageError(f"leaf {head.size - 1} is missing")
            self._prev_hash = leaf_hash(last[0])
        else:
            self._prev_hash = ZERO_HASH
        self._head = head

    def head(self) -> Head:
        return self._head

    def wait_for_size(self, size: int, timeout: float = 5.0) -> Head:
        """The head once it covers ``size`` entries. Storage commits before the writer moves
        the head, so a reader that saw an entry in storage waits here for its checkpoint."""
        with self._advanced:
            if not self._advanced.wait_for(lambda: self._head.size >= size, timeout):
                raise StorageError(f"log did not reach size {size} within {timeout} s")
            return self._head

    # --- appending -----------------------------------------------------------------------

    def submit(self, entry: Any) -> Future[Appended]:
        """Queue an item for the next batch; the future resolves once it is committed (or
        with the error the sequencer refused it with)."""
        if self._closed:
            raise StorageError("log is closed")
        fut: Future[Appended] = Future()
        self._queue.put(([entry], fut, True))
        return fut

    def submit_many(self, items: Sequence[Any]) -> Future[list[Appended | BaseException]]:
        """Queue items to be committed in one batch, with one future for all of them: it
        resolves to each item's outcome, an ``Appended`` or the error the sequencer refused it
        with (cheaper than a future per item when a caller brings many, e.g. a batch lookup's
        inquiries)."""
        if self._closed:
            raise StorageError("log is closed")
        fut: Future[list[Appended | BaseException]] = Future()
        self._queue.put((list(items), fut, False))
        return fut

    def append(self, entry: Any, timeout: float | None = None) -> Appended:
        return self.submit(entry).result(timeout)

    def append_batch(self, items: Sequence[Any]) -> list[Appended]:
        """Append items as one batch in the calling thread (bulk loads). Raises the first
        refusal, if any, after committing the accepted items."""
        with self._lock:
            results = self._commit(items)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return [r for r in results if isinstance(r, Appended)]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            live = [q for q in batch if q[1].set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                with self._lock:
                    results = self._commit([e for items, _, _ in live for e in items])
            except BaseException as exc:  # every caller of the batch learns why
                for _, f, _ in live:
                    f.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            pos = 0
            for items, f, one in live:
                mine, pos = results[pos : pos + len(items)], pos + len(items)
                if not one:
                    f.set_result(mine)
                elif isinstance(mine[0], BaseException):
                    f.set_exception(mine[0])
                else:
                    f.set_result(mine[0])

    def _commit(self, items: Sequence[Any]) -> list[Appended | BaseException]:
        head = self._head
        # Integration times never go backwards (audits flag it), whatever the clock does;
        # except a clock set back on purpose (a test's: ``may_go_back``).
        now = self.clock()
        if not self._clock_may_go_back:
            now = max(now, head.signed_at_us)
        seq = self.sequencer.sequence(items, head.size, now)
        seq.first_index = head.size
        try:
            appended = self._commit_entries(seq.entries, seq.changes, now) if seq.entries else []
        except BaseException:
            self.sequencer.aborted(seq)
            raise
        seq.head = self._head
        self.sequencer.committed(seq)
        out: list[Appended | BaseException] = []
        for o in seq.outcomes:
            if isinstance(o, BaseException):
                out.append(o)
            elif isinstance(o, Replay):
                out.append(dataclasses.replace(self.entry(o.index, o.leaf), replayed=True))
            else:
                out.append(appended[o])
        return out

    def entry(self, index: int, leaf: bytes = b"") -> Appended:
        """An entry already in the log, with the current head (``leaf``: its bytes, if the
        caller has them)."""
        head = self._head
        leaves = [leaf] if leaf else self.storage.read_leaves(index, index + 1)
        if not leaves:
            raise InputError(f"index: no entry {index} in a log of size {head.size}")
        return Appended(
            index, leaves[0], leaf_hash(leaves[0]), head.size, head.root, head.checkpoint
        )

    def _commit_entries(self, entries: Sequence[Entry], changes: Any, now: int) -> list[Appended]:
        head, edge = self._head, self._edge
        leaves: list[bytes] = []
        hashes: list[bytes] = []
        prev = self._prev_hash
        for i, e in enumerate(entries):
            data = encode_leaf(head.size + i, prev, now, e.key_id, e.payload, e.signature)
            prev = leaf_hash(data)
            leaves.append(data)
            hashes.append(prev)
        result = integrate(edge, hashes)
        new_size = result.edge.size
        if head.size:
            proof = consistency_proof(head.size, new_size, overlay(edge.read_tiles, result.tiles))
            try:
                verify_consistency(head.size, new_size, head.root, result.root, proof)
            except ArrearsError as exc:
                raise InconsistentCheckpointError(
                    f"refusing to sign size {new_size}: not consistent with size {head.size}"
                ) from exc
        body = Checkpoint(self.origin, new_size, result.root).body()
        note = sign_note(body, [self.signer])
        new_head = Head(new_size, result.root, note, now)
        try:
            self.storage.commit(Batch(head.size, leaves, result.tiles, new_head, changes))
        except BaseException:
            self._reload_after_failure()
            raise
        with self._advanced:
            self._head, self._edge, self._prev_hash = new_head, result.edge, prev
            self._advanced.notify_all()
        return [
            Appended(head.size + i, leaves[i], hashes[i], new_size, result.root, note)
            for i in range(len(leaves))
        ]

    def _reload_after_failure(self) -> None:
        # The transaction may or may not have landed (e.g. a lost connection at COMMIT).
        # Storage is the truth: start again from what it holds.
        try:
            self._load()
        except Exception:
            log.exception("could not reload the log state after a failed commit")

    # --- reading -------------------------------------------------------------------------

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        size = self._head.size if tree_size is None else tree_size
        self._check_size(size)
        return inclusion_proof(index, size, self.storage.read_tiles)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size = self._head.size if size2 is None else size2
        self._check_size(size)
        return consistency_proof(size1, size, self.storage.read_tiles)

    def _check_size(self, size: int) -> None:
        if size > self._head.size:
            raise InputError(f"tree_size: {size} is beyond the log's size {self._head.size}")

    def close(self) -> None:
        """Finish the queued batches, then stop the writer."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
