"""The storage contract of the log, and an in-memory driver for tests.

The core never talks to a database: it reads and writes through ``LogStorage``. A batch of
leaves, the tiles it changed and the checkpoint signed over it are committed together, in one
transaction, or not at all; ``commit`` refuses a batch that does not start at the stored size,
so two writers can never interleave. The SQLAlchemy driver lives in ``arrears.ledger.sql``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from arrears.ledger.errors import InputError, StaleStateError
from arrears.ledger.merkle import EMPTY_ROOT
from arrears.ledger.records import Member, MemberKey, MemoryState, RecordRef, RecordState
from arrears.ledger.tiles import TileId


@dataclass(frozen=True, slots=True)
class Head:
    """The latest committed state: tree size, root, and the checkpoint note signed over it."""

    size: int
    root: bytes
    checkpoint: bytes
    signed_at_us: int = 0


EMPTY_HEAD = Head(0, EMPTY_ROOT, b"", 0)


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one append transaction writes."""

    from_size: int
    leaves: Sequence[bytes]
    tiles: Mapping[TileId, bytes]
    head: Head
    changes: Any = None  # the projection's changes (arrears.ledger.records.Changes), if any

    def __post_init__(self) -> None:
        if self.head.size != self.from_size + len(self.leaves):
            raise InputError(
                f"batch: head size {self.head.size} != {self.from_size} + {len(self.leaves)} leaves"
            )


class LogStorage(Protocol):
    """What the log needs from a storage driver."""

    def head(self) -> Head:
        """The latest committed head (``EMPTY_HEAD`` for an empty log)."""
        ...

    def read_tiles(self, ids: Collection[TileId]) -> dict[TileId, bytes]:
        """The stored tiles among ``ids``; absent ones are left out."""
        ...

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves ``start <= index < end`` (as many as exist), in order, exact bytes."""
        ...

    def checkpoint_at(self, size: int) -> bytes | None:
        """The checkpoint note signed when the log reached ``size``, if one was."""
        ...

    def read_leaves_at(self, indexes: Collection[int]) -> dict[int, bytes]:
        """The leaves at the given indexes (absent ones left out)."""
        ...

    def commit(self, batch: Batch) -> None:
        """Write the batch atomically; StaleStateError if the log is not at ``from_size``."""
        ...

    def close(self) -> None: ...


@dataclass
class MemoryStorage:
    """``LogStorage`` in a few dicts, for unit tests and the testing harness."""

    leaves: list[bytes] = field(default_factory=list)
    tiles: dict[TileId, bytes] = field(default_factory=dict)
    checkpoints: dict[int, bytes] = field(default_factory=dict)
    state: MemoryState = field(default_factory=MemoryState)
    _head: Head = EMPTY_HEAD
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def head(self) -> Head:
        return self._head

    def read_tiles(self, ids: Collection[TileId]) -> dict[TileId, bytes]:
        tiles = self.tiles
        return {t: tiles[t] for t in ids if t in tiles}

    def read_leaves(self, start: int, end: int) -> list[bytes]:
        return self.leaves[max(start, 0) : max(end, 0)]

    def checkpoint_at(self, size: int) -> bytes | None:
        return self.checkpoints.get(size)

    def read_leaves_at(self, indexes: Collection[int]) -> dict[int, bytes]:
        n = len(self.leaves)
        return {i: self.leaves[i] for i in indexes if 0 <= i < n}

    def commit(self, batch: Batch) -> None:
        with self._lock:
            if batch.from_size != self._head.size:
                raise StaleStateError(
                    "commit refused", expected=batch.from_size, actual=self._head.size
                )
            self.leaves.extend(batch.leaves)
            self.tiles.update(batch.tiles)
            self.checkpoints[batch.head.size] = batch.head.checkpoint
            if batch.changes is not None:
                self.state.apply_changes(batch.changes)
            self._head = batch.head

    # --- the projection ------------------------------------------------------------------

    def load_registry(self) -> tuple[dict[str, Member], dict[bytes, MemberKey]]:
        return dict(self.state.members), dict(self.state.keys)

    def load_records(self, refs: Sequence[RecordRef]) -> dict[RecordRef, RecordState]:
        recs = self.state.records
        return {r: recs[r] for r in refs if r in recs}

    def load_submissions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        subs = self.state.submissions
        return {k: subs[k] for k in keys if k in subs}

    def commitment_owners(self, commitments: Sequence[bytes]) -> dict[bytes, RecordRef]:
        owners = self.state.commitments
        return {c: owners[c] for c in commitments if c in owners}

    def records_for_pseudonym(self, pseudonym: bytes) -> list[tuple[RecordState, bytes]]:
        """Every record whose subject opening has this pseudonym, with its salt."""
        salts = {c: salt for c, (p, salt) in self.state.openings.items() if p == pseudonym}
        return [
            (r, salts[r.subject_commitment])
            for r in self.state.records.values()
            if r.subject_commitment in salts
        ]

    def records_for_pseudonyms(
        self, pseudonyms: Sequence[bytes]
    ) -> dict[bytes, list[tuple[RecordState, bytes]]]:
        out: dict[bytes, list[tuple[RecordState, bytes]]] = {}
        for p in set(pseudonyms):
            found = self.records_for_pseudonym(p)
            if found:
                out[p] = found
        return out

    def inquiries_for_pseudonym(self, pseudonym: bytes) -> list[tuple[int, bytes]]:
        return sorted((i, s) for i, (p, s) in self.state.inquiries.items() if p == pseudonym)

    def load_projection(self) -> MemoryState:
        return self.state

    def close(self) -> None:
        pass
