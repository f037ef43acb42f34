"""Re-verify a whole stored log from its leaves: chain, tiles, root and checkpoint.

This is the operator's and auditor's check that what the database holds is the log that was
signed: every leaf carries its index and its predecessor's hash, every stored tile equals the
one recomputed from the leaves, and the recomputed root is the one the latest checkpoint
signs. Faults raise a typed error naming the first bad index or tile.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import RootMismatchError, StorageError
from arrears.ledger.leaf import ZERO_HASH, chain_hashes
from arrears.ledger.note import Verifier, open_note
from arrears.ledger.storage import LogStorage
from arrears.ledger.tiles import RightEdge, TileId, integrate, tile_rows, tile_width, truncate_tile


@dataclass(frozen=True, slots=True)
class Verified:
    size: int
    root: bytes
    checkpoint: Checkpoint


def _chunks(storage: LogStorage, size: int, chunk: int) -> Iterator[list[bytes]]:
    pos = 0
    while pos < size:
        got = storage.read_leaves(pos, min(size, pos + chunk))
        if not got:
            raise StorageError(f"leaf {pos} is missing: the log should have {size}")
        yield got
        pos += len(got)


def verify_log(
    storage: LogStorage, verifiers: Sequence[Verifier], *, chunk: int = 16_384
) -> Verified:
    """Verify everything the storage holds; return the verified size, root and checkpoint."""
    head = storage.head()
    if head.size == 0:
        raise StorageError("the log is empty: nothing to verify")
    checkpoint = Checkpoint.parse(open_note(head.checkpoint, verifiers).body)
    if (checkpoint.size, checkpoint.root) != (head.size, head.root):
        raise StorageError(
            f"the head (size {head.size}) and its checkpoint (size {checkpoint.size}) disagree"
        )
    edge = RightEdge()
    prev = ZERO_HASH
    index = 0
    for leaves in _chunks(storage, head.size, chunk):
        hashes = chain_hashes(leaves, start=index, prev_leaf_hash=prev)
        prev = hashes[-1]
        index += len(hashes)
        result = integrate(edge, hashes)
        stored = storage.read_tiles(result.tiles.keys())
        for tid, want in result.tiles.items():
            _check_tile(tid, want, stored.get(tid, b""))
        edge = result.edge
    if index != head.size:
        raise StorageError(f"found {index} leaves, the head says {head.size}")
    root = edge.root()
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
