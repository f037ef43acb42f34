"""The Merkle tree as stored: tiles of hashes, and the pure batch integration over them.

A tile at ``(level, index)`` holds, concatenated, up to 256 hashes of tree level
``8 * level``: those of nodes ``index * 256 ... index * 256 + 255`` (the tlog-tiles layout of
c2sp.org/tlog-tiles, height 8). A node at a tree level between two tile levels is recomputed
from at most 128 hashes of the tile below it, so any node costs one tile read and at most 127
hashes, and a proof O(log n) tile reads. Tiles at the right edge are partial and grow; a hash,
once written, never changes.

``integrate(edge, leaf_hashes)`` is the pure heart of appending: from the right edge of the
tree (its partial tiles) and a batch of leaf hashes it returns the new right edge, the tiles
to write and the new root. Storage commits its output in one transaction.

Never performs I/O itself: readers are passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from arrears.ledger.errors import InputError, StorageError
from arrears.ledger.merkle import (
    HASH_SIZE,
    NodeId,
    Range,
    consistency_ranges,
    fold_range,
    inclusion_ranges,
    range_nodes,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_TILE_BYTES = TILE_WIDTH * HASH_SIZE
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True, order=True)
class TileId:
    level: int
    index: int


TileReader = Callable[[Collection[TileId]], Mapping[TileId, bytes]]
"""Reads the given tiles; a tile that does not exist is absent from the answer."""


def tile_for(node: NodeId) -> tuple[TileId, int, int]:
    """The tile holding the hashes ``node`` is folded from: (tile, first slot, slot count)."""
    tile_level, sub = divmod(node.level, TILE_HEIGHT)
    first = node.index << sub
    return TileId(tile_level, first >> TILE_HEIGHT), first & (TILE_WIDTH - 1), 1 << sub


def fold_tile_slots(data: bytes, first: int, count: int) -> bytes:
    """The root of ``count`` (a power of two) consecutive hashes of a tile from slot ``first``."""
    start = first * HASH_SIZE
    hashes = [data[o : o + HASH_SIZE] for o in range(start, start + count * HASH_SIZE, HASH_SIZE)]
    if len(hashes) != count or len(hashes[-1]) != HASH_SIZE:
        raise StorageError(f"tile too short: needs slots {first}..{first + count - 1}")
    while len(hashes) > 1:
        hashes = [
            _sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes), 2)
        ]
    return hashes[0]


def node_hashes(nodes: Collection[NodeId], read_tiles: TileReader) -> dict[NodeId, bytes]:
    """The hashes of complete nodes, with one read of the tiles they need."""
    placed = {node: tile_for(node) for node in nodes}
    tiles = read_tiles({t for t, _, _ in placed.values()})
    out: dict[NodeId, bytes] = {}
    for node, (tile, first, count) in placed.items():
        data = tiles.get(tile)
        if data is None:
            raise StorageError(f"missing tile {tile.level}/{tile.index} for node {node}")
        out[node] = fold_tile_slots(data, first, count)
    return out


def proof_from_ranges(ranges: Sequence[Range], read_tiles: TileReader) -> list[bytes]:
    """Fetch (one tile read) and fold the hashes of a planned proof."""
    per_range = [range_nodes(b, e) for b, e in ranges]
    hashes = node_hashes({n for nodes in per_range for n in nodes}, read_tiles)
    return [fold_range([hashes[n] for n in nodes]) for nodes in per_range]


def inclusion_proof(index: int, size: int, read_tiles: TileReader) -> list[bytes]:
    return proof_from_ranges(inclusion_ranges(index, size), read_tiles)


def inclusion_proofs(
    indexes: Sequence[int], size: int, read_tiles: TileReader
) -> list[list[bytes]]:
    """Inclusion proofs for many leaves of one tree, with a single read of the tiles."""
    planned = [[range_nodes(b, e) for b, e in inclusion_ranges(i, size)] for i in indexes]
    hashes = node_hashes({n for p in planned for nodes in p for n in nodes}, read_tiles)
    return [[fold_range([hashes[n] for n in nodes]) for nodes in p] for p in planned]


def consistency_proof(size1: int, size2: int, read_tiles: TileReader) -> list[bytes]:
    return proof_from_ranges(consistency_ranges(size1, size2), read_tiles)


def tree_root(size: int, read_tiles: TileReader) -> bytes:
    """The root of the tree of ``size`` leaves, from its right-edge tiles."""
    if size == 0:
        return hashlib.sha256(b"").digest()
    return proof_from_ranges([(0, size)], read_tiles)[0]


def edge_tile_ids(size: int) -> list[TileId]:
    """The partial tiles at the right edge of a tree of ``size`` leaves (none where full)."""
    out = []
    level = 0
    while (width := size >> (TILE_HEIGHT * level)) > 0:
        if width & (TILE_WIDTH - 1):
            out.append(TileId(level, width >> TILE_HEIGHT))
        level += 1
    return out


@dataclass(slots=True)
class RightEdge:
    """The partial tiles at the right edge of a tree of ``size`` leaves: all that appending
    needs. ``tiles[level]`` holds the hashes of the partial tile at that level (maybe empty)."""

    size: int = 0
    tiles: list[bytes] = field(default_factory=list)

    @classmethod
    def load(cls, size: int, read_tiles: TileReader) -> RightEdge:
        if size < 0:
            raise InputError(f"tree_size: must be non-negative, got {size}")
        wanted = edge_tile_ids(size)
        got = read_tiles(wanted)
        tiles: list[bytes] = []
        level = 0
        while (width := size >> (TILE_HEIGHT * level)) > 0:
            partial = width & (TILE_WIDTH - 1)
            data = b""
            if partial:
                tid = TileId(level, width >> TILE_HEIGHT)
                stored = got.get(tid)
                if stored is None or len(stored) < partial * HASH_SIZE:
                    raise StorageError(
                        f"tile {level}/{tid.index} holds "
                        f"{0 if stored is None else len(stored) // HASH_SIZE} hashes, "
                        f"tree size {size} needs {partial}"
                    )
                data = stored[: partial * HASH_SIZE]
            tiles.append(data)
            level += 1
        return cls(size, tiles)

    def read_tiles(self, ids: Collection[TileId]) -> dict[TileId, bytes]:
        """A TileReader over the edge alone: enough for the root of this size."""
        out = {}
        for tid in ids:
            if tid.level < len(self.tiles) and self.tiles[tid.level]:
                width = self.size >> (TILE_HEIGHT * tid.level)
                if tid.index == width >> TILE_HEIGHT:
                    out[tid] = self.tiles[tid.level]
        return out

    def root(self) -> bytes:
        return tree_root(self.size, self.read_tiles)


@dataclass(frozen=True, slots=True)
class Integration:
    """What appending a batch produced: the new edge and root, and the tiles to write."""

    edge: RightEdge
    root: bytes
    tiles: dict[TileId, bytes]


def integrate(edge: RightEdge, leaf_hashes: Sequence[bytes]) -> Integration:
    """Append ``leaf_hashes`` to the tree whose right edge is ``edge``. Pure: ``edge`` is not
    modified; the returned tiles (full and partial) are every tile the batch changed."""
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise InputError(f"leaf_hashes[{i}]: hash must be {HASH_SIZE} bytes, got {len(h)}")
    tiles = list(edge.tiles)
    written: dict[TileId, bytes] = {}
    pending = list(leaf_hashes)
    level = 0
    size = edge.size
    while pending:
        if level == len(tiles):
            tiles.append(b"")
        width_before = size >> (TILE_HEIGHT * level)  # complete hashes at this tile level
        buf = bytearray(tiles[level])
        tile_index = width_before >> TILE_HEIGHT
        promoted: list[bytes] = []
        for h in pending:
            buf += h
            if len(buf) == _TILE_BYTES:
                written[TileId(level, tile_index)] = bytes(buf)
                promoted.append(fold_tile_slots(bytes(buf), 0, TILE_WIDTH))
                buf = bytearray()
                tile_index += 1
        if buf:
            written[TileId(level, tile_index)] = bytes(buf)
        tiles[level] = bytes(buf)
        pending = promoted
        level += 1
    new_edge = RightEdge(edge.size + len(leaf_hashes), tiles)
    return Integration(new_edge, new_edge.root(), written)


def overlay(base: TileReader, tiles: Mapping[TileId, bytes]) -> TileReader:
    """A reader that sees ``tiles`` (e.g. a batch not yet committed) over ``base``."""

    def read(ids: Collection[TileId]) -> dict[TileId, bytes]:
        missing = [t for t in ids if t not in tiles]
        out = dict(base(missing)) if missing else {}
        out.update((t, tiles[t]) for t in ids if t in tiles)
        return out

    return read
