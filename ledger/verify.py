"""Re-verify a whole stored log from its leaves: chain, tiles, root and checkpoint.

This is the operator's and auditor's check that what the database holds is the log that was
signed: every leaf carries its index and its predecessor's hash, every stored tile equals the
one recomputed from the leaves, and the recomputed root is the one the latest checkpoint
signs. Faults raise a typed error naming the first bad index or tile.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import ArrearsError, ChainError, RootMismatchError, StorageError
from arrears.ledger.leaf import PREV_HASH_SLICE, ZERO_HASH, chain_hashes
from arrears.ledger.merkle import CompactRange, fold_range
from arrears.ledger.note import Verifier, open_note
from arrears.ledger.storage import LogStorage
from arrears.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    RightEdge,
    TileId,
    integrate,
    tile_root,
    tile_rows,
    tile_width,
    truncate_tile,
)


@dataclass(frozen=True, slots=True)
class Verified:
    size: int
    root: bytes
    checkpoint: Checkpoint


SEGMENT = 1 << 14
"""Leaves per segment when verifying in parallel (a multiple of a tile's width: a segment owns
its level-0 tiles). Small enough that two workers finish together, large enough that reading a
segment is one query."""

Opener = Callable[[], LogStorage]


@dataclass(frozen=True, slots=True)
class _Segment:
    start: int
    end: int
    first_prev: bytes  # the first leaf's previous-hash field (joined by the caller)
    last_hash: bytes
    tile_roots: list[bytes]  # the roots of its complete level-0 tiles, left to right
    tail: list[bytes]  # the compact range of the leaves after them (only the last segment's)
    fault: tuple[str, str, int] | None = None  # (error class, message, index)


def _verify_segment(storage: LogStorage, start: int, end: int, chunk: int) -> _Segment:
    """Chain, leaf hashes and the segment's own level-0 tiles (``start`` is a multiple of
    TILE_WIDTH)."""
    first_tile = start >> TILE_HEIGHT
    first_prev = b""
    prev = b""
    pos = start
    hashes: list[bytes] = []
    try:
        while pos < end:
            leaves = storage.read_leaves(pos, min(end, pos + chunk))
            if not leaves:
                raise StorageError(f"leaf {pos} is missing: the log should have {end}")
            if not first_prev:
                first_prev = prev = leaves[0][PREV_HASH_SLICE]
            got = chain_hashes(leaves, start=pos, prev_leaf_hash=prev)
            prev = got[-1]
            pos += len(got)
            hashes += got
        # Level 0 only: the tiles above are the caller's, built from every segment's roots.
        own = {
            TileId(0, first_tile + t.index): d
            for t, d in integrate(RightEdge(), hashes).tiles.items()
            if t.level == 0
        }
        stored = storage.read_tiles(own.keys())
        for tid, want in own.items():
            _check_tile(tid, want, stored.get(tid, b""))
    except ArrearsError as e:
        fault = (type(e).__name__, str(e), getattr(e, "index", pos))
        return _Segment(start, end, first_prev, prev, [], [], fault)
    full = len(hashes) // TILE_WIDTH
    roots = [tile_root(own[TileId(0, first_tile + i)]) for i in range(full)]
    tail = CompactRange.of(hashes[full * TILE_WIDTH :]).nodes()
    return _Segment(start, end, first_prev, prev, roots, tail)


_WORKER_STORAGE: list[LogStorage] = []  # the storage a worker process opened, once


def _open_worker(opener: Opener) -> None:
    _WORKER_STORAGE.append(opener())


def _segment_task(start: int, end: int, chunk: int) -> _Segment:
    return _verify_segment(_WORKER_STORAGE[0], start, end, chunk)


def verify_log(
    storage: LogStorage,
    verifiers: Sequence[Verifier],
    *,
    chunk: int = 1 << 16,
    workers: int = 1,
    opener: Opener | None = None,
) -> Verified:
    """Verify everything the storage holds; return the verified size, root and checkpoint.

    With ``workers`` > 1 and an ``opener`` (a picklable function that opens the same storage
    in another process), segments of 65,536 leaves are verified in parallel processes and
    joined here: chain links between segments, tiles above level 1, and the root.
    """
    head = storage.head()
    if head.size == 0:
        raise StorageError("the log is empty: nothing to verify")
    checkpoint = Checkpoint.parse(open_note(head.checkpoint, verifiers).body)
    if (checkpoint.size, checkpoint.root) != (head.size, head.root):
        raise StorageError(
            f"the head (size {head.size}) and its checkpoint (size {checkpoint.size}) disagree"
        )
    bounds = [(a, min(head.size, a + SEGMENT)) for a in range(0, head.size, SEGMENT)]
    if workers > 1 and opener is not None and len(bounds) > 1:
        # fork starts workers at once, but is only safe without other threads running here.
        method = "fork" if threading.active_count() == 1 and sys.platform == "linux" else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_open_worker, initargs=(opener,)
        ) as pool:
            futures = [pool.submit(_segment_task, a, b, chunk) for a, b in bounds]
            segments = [f.result() for f in futures]
    else:
        segments = [_verify_segment(storage, a, b, chunk) for a, b in bounds]
    prev = ZERO_HASH
    for seg in segments:
        if seg.fault is not None:
            kind, message, index = seg.fault
            if kind == "ChainError":
                raise ChainError(message, index=index)
            raise StorageError(message)
        if seg.first_prev != prev:
            raise ChainError(
                f"hash chain broken at index {seg.start}: previous-hash field does not match "
                f"leaf {seg.start - 1}",
                index=seg.start,
            )
        prev = seg.last_hash
    # Above level 0: the level-0 tiles' roots are the bottom row of the level-1 tiles.
    roots = [r for seg in segments for r in seg.tile_roots]
    if roots:
        upper = integrate(RightEdge(), roots)
        lifted = {TileId(t.level + 1, t.index): d for t, d in upper.tiles.items()}
        stored = storage.read_tiles(lifted.keys())
        for tid, want in lifted.items():
            _check_tile(tid, want, stored.get(tid, b""))
    root = fold_range(CompactRange.of(roots).nodes() + segments[-1].tail)
    if root != head.root:
        raise RootMismatchError(
            "root recomputed from the leaves", expected=head.root, calculated=root
        )
    return Verified(head.size, root, checkpoint)


def _check_tile(tid: TileId, want: bytes, got: bytes) -> None:
    """A stored tile must hold exactly the recomputed hashes (it may have grown since)."""
    width = tile_width(want)
    try:
        same = truncate_tile(got, width) == want
    except StorageError:
        same = False
    if same:
        return
    bottom_want, bottom_got = tile_rows(want)[0], tile_rows(got)[0] if got else b""
    slot = next(
        (
            k
            for k in range(width)
            if bottom_got[32 * k : 32 * k + 32] != bottom_want[32 * k : 32 * k + 32]
        ),
        None,
    )
    where = f"slot {slot}" if slot is not None else "an interior node"
    first_leaf = (tid.index * 256 + (slot or 0)) << (8 * tid.level)
    raise StorageError(
        f"tile {tid.level}/{tid.index} differs from the leaves at {where} "
        f"(first leaf affected: {first_leaf})"
    )
