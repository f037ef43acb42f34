"""The Merkle tree as stored: tiles of hashes, and the pure batch integration over them.

A tile at ``(level, index)`` covers up to 256 nodes of tree level ``8 * level``: nodes
``index * 256 ... index * 256 + 255`` (the tlog-tiles layout of c2sp.org/tlog-tiles, height 8).
It is stored expanded: its bottom row (the tlog tile) followed by the complete nodes of the 7
rows above it, each row left to right, so a tile of width w holds w + w/2 + ... + w/128
hashes. Any node is then one tile read and no hashing, and a proof O(log n) tile reads whatever
the tree's size. Tiles at the right edge are partial and grow; rows only ever grow at their
right end, so a hash, once written, never moves or changes.

``integrate(edge, leaf_hashes)`` is the pure heart of appending: from the right edge of the
tree (its partial tiles) and a batch of leaf hashes it returns the new right edge, the tiles
to write and the new root. Storage commits its output in one transaction.

Never performs I/O itself: readers are passed in.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any, NamedTuple, cast

from arrears.ledger.errors import InputError, StorageError
from arrears.ledger.merkle import (
    HASH_SIZE,
    NodeId,
    Range,
    check_index,
    consistency_ranges,
    fold_range,
    inclusion_ranges,
    range_nodes,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_sha256 = hashlib.sha256


def _stored_hashes(width: int) -> int:
    return sum(width >> k for k in range(TILE_HEIGHT))


FULL_TILE_BYTES = _stored_hashes(TILE_WIDTH) * HASH_SIZE
_WIDTH_OF = {_stored_hashes(w): w for w in range(1, TILE_WIDTH + 1)}
# _ROW_START[width][k]: where row k of an expanded tile of that width starts, in hashes
_ROW_START = {
    w: tuple(sum(w >> j for j in range(k)) for k in range(TILE_HEIGHT))
    for w in range(1, TILE_WIDTH + 1)
}


def tile_width(data: bytes) -> int:
    """How many bottom-row hashes an expanded tile holds."""
    count, rest = divmod(len(data), HASH_SIZE)
    width = _WIDTH_OF.get(count)
    if rest or width is None:
        raise StorageError(f"malformed tile: {len(data)} bytes is no tile's size")
    return width


def tile_rows(data: bytes) -> list[bytes]:
    """The 8 rows of an expanded tile (bottom first); empty data gives empty rows."""
    if not data:
        return [b""] * TILE_HEIGHT
    width = tile_width(data)
    rows, pos = [], 0
    for k in range(TILE_HEIGHT):
        n = (width >> k) * HASH_SIZE
        rows.append(data[pos : pos + n])
        pos += n
    return rows


def extend_tile(data: bytes, hashes: bytes) -> bytes:
    """The expanded tile with ``hashes`` (concatenated) appended to its bottom row: only the
    nodes the new hashes complete are computed."""
    rows = tile_rows(data)
    old_width = len(rows[0]) // HASH_SIZE
    out = [rows[0] + hashes]
    for k in range(1, TILE_HEIGHT):
        below = out[k - 1]
        first = old_width >> k
        new = [
            _sha256(b"\x01" + below[o : o + 2 * HASH_SIZE]).digest()
            for o in range(2 * first * HASH_SIZE, len(below) - HASH_SIZE, 2 * HASH_SIZE)
        ]
        out.append(rows[k] + b"".join(new))
    return b"".join(out)


def truncate_tile(data: bytes, width: int) -> bytes:
    """The expanded tile as it was when its bottom row had ``width`` hashes."""
    rows = tile_rows(data)
    if len(rows[0]) < width * HASH_SIZE:
        raise StorageError(f"tile holds {len(rows[0]) // HASH_SIZE} hashes, {width} are needed")
    return b"".join(rows[k][: (width >> k) * HASH_SIZE] for k in range(TILE_HEIGHT))


def tile_root(data: bytes) -> bytes:
    """The root of a full tile: the node one level above its top stored row."""
    top = tile_rows(data)[TILE_HEIGHT - 1]
    if len(top) != 2 * HASH_SIZE:
        raise StorageError("tile_root: the tile is not full")
    return _sha256(b"\x01" + top).digest()


def tile_node(data: bytes, first: int, count: int) -> bytes:
    """The node over ``count`` (a power of two) bottom slots from ``first``: a lookup."""
    width = tile_width(data)
    if first + count > width:
        raise StorageError(f"tile too short: needs slots {first}..{first + count - 1}")
    sub = count.bit_length() - 1
    pos = (_ROW_START[width][sub] + (first >> sub)) * HASH_SIZE
    return data[pos : pos + HASH_SIZE]


class TileId(NamedTuple):
    """A tile: level ``level`` (each level is TILE_HEIGHT tree levels), ``index`` from the left.
    A named tuple for the same reason as ``NodeId``; ordered by level, then index."""

    level: int
    index: int  # type: ignore[assignment]


TileReader = Callable[[Collection[TileId]], Mapping[TileId, bytes]]
"""Reads the given tiles; a tile that does not exist is absent from the answer."""


def tile_for(node: NodeId) -> tuple[TileId, int, int]:
    """The tile holding the hashes ``node`` is folded from: (tile, first slot, slot count)."""
    tile, first, count = _tile_slots(node)
    return TileId(*tile), first, count


def _tile_slots(node: tuple[int, int]) -> tuple[tuple[int, int], int, int]:
    """``tile_for`` on plain tuples: (level, index) of the tile, first slot, slot count."""
    tile_level, sub = divmod(node[0], TILE_HEIGHT)
    first = node[1] << sub
    return (tile_level, first >> TILE_HEIGHT), first & (TILE_WIDTH - 1), 1 << sub


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


def node_hashes(
    nodes: Collection[tuple[int, int]], read_tiles: TileReader
) -> dict[tuple[int, int], bytes]:
    """The hashes of complete nodes, by (level, index) as given (``NodeId`` or plain tuples,
    which hash and compare alike), with one read of the tiles they need. A proof batch places
    thousands of nodes in a few dozen tiles: only the tiles are made ``TileId``s."""
    placed = {node: _tile_slots(node) for node in nodes}
    tiles = read_tiles([TileId(*t) for t in {t for t, _, _ in placed.values()}])
    found = cast(Mapping[tuple[int, int], bytes], tiles)  # looked up by plain (level, index)
    out: dict[tuple[int, int], bytes] = {}
    for node, (tile, first, count) in placed.items():
        data = found.get(tile)
        if data is None:
            raise StorageError(f"missing tile {tile[0]}/{tile[1]} for node {NodeId(*node)}")
        out[node] = tile_node(data, first, count)
    return out


class NodeCache:
    """Remembers node hashes. A complete node's hash never changes, so the cache is always
    right, whatever tree size later proofs are for; it spares re-folding tile slots when many
    proofs share nodes (receipts of one batch, lookups of one subject)."""

    def __init__(self, read_tiles: TileReader, max_nodes: int = 200_000) -> None:
        self.read_tiles = read_tiles
        self.max_nodes = max_nodes
        self._hashes: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, nodes: Collection[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The hashes of ``nodes``, by (level, index): ``NodeId`` or plain tuples, which hash
        and compare alike."""
        known = self._hashes
        out: dict[Any, bytes] = {n: known[n] for n in nodes if n in known}
        if len(out) < len(nodes):
            missing = [n for n in nodes if n not in out]
            fresh = node_hashes(missing, self.read_tiles)
            out.update(fresh)
            with self._lock:
                if len(known) + len(fresh) > self.max_nodes:
                    known.clear()  # crude but bounded; the working set refills at once
                known.update(fresh)
        return out


def proof_from_ranges(ranges: Sequence[Range], read_tiles: TileReader) -> list[bytes]:
    """Fetch (one tile read) and fold the hashes of a planned proof."""
    per_range = [range_nodes(b, e) for b, e in ranges]
    hashes = node_hashes({n for nodes in per_range for n in nodes}, read_tiles)
    return [fold_range([hashes[n] for n in nodes]) for nodes in per_range]


def inclusion_proof(index: int, size: int, read_tiles: TileReader) -> list[bytes]:
    return proof_from_ranges(inclusion_ranges(index, size), read_tiles)


# _SIBLINGS[j]: where, in a full tile, the 8 proof hashes of its bottom slot j sit (byte
# offsets, bottom row first): at row k, the sibling of j's ancestor, slot (j >> k) ^ 1.
_SIBLINGS = tuple(
    tuple((_ROW_START[TILE_WIDTH][k] + ((j >> k) ^ 1)) * HASH_SIZE for k in range(TILE_HEIGHT))
    for j in range(TILE_WIDTH)
)


def inclusion_proofs(
    indexes: Iterable[int],
    size: int,
    nodes: NodeCache | TileReader,
) -> list[list[bytes]]:
    """Inclusion proofs for many leaves of one tree, with a single read of the tiles (through
    a NodeCache, or straight from a tile reader).

    Level by level, the proof of leaf i holds the hash of the sibling of its ancestor, node
    ``s = (i >> L) ^ 1`` over ``[s << L, min((s + 1) << L, size))``, skipping levels where that
    sibling starts past the tree: RFC 6962 PATH, read bottom up. At most one node per level is
    partial (the last one); its hash is folded once from the perfect subtrees it spans.

    Most of a proof lies in full tiles: levels 8t to 8t + 7 of leaf i are the 8 siblings of
    one slot of tile ``(t, i >> (8t + 8))``, which is full when the tree covers its whole span.
    Those 8 hashes are sliced from the tile at fixed offsets (``_SIBLINGS``); only the levels
    above the last full tile (the tree's right edge) are looked up node by node.
    """
    last = size - 1
    levels = last.bit_length() if size > 0 else 0
    read = nodes.read_tiles if isinstance(nodes, NodeCache) else nodes
    bands: list[list[tuple[TileId, int]]] = []  # per leaf: (full tile, slot) bottom up
    plans: list[list[tuple[int, int]]] = []  # per leaf: the levels above them, node by node
    wanted: set[tuple[int, int]] = set()
    tops = [(level, last >> level) for level in range(levels)]  # the last node of each level
    full: set[TileId] = set()
    for i in indexes:
        if not 0 <= i < size:
            check_index(i, size)
        band: list[tuple[TileId, int]] = []
        shift = 0
        while ((i >> shift | (TILE_WIDTH - 1)) + 1) << shift <= size:  # the tile's span fits
            tile = TileId(shift // TILE_HEIGHT, i >> (shift + TILE_HEIGHT))
            band.append((tile, (i >> shift) & (TILE_WIDTH - 1)))
            full.add(tile)
            shift += TILE_HEIGHT
        plan = [(level, s) for level, top in tops[shift:] if (s := (i >> level) ^ 1) <= top]
        bands.append(band)
        plans.append(plan)
        wanted.update(plan)
    tiles = read(full) if full else {}
    for t in full:
        if len(tiles.get(t, b"")) != FULL_TILE_BYTES:
            raise StorageError(f"tile {t.level}/{t.index} is not full in a tree of {size}")
    have = _proof_nodes(wanted, size, nodes, None) if wanted else {}
    out = []
    for band, plan in zip(bands, plans, strict=True):
        proof: list[bytes] = []
        for tile, slot in band:
            data = tiles[tile]
            proof += [data[o : o + HASH_SIZE] for o in _SIBLINGS[slot]]
        proof += [have[k] for k in plan]
        out.append(proof)
    return out


def _proof_nodes(
    wanted: set[tuple[int, int]],
    size: int,
    nodes: NodeCache | TileReader,
    known: Mapping[tuple[int, int], bytes] | None,
) -> dict[tuple[int, int], bytes]:
    """The hashes of the proof nodes ``wanted`` (each complete, or the partial node of its
    level at the tree's right edge), with ``known`` ones taken as given, the others read."""
    last = size - 1
    edge: dict[tuple[int, int], tuple[NodeId, ...]] = {}  # the partial node of each level
    for level in range(last.bit_length() if size > 0 else 0):
        top = last >> level
        if (top + 1) << level > size:
            edge[(level, top)] = tuple(range_nodes(top << level, size))
    have = dict(known or {})
    # Set operations rather than a loop over the wanted nodes (thousands for a lookup batch).
    fetch = wanted - have.keys() - edge.keys()
    for key in wanted & edge.keys() - have.keys():
        fetch.update(n for n in edge[key] if n not in have)
    if fetch:
        have.update(nodes(fetch) if isinstance(nodes, NodeCache) else node_hashes(fetch, nodes))
    for key in wanted & edge.keys():
        if key not in have:
            have[key] = fold_range([have[n] for n in edge[key]])
    return have


def run_inclusion_proofs(
    first: int, leaf_hashes: Sequence[bytes], size: int, nodes: NodeCache
) -> list[list[bytes]]:
    """Inclusion proofs at ``size`` for the consecutive leaves ``first, first + 1, ...`` whose
    hashes are given (a batch just appended: its receipts). The complete nodes inside the run
    are hashed from its leaves; only the few siblings at its two ends (and the right edge) are
    read, so proving a thousand receipts costs about a thousand hashes, not a thousand proofs'
    worth of node lookups.

    The proofs are built a level at a time: at level L the leaves of one block of ``2**L``
    share their sibling, so each level is one short list of siblings, repeated, and the proofs
    are the columns read across (``zip``), a level left out where its sibling starts past the
    tree (the right edge)."""
    end = first + len(leaf_hashes)
    if first < 0 or end > size:
        raise InputError(f"leaves [{first}, {end}) are not all in a tree of {size}")
    if first == end:
        return []
    inside: dict[tuple[int, int], bytes] = {}
    row, lo, level = list(leaf_hashes), first, 0
    while row:
        inside.update(zip([(level, k) for k in range(lo, lo + len(row))], row, strict=True))
        skip = lo & 1
        row = [
            _sha256(b"\x01" + row[k] + row[k + 1]).digest() for k in range(skip, len(row) - 1, 2)
        ]
        lo, level = (lo + 1) >> 1, level + 1
    last = size - 1
    blocks = [
        (level, range(first >> level, ((end - 1) >> level) + 1), last >> level)
        for level in range(last.bit_length())
    ]
    have = _proof_nodes(
        {(level, b ^ 1) for level, bs, top in blocks for b in bs if b ^ 1 <= top},
        size,
        nodes,
        inside,
    )
    columns: list[Iterable[bytes | None]] = []
    for level, bs, top in blocks:
        siblings = [have[(level, b ^ 1)] if b ^ 1 <= top else None for b in bs]
        counts = [1 << level] * len(bs)
        counts[0] = min(end, (bs[0] + 1) << level) - first
        if len(bs) > 1:
            counts[-1] = end - (bs[-1] << level)
        columns.append(chain.from_iterable(map(repeat, siblings, counts)))
    if not columns:  # a tree of one leaf: its proof is empty
        return [[]]
    # Hashes are 32 bytes, never empty: filtering out None drops exactly the skipped levels.
    return [list(filter(None, proof)) for proof in zip(*columns, strict=True)]


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
    needs. ``tiles[level]`` is the expanded partial tile at that level (empty when none)."""

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
                if stored is None:
                    raise StorageError(f"tile {level}/{tid.index} is missing (tree size {size})")
                try:
                    data = truncate_tile(stored, partial)
                except StorageError as e:
                    raise StorageError(
                        f"tile {level}/{tid.index}: {e} (tree size {size})"
                    ) from None
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
    while pending:
        if level == len(tiles):
            tiles.append(b"")
        data = tiles[level]
        width = len(tile_rows(data)[0]) // HASH_SIZE
        tile_index = (edge.size >> (TILE_HEIGHT * level)) >> TILE_HEIGHT
        promoted: list[bytes] = []
        pos = 0
        while pos < len(pending):
            take = min(TILE_WIDTH - width, len(pending) - pos)
            data = extend_tile(data, b"".join(pending[pos : pos + take]))
            width += take
            pos += take
            written[TileId(level, tile_index)] = data
            if width == TILE_WIDTH:
                promoted.append(tile_root(data))
                data, width = b"", 0
                tile_index += 1
        tiles[level] = data
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
