"""The tiled tree: batch integration, the right edge, proofs read from tiles, against the
recursive reference in tests/reference.py."""

from __future__ import annotations

import copy
import random
from collections.abc import Collection, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger.errors import InputError, StorageError
from arrears.ledger.merkle import EMPTY_ROOT, HASH_SIZE, NodeId
from arrears.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    NodeCache,
    RightEdge,
    TileId,
    TileReader,
    consistency_proof,
    edge_tile_ids,
    fold_tile_slots,
    inclusion_proof,
    inclusion_proofs,
    integrate,
    node_hashes,
    overlay,
    run_inclusion_proofs,
    tile_for,
    tile_width,
    tree_root,
)
from tests import reference as ref

SETTINGS = settings(max_examples=30, deadline=None)

batch_size = st.sampled_from([0, 1, 255, 256, 257]) | st.integers(0, 600)


def entries_of(n: int, tag: str = "entry") -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(n)]


def reader(store: Mapping[TileId, bytes]) -> TileReader:
    def read(ids: Collection[TileId]) -> dict[TileId, bytes]:
        return {t: store[t] for t in ids if t in store}

    return read


def expanded(bottom: Sequence[bytes]) -> bytes:
    """A tile as stored, from its bottom row, by the reference: each of the 8 rows holds the
    complete nodes over the row below it."""
    rows = [list(bottom)]
    for _ in range(TILE_HEIGHT - 1):
        below = rows[-1]
        rows.append([ref.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return b"".join(h for row in rows for h in row)


def expected_tiles(entries: Sequence[bytes]) -> dict[TileId, bytes]:
    """Every tile of the tree of these entries, from the reference: tile (level, index) holds
    the complete nodes ``index * 256 ...`` of tree level ``8 * level`` and the rows above."""
    tiles: dict[TileId, bytes] = {}
    level = 0
    while (width := len(entries) >> (TILE_HEIGHT * level)) > 0:
        span = 1 << (TILE_HEIGHT * level)
        for index in range(0, (width + TILE_WIDTH - 1) // TILE_WIDTH):
            first, last = index * TILE_WIDTH, min(width, (index + 1) * TILE_WIDTH)
            tiles[TileId(level, index)] = expanded(
                [ref.mth(entries[n * span : (n + 1) * span]) for n in range(first, last)]
            )
        level += 1
    return tiles


def integrate_all(
    entries: Sequence[bytes], batches: Sequence[int]
) -> tuple[RightEdge, dict[TileId, bytes]]:
    edge, store, size = RightEdge(), {}, 0
    for n in batches:
        result = integrate(edge, [ref.leaf_hash(e) for e in entries[size : size + n]])
        store.update(result.tiles)
        edge, size = result.edge, size + n
    assert size == len(entries)
    return edge, store


# --- placement -----------------------------------------------------------------------------------


def test_tile_for_examples() -> None:
    assert tile_for(NodeId(0, 5)) == (TileId(0, 0), 5, 1)
    assert tile_for(NodeId(0, 256)) == (TileId(0, 1), 0, 1)
    assert tile_for(NodeId(3, 40)) == (TileId(0, 1), 64, 8)
    assert tile_for(NodeId(7, 1)) == (TileId(0, 0), 128, 128)
    assert tile_for(NodeId(8, 3)) == (TileId(1, 0), 3, 1)
    assert tile_for(NodeId(10, 100)) == (TileId(1, 1), 144, 4)
    assert tile_for(NodeId(16, 0)) == (TileId(2, 0), 0, 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**30))
def test_tile_for_places_the_node_inside_one_tile(level: int, index: int) -> None:
    tile, first, count = tile_for(NodeId(level, index))
    assert tile.level == level // TILE_HEIGHT
    assert count == 1 << (level % TILE_HEIGHT)
    assert first >= 0 and first + count <= TILE_WIDTH
    assert first % count == 0
    # The node's leaves are exactly those under the chosen slots of the tile.
    slot_span = 1 << (TILE_HEIGHT * tile.level)
    begin = (tile.index * TILE_WIDTH + first) * slot_span
    assert (begin, begin + count * slot_span) == (
        NodeId(level, index).begin,
        NodeId(level, index).end,
    )


def test_fold_tile_slots_equals_reference() -> None:
    entries = entries_of(TILE_WIDTH)
    tile = b"".join(ref.leaf_hash(e) for e in entries)
    for count in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        for first in range(0, TILE_WIDTH, count):
            assert fold_tile_slots(tile, first, count) == ref.mth(entries[first : first + count])


def test_fold_tile_slots_of_a_partial_tile() -> None:
    entries = entries_of(44)
    tile = b"".join(ref.leaf_hash(e) for e in entries)
    assert fold_tile_slots(tile, 32, 8) == ref.mth(entries[32:40])
    assert fold_tile_slots(tile, 43, 1) == ref.leaf_hash(entries[43])


@pytest.mark.parametrize(
    ("length", "first", "count"),
    [
        (0, 0, 1),
        (3 * HASH_SIZE, 0, 4),
        (3 * HASH_SIZE, 3, 1),
        (4 * HASH_SIZE - 1, 0, 4),
        (4 * HASH_SIZE - 1, 3, 1),
        (44 * HASH_SIZE, 32, 16),
    ],
)
def test_fold_tile_slots_rejects_a_short_tile(length: int, first: int, count: int) -> None:
    with pytest.raises(StorageError, match="tile too short"):
        fold_tile_slots(bytes(range(256)) * (length // 256) + bytes(length % 256), first, count)


def test_edge_tile_ids() -> None:
    assert edge_tile_ids(0) == []
    assert edge_tile_ids(1) == [TileId(0, 0)]
    assert edge_tile_ids(255) == [TileId(0, 0)]
    assert edge_tile_ids(256) == [TileId(1, 0)]
    assert edge_tile_ids(257) == [TileId(0, 1), TileId(1, 0)]
    assert edge_tile_ids(512) == [TileId(1, 0)]
    assert edge_tile_ids(65536) == [TileId(2, 0)]
    assert edge_tile_ids(65536 + 256 * 3 + 5) == [TileId(0, 259), TileId(1, 1), TileId(2, 0)]


# --- integration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batches",
    [
        [1] * 300,
        [255, 1, 256, 257, 1, 0, 3],
        [256, 256, 256],
        [257, 255, 511, 1],
        [600, 600, 1],
    ],
)
def test_integrate_in_batches_equals_reference_at_every_step(batches: list[int]) -> None:
    entries = entries_of(sum(batches))
    edge, store, size = RightEdge(), {}, 0
    for n in batches:
        result = integrate(edge, [ref.leaf_hash(e) for e in entries[size : size + n]])
        size += n
        assert result.edge.size == size
        assert result.root == ref.mth(entries[:size])
        assert result.edge.root() == result.root
        for tile_id, data in result.tiles.items():
            assert store.get(tile_id) != data, f"tile {tile_id} written but not changed"
        store.update(result.tiles)
        if size % 41 == 0 or n != 1:  # every step of the larger batches; a sample of the 1s
            assert store == expected_tiles(entries[:size])
            assert RightEdge.load(size, reader(store)) == result.edge
        edge = result.edge


@SETTINGS
@given(st.lists(batch_size, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_integrate_random_batches_equals_reference(batches: list[int], rnd: random.Random) -> None:
    entries = [rnd.randbytes(rnd.randrange(8)) for _ in range(sum(batches))]
    edge, store, size = RightEdge(), {}, 0
    for n in batches:
        result = integrate(edge, [ref.leaf_hash(e) for e in entries[size : size + n]])
        size += n
        assert result.root == ref.mth(entries[:size])
        store.update(result.tiles)
        assert store == expected_tiles(entries[:size])
        assert RightEdge.load(size, reader(store)) == result.edge
        edge = result.edge


def test_integrate_across_a_level_two_tile() -> None:
    # 65536 leaves fill tile 1/0 and start tile 2/0; go on past it in odd batches.
    entries = entries_of(65536 + 256 * 3 + 5)
    edge, store, size = RightEdge(), {}, 0
    for n in (65535, 1, 256 * 3, 5):
        result = integrate(edge, [ref.leaf_hash(e) for e in entries[size : size + n]])
        store.update(result.tiles)
        edge, size = result.edge, size + n
        assert result.root == ref.mth(entries[:size])
        assert RightEdge.load(size, reader(store)) == edge
    assert store[TileId(2, 0)] == ref.mth(entries[:65536])
    assert tile_width(store[TileId(1, 1)]) == 3
    assert store == expected_tiles(entries)
    for index in (65535, 66000):
        assert inclusion_proof(index, size, reader(store)) == ref.path(index, entries)
    for size1 in (65536, 65537):
        assert consistency_proof(size1, size, reader(store)) == ref.proof(size1, entries)


def test_integrate_nothing() -> None:
    result = integrate(RightEdge(), [])
    assert result.root == EMPTY_ROOT
    assert result.tiles == {}
    assert result.edge.size == 0
    edge, _ = integrate_all(entries_of(300), [300])
    again = integrate(edge, [])
    assert again.tiles == {}
    assert again.edge == edge
    assert again.root == ref.mth(entries_of(300))


def test_integrate_does_not_mutate_its_input_edge() -> None:
    entries = entries_of(700)
    edge, _ = integrate_all(entries[:300], [300])
    tiles_before = edge.tiles
    snapshot = copy.deepcopy(edge)
    result = integrate(edge, [ref.leaf_hash(e) for e in entries[300:]])
    assert edge == snapshot
    assert edge.tiles is tiles_before
    assert result.edge.tiles is not edge.tiles
    # The old edge still answers for its own size.
    assert edge.root() == ref.mth(entries[:300])
    assert result.root == ref.mth(entries)


def test_integrate_rejects_a_hash_of_the_wrong_size() -> None:
    good = ref.leaf_hash(b"x")
    with pytest.raises(InputError, match=r"^leaf_hashes\[1\]: hash must be 32 bytes, got 31"):
        integrate(RightEdge(), [good, good[:31], good])


# --- the right edge ------------------------------------------------------------------------------


def test_right_edge_of_the_empty_tree() -> None:
    assert RightEdge().root() == EMPTY_ROOT
    assert RightEdge.load(0, reader({})) == RightEdge(0, [])
    assert tree_root(0, reader({})) == EMPTY_ROOT


@pytest.mark.parametrize("size", [1, 255, 256, 257, 300, 511, 512, 513, 1000])
def test_right_edge_load_from_stored_tiles(size: int) -> None:
    entries = entries_of(size)
    edge, store = integrate_all(entries, [size])
    loaded = RightEdge.load(size, reader(store))
    assert loaded == edge
    assert loaded.root() == ref.mth(entries)
    assert tree_root(size, reader(store)) == ref.mth(entries)


def test_right_edge_load_from_tiles_grown_past_its_size() -> None:
    entries = entries_of(1000)
    _, store = integrate_all(entries, [1000])
    for size in (1, 100, 255, 256, 257, 300, 512, 999):
        edge = RightEdge.load(size, reader(store))
        assert edge == integrate_all(entries[:size], [size])[0]
        assert edge.root() == ref.mth(entries[:size])


def test_right_edge_load_rejects_a_missing_tile() -> None:
    _, store = integrate_all(entries_of(300), [300])
    del store[TileId(0, 1)]
    with pytest.raises(StorageError, match="tile 0/1 is missing"):
        RightEdge.load(300, reader(store))


def test_right_edge_load_rejects_a_truncated_tile() -> None:
    _, store = integrate_all(entries_of(300), [300])
    store[TileId(0, 1)] = expanded([bytes(32)] * 43)
    with pytest.raises(StorageError, match="tile 0/1: tile holds 43 hashes, 44 are needed"):
        RightEdge.load(300, reader(store))
    store[TileId(0, 1)] = bytes(45 * HASH_SIZE)  # no tile's size
    with pytest.raises(StorageError, match="malformed tile"):
        RightEdge.load(300, reader(store))
    _, store = integrate_all(entries_of(300), [300])
    store[TileId(1, 0)] = b""
    with pytest.raises(StorageError, match="tile 1/0"):
        RightEdge.load(300, reader(store))


def test_right_edge_load_rejects_a_negative_size() -> None:
    with pytest.raises(InputError, match=r"^tree_size: must be non-negative"):
        RightEdge.load(-1, reader({}))


# --- proofs from tiles ---------------------------------------------------------------------------


@SETTINGS
@given(st.integers(1, 1100), st.integers(0, 200), st.data())
def test_proofs_from_tiles_equal_reference(size: int, grown: int, data: st.DataObject) -> None:
    # The store may already hold a larger tree: its partial tiles have grown past `size`.
    entries = entries_of(size + grown)
    _, store = integrate_all(entries, [size, grown])
    read = reader(store)
    tree = entries[:size]
    for _ in range(3):
        index = data.draw(st.integers(0, size - 1), label="index")
        assert inclusion_proof(index, size, read) == ref.path(index, tree)
        size1 = data.draw(st.integers(1, size), label="size1")
        assert consistency_proof(size1, size, read) == ref.proof(size1, tree)
    assert consistency_proof(0, size, read) == []
    assert tree_root(size, read) == ref.mth(tree)


def test_every_proof_of_a_small_tree_from_tiles() -> None:
    for size in (1, 2, 3, 7, 8, 9, 31):
        entries = entries_of(size)
        _, store = integrate_all(entries, [size])
        for index in range(size):
            assert inclusion_proof(index, size, reader(store)) == ref.path(index, entries)
        for size1 in range(1, size + 1):
            assert consistency_proof(size1, size, reader(store)) == ref.proof(size1, entries)


@SETTINGS
@given(st.integers(1, 1100), st.integers(0, 200), st.data())
def test_many_proofs_at_once_equal_reference(size: int, grown: int, data: st.DataObject) -> None:
    entries = entries_of(size + grown)
    _, store = integrate_all(entries, [size, grown])
    tree = entries[:size]
    indexes = data.draw(st.lists(st.integers(0, size - 1), max_size=40), label="indexes")
    want = [ref.path(i, tree) for i in indexes]
    assert inclusion_proofs(indexes, size, reader(store)) == want
    assert inclusion_proofs(indexes, size, NodeCache(reader(store))) == want


def test_proofs_through_two_levels_of_full_tiles_equal_reference() -> None:
    # Past 65,536 leaves the bottom two tile levels of a proof are full tiles, sliced at fixed
    # offsets; the levels above, and leaves in the partial tiles at the right edge, are looked
    # up node by node. Leaves from both sides of each boundary, at sizes around it.
    entries = entries_of(70_001)
    _, store = integrate_all(entries, [65_536, 3, 4_462])
    for size in (65_536, 65_537, 70_001):
        tree = entries[:size]
        indexes = [0, 1, 255, 256, 65_279, 65_280, 65_535, size - 1, *range(size - 300, size, 37)]
        want = [ref.path(i, tree) for i in indexes]
        assert inclusion_proofs(indexes, size, reader(store)) == want
        assert inclusion_proofs(indexes, size, NodeCache(reader(store))) == want


def test_many_proofs_refuse_a_full_tile_that_is_not_full() -> None:
    entries = entries_of(600)
    _, store = integrate_all(entries, [600])
    torn = dict(store)
    torn[TileId(0, 0)] = store[TileId(0, 0)][:-HASH_SIZE]
    with pytest.raises(StorageError, match="tile 0/0 is not full"):
        inclusion_proofs([5], 600, reader(torn))
    del torn[TileId(0, 1)]
    with pytest.raises(StorageError, match="tile 0/1 is not full"):
        inclusion_proofs([300], 600, reader(torn))


def test_many_proofs_refuse_an_index_outside_the_tree() -> None:
    entries = entries_of(10)
    _, store = integrate_all(entries, [10])
    for bad, why in ((10, "10 is not below tree_size 10"), (-1, "must be non-negative")):
        with pytest.raises(InputError, match=why):
            inclusion_proofs([3, bad], 10, reader(store))
    assert inclusion_proofs([], 0, reader(store)) == []


@SETTINGS
@given(st.integers(1, 1100), st.integers(0, 300), st.data())
def test_proofs_of_a_run_of_leaves_equal_reference(
    size: int, grown: int, data: st.DataObject
) -> None:
    entries = entries_of(size + grown)
    _, store = integrate_all(entries, [size, grown])
    tree = entries[:size]
    first = data.draw(st.integers(0, size - 1), label="first")
    end = data.draw(st.integers(first + 1, size), label="end")
    hashes = [ref.leaf_hash(e) for e in tree[first:end]]
    got = run_inclusion_proofs(first, hashes, size, NodeCache(reader(store)))
    assert got == [ref.path(i, tree) for i in range(first, end)]


def test_proofs_of_every_run_of_a_small_tree() -> None:
    for size in (1, 2, 3, 5, 8, 9, 17):
        entries = entries_of(size)
        _, store = integrate_all(entries, [size])
        hashes = [ref.leaf_hash(e) for e in entries]
        for first in range(size):
            for end in range(first + 1, size + 1):
                got = run_inclusion_proofs(first, hashes[first:end], size, NodeCache(reader(store)))
                assert got == [ref.path(i, entries) for i in range(first, end)], (size, first, end)


def test_a_run_reads_only_the_nodes_around_it() -> None:
    entries = entries_of(5000)
    _, store = integrate_all(entries, [5000])
    seen: list[NodeId] = []

    class Counting(NodeCache):
        def __call__(self, nodes: Collection[NodeId]) -> dict[NodeId, bytes]:
            seen.extend(nodes)
            return super().__call__(nodes)

    hashes = [ref.leaf_hash(e) for e in entries[3000:4000]]
    run_inclusion_proofs(3000, hashes, 5000, Counting(reader(store)))
    # 13 levels: at most one sibling at each end of the run per level, and the few nodes the
    # partial siblings at the right edge fold from (reading every sibling: over a thousand)
    assert len(seen) <= 3 * 13


def test_a_run_must_lie_in_the_tree() -> None:
    cache = NodeCache(reader({}))
    assert run_inclusion_proofs(3, [], 10, cache) == []
    with pytest.raises(InputError, match=r"leaves \[9, 11\) are not all in a tree of 10"):
        run_inclusion_proofs(9, [bytes(32)] * 2, 10, cache)


def test_proofs_read_the_tiles_once() -> None:
    entries = entries_of(1000)
    _, store = integrate_all(entries, [1000])
    calls: list[set[TileId]] = []

    def counting(ids: Collection[TileId]) -> dict[TileId, bytes]:
        calls.append(set(ids))
        return reader(store)(ids)

    inclusion_proof(3, 1000, counting)
    consistency_proof(700, 1000, counting)
    assert len(calls) == 2


def test_proofs_and_nodes_reject_a_missing_tile() -> None:
    entries = entries_of(600)
    _, store = integrate_all(entries, [600])
    del store[TileId(0, 0)]
    with pytest.raises(StorageError, match="missing tile 0/0"):
        inclusion_proof(3, 600, reader(store))
    with pytest.raises(StorageError, match="missing tile 0/0"):
        consistency_proof(3, 600, reader(store))
    with pytest.raises(StorageError, match="missing tile 0/0"):
        node_hashes([NodeId(0, 0)], reader(store))
    # the node is named alike whether it is asked for as a NodeId or a plain tuple
    for node in (NodeId(3, 2), (3, 2)):
        with pytest.raises(
            StorageError, match=r"^missing tile 0/0 for node NodeId\(level=3, index=2\)$"
        ):
            node_hashes([node], reader(store))
    with pytest.raises(StorageError, match="missing tile 0/0"):
        NodeCache(reader(store))([(1, 0)])


def test_node_hashes_of_plain_tuples_are_those_of_node_ids() -> None:
    entries = entries_of(700)
    _, store = integrate_all(entries, [300, 400])
    nodes = [NodeId(level, index) for level in range(10) for index in range(700 >> level)]
    by_id = node_hashes(nodes, reader(store))
    assert node_hashes([tuple(n) for n in nodes], reader(store)) == by_id
    cache = NodeCache(reader(store))
    assert cache([tuple(n) for n in nodes[:50]]) == {n: by_id[n] for n in nodes[:50]}
    assert cache(nodes) == by_id


def test_proofs_reject_a_truncated_tile() -> None:
    entries = entries_of(300)
    _, store = integrate_all(entries, [300])
    store[TileId(0, 1)] = expanded([bytes(32)] * 10)
    with pytest.raises(StorageError, match="tile too short"):
        inclusion_proof(299, 300, reader(store))
    with pytest.raises(StorageError, match="tile too short"):
        tree_root(300, reader(store))
    store[TileId(0, 1)] = bytes(10 * HASH_SIZE + 7)
    with pytest.raises(StorageError, match="malformed tile"):
        inclusion_proof(299, 300, reader(store))


def test_node_hashes_equal_reference() -> None:
    entries = entries_of(1000)
    _, store = integrate_all(entries, [1000])
    nodes = [NodeId(0, 999), NodeId(3, 100), NodeId(8, 2), NodeId(9, 0), NodeId(5, 30)]
    got = node_hashes(nodes, reader(store))
    assert got == {n: ref.mth(entries[n.begin : n.end]) for n in nodes}


# --- overlay -------------------------------------------------------------------------------------


def test_overlay_sees_pending_tiles_over_the_base() -> None:
    entries = entries_of(700)
    edge, store = integrate_all(entries[:300], [300])
    pending = integrate(edge, [ref.leaf_hash(e) for e in entries[300:]])
    asked: list[set[TileId]] = []

    def base(ids: Collection[TileId]) -> dict[TileId, bytes]:
        asked.append(set(ids))
        return reader(store)(ids)

    read = overlay(base, pending.tiles)
    for index in (0, 299, 300, 699):
        assert inclusion_proof(index, 700, read) == ref.path(index, entries)
    assert consistency_proof(300, 700, read) == ref.proof(300, entries)
    assert tree_root(700, read) == ref.mth(entries)
    # The base is only asked for what the overlay does not have.
    assert all(not (ids & pending.tiles.keys()) for ids in asked)
    # A pending tile replaces the stored one of the same id.
    assert TileId(0, 1) in store and TileId(0, 1) in pending.tiles
    assert read([TileId(0, 1)]) == {TileId(0, 1): pending.tiles[TileId(0, 1)]}
    # The base is left alone when the overlay answers for everything.
    asked.clear()
    assert read([TileId(0, 1)]) == {TileId(0, 1): pending.tiles[TileId(0, 1)]}
    assert asked == []
    # Tiles neither has are absent from the answer.
    assert read([TileId(5, 5)]) == {}
