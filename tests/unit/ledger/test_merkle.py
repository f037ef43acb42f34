"""RFC 6962 hashing, proof planning and verification, against published vectors and the
recursive reference in tests/reference.py."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from arrears.ledger.errors import (
    ArrearsError,
    InputError,
    ProofError,
    RootMismatchError,
    VerificationError,
)
from arrears.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    InclusionVerifier,
    NodeId,
    consistency_proof_length,
    consistency_ranges,
    fold_range,
    inclusion_proof_length,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    split_point,
    verify_consistency,
    verify_inclusion,
)
from tests import reference as ref
from tests.reference import (
    RFC6962_CONSISTENCY,
    RFC6962_EMPTY_ROOT,
    RFC6962_INCLUSION,
    RFC6962_LEAVES,
    RFC6962_ROOTS,
)

SETTINGS = settings(max_examples=200, deadline=None)
FEW = settings(max_examples=40, deadline=None)


# Trees small enough to flip every bit of every hash of every proof.
FLIP_SIZES = (1, 2, 3, 4, 5, 7, 8, 13)

# Distinct entries, so that no leaf of a tree can stand in for another.
distinct_entries = st.lists(st.binary(max_size=6), min_size=1, max_size=70, unique=True)


def entries_of(n: int) -> list[bytes]:
    return [b"entry %d" % i for i in range(n)]


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    return [ref.leaf_hash(e) for e in entries]


def folded(entries: Sequence[bytes], ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """A proof's hashes from its planned ranges, with every node hash from the reference."""
    per_range = [range_nodes(b, e) for b, e in ranges]
    table = {n: ref.mth(entries[n.begin : n.end]) for nodes in per_range for n in nodes}
    return [fold_range([table[n] for n in nodes]) for nodes in per_range]


def flipped(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def rejects(check: Callable[..., None], *args: object) -> bool:
    try:
        check(*args)
    except ArrearsError:
        return True
    return False


# --- published vectors, hashing ----------------------------------------------------------------


def test_reference_reproduces_the_published_vectors() -> None:
    assert ref.mth([]).hex() == RFC6962_EMPTY_ROOT
    for size, root in RFC6962_ROOTS.items():
        assert ref.mth(RFC6962_LEAVES[:size]).hex() == root
    for index, size, proof in RFC6962_INCLUSION:
        assert [h.hex() for h in ref.path(index, RFC6962_LEAVES[:size])] == proof
    for size1, size2, proof in RFC6962_CONSISTENCY:
        assert [h.hex() for h in ref.proof(size1, RFC6962_LEAVES[:size2])] == proof


def test_core_reproduces_the_published_vectors() -> None:
    hashes = [leaf_hash(d) for d in RFC6962_LEAVES]
    assert EMPTY_ROOT.hex() == RFC6962_EMPTY_ROOT
    for size, root in RFC6962_ROOTS.items():
        assert root_from_leaf_hashes(hashes[:size]).hex() == root
    for index, size, proof in RFC6962_INCLUSION:
        assert [h.hex() for h in folded(RFC6962_LEAVES, inclusion_ranges(index, size))] == proof
        verify_inclusion(
            index,
            size,
            hashes[index],
            [bytes.fromhex(h) for h in proof],
            bytes.fromhex(RFC6962_ROOTS[size]),
        )
    for size1, size2, proof in RFC6962_CONSISTENCY:
        assert [h.hex() for h in folded(RFC6962_LEAVES, consistency_ranges(size1, size2))] == proof
        verify_consistency(
            size1,
            size2,
            bytes.fromhex(RFC6962_ROOTS[size1]),
            bytes.fromhex(RFC6962_ROOTS[size2]),
            [bytes.fromhex(h) for h in proof],
        )


def test_hash_definitions() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert HASH_SIZE == 32
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest() == ref.leaf_hash(b"abc")
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) == ref.node_hash(left, right)


def test_split_point_is_the_largest_power_of_two_below_n() -> None:
    for n in range(2, 1100):
        assert split_point(n) == ref.split_point(n), n
    assert split_point(2**40) == 2**39
    assert split_point(2**40 + 1) == 2**40


def test_empty_tree() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    rng = CompactRange()
    assert rng.size == 0
    assert rng.root() == EMPTY_ROOT


# --- roots ---------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.binary(max_size=6), max_size=300))
def test_root_from_leaf_hashes_equals_reference(entries: list[bytes]) -> None:
    assert root_from_leaf_hashes(leaf_hashes(entries)) == ref.mth(entries)


@FEW
@given(st.lists(st.binary(max_size=6), max_size=140))
def test_compact_range_equals_reference_at_every_size(entries: list[bytes]) -> None:
    rng = CompactRange()
    assert rng.root() == ref.mth([])
    for n, h in enumerate(leaf_hashes(entries), 1):
        rng.append(h)
        assert rng.size == n
        assert rng.root() == ref.mth(entries[:n])


# --- planning ------------------------------------------------------------------------------------


def test_node_id_spans() -> None:
    assert (NodeId(0, 5).begin, NodeId(0, 5).end) == (5, 6)
    assert (NodeId(3, 2).begin, NodeId(3, 2).end) == (16, 24)


def test_range_nodes_examples() -> None:
    assert range_nodes(0, 1) == [NodeId(0, 0)]
    assert range_nodes(0, 7) == [NodeId(2, 0), NodeId(1, 2), NodeId(0, 6)]
    assert range_nodes(8, 13) == [NodeId(2, 2), NodeId(0, 12)]
    assert range_nodes(4, 8) == [NodeId(2, 1)]
    assert range_nodes(5, 5) == []


@SETTINGS
@given(st.integers(1, 2**20), st.integers(0, 25))
def test_range_nodes_of_proof_ranges_tile_the_range(end: int, extra: int) -> None:
    # Every range a proof can carry starts at a multiple of a power of two at least as large.
    level = max(end - 1, 0).bit_length() + extra % 3
    begin = (extra << level) if extra else 0
    nodes = range_nodes(begin, begin + end)
    assert nodes[0].begin == begin
    assert nodes[-1].end == begin + end
    for a, b in itertools.pairwise(nodes):
        assert a.end == b.begin
        assert a.level > b.level  # strictly decreasing: the RFC's split at split_point


@SETTINGS
@given(distinct_entries, st.data())
def test_inclusion_ranges_fold_to_reference_path(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    ranges = inclusion_ranges(index, n)
    assert ranges == ref.path(index, range(n), ref.span)
    assert folded(entries, ranges) == ref.path(index, entries)


@SETTINGS
@given(distinct_entries, st.data())
def test_consistency_ranges_fold_to_reference_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    size1 = data.draw(st.integers(1, n), label="size1")
    ranges = consistency_ranges(size1, n)
    assert ranges == ref.proof(size1, range(n), ref.span)
    assert folded(entries, ranges) == ref.proof(size1, entries)


def test_consistency_from_the_empty_tree_is_empty() -> None:
    for n in range(0, 20):
        assert consistency_ranges(0, n) == []
        assert consistency_proof_length(0, n) == 0


def test_plans_and_lengths_equal_reference_for_every_size_up_to_300() -> None:
    for n in range(1, 301):
        leaves = range(n)
        for index in range(n):
            want = ref.path(index, leaves, ref.span)
            assert inclusion_ranges(index, n) == want, (index, n)
            assert inclusion_proof_length(index, n) == len(want), (index, n)
        for size1 in range(1, n + 1):
            want = ref.proof(size1, leaves, ref.span)
            assert consistency_ranges(size1, n) == want, (size1, n)
            assert consistency_proof_length(size1, n) == len(want), (size1, n)


@SETTINGS
@given(st.integers(1, 2**62), st.data())
def test_lengths_equal_reference_for_large_trees(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    size1 = data.draw(st.integers(1, size), label="size1")
    leaves = range(size)
    assert inclusion_proof_length(index, size) == len(ref.path(index, leaves, ref.span))
    assert inclusion_ranges(index, size) == ref.path(index, leaves, ref.span)
    assert consistency_proof_length(size1, size) == len(ref.proof(size1, leaves, ref.span))
    assert consistency_ranges(size1, size) == ref.proof(size1, leaves, ref.span)


# --- inclusion: acceptance -----------------------------------------------------------------------


def test_verify_inclusion_accepts_every_reference_proof_of_small_trees() -> None:
    for n in range(1, 40):
        entries = entries_of(n)
        root = ref.mth(entries)
        for index in range(n):
            proof = ref.path(index, entries)
            verify_inclusion(index, n, ref.leaf_hash(entries[index]), proof, root)
            assert root_from_inclusion_proof(index, n, ref.leaf_hash(entries[index]), proof) == root


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_inclusion_accepts_reference_proofs(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    verify_inclusion(
        index, n, ref.leaf_hash(entries[index]), ref.path(index, entries), ref.mth(entries)
    )


# --- inclusion: rejection ------------------------------------------------------------------------


def inclusion_parts(entries: Sequence[bytes], index: int) -> list[bytes]:
    """The hashes a verifier is given: the proof, then the leaf hash, then the root."""
    return [*ref.path(index, entries), ref.leaf_hash(entries[index]), ref.mth(entries)]


def verify_inclusion_parts(index: int, size: int, parts: Sequence[bytes]) -> None:
    *proof, leaf, root = parts
    verify_inclusion(index, size, leaf, proof, root)


def test_verify_inclusion_rejects_every_flipped_bit_of_small_trees() -> None:
    for n in FLIP_SIZES:
        entries = entries_of(n)
        for index in range(n):
            parts = inclusion_parts(entries, index)
            verify_inclusion_parts(index, n, parts)
            for at in range(len(parts)):
                for bit in range(8 * HASH_SIZE):
                    bad = list(parts)
                    bad[at] = flipped(parts[at], bit)
                    assert rejects(verify_inclusion_parts, index, n, bad), (n, index, at, bit)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_inclusion_rejects_a_flipped_bit(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    parts = inclusion_parts(entries, index)
    at = data.draw(st.integers(0, len(parts) - 1), label="which hash")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    parts[at] = flipped(parts[at], bit)
    with pytest.raises(VerificationError):
        verify_inclusion_parts(index, n, parts)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_inclusion_rejects_a_truncated_or_extended_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof = ref.path(index, entries)
    leaf, root = ref.leaf_hash(entries[index]), ref.mth(entries)
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra hash")
    at = data.draw(st.integers(0, len(proof)), label="where")
    longer = [*proof[:at], extra, *proof[at:]]
    with pytest.raises(ProofError, match="wrong length"):
        verify_inclusion(index, n, leaf, longer, root)
    if proof:
        shorter = proof[:at] + proof[at + 1 :] if at < len(proof) else proof[:-1]
        with pytest.raises(ProofError, match="wrong length"):
            verify_inclusion(index, n, leaf, shorter, root)


# --- inclusion: many proofs of one tree, shared work ----------------------------------------


def test_inclusion_verifier_accepts_every_proof_of_small_trees_in_any_order() -> None:
    for n in range(1, 40):
        entries = entries_of(n)
        for order in (range(n), reversed(range(n)), [*range(0, n, 2), *range(1, n, 2)]):
            shared = InclusionVerifier(n, ref.mth(entries))
            for index in order:
                shared.verify(index, ref.leaf_hash(entries[index]), ref.path(index, entries))


def test_inclusion_verifier_rejects_every_flipped_bit_after_its_neighbours() -> None:
    """Every bad proof is refused, also once the proofs around it were verified (the shared
    states must not let a proof stop early on a hash or a tail that differs)."""
    for n in FLIP_SIZES:
        entries = entries_of(n)
        root = ref.mth(entries)
        shared = InclusionVerifier(n, root)
        for index in range(n):
            shared.verify(index, ref.leaf_hash(entries[index]), ref.path(index, entries))
        for index in range(n):
            parts = inclusion_parts(entries, index)[:-1]  # the proof, then the leaf hash
            for at in range(len(parts)):
                for bit in range(8 * HASH_SIZE):
                    bad = list(parts)
                    bad[at] = flipped(parts[at], bit)
                    *proof, leaf = bad
                    assert rejects(shared.verify, index, leaf, proof), (n, index, at, bit)
            # and the right proof still passes afterwards
            shared.verify(index, ref.leaf_hash(entries[index]), ref.path(index, entries))


@SETTINGS
@given(distinct_entries, st.data())
def test_inclusion_verifier_agrees_with_verify_inclusion(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    root = ref.mth(entries)
    shared = InclusionVerifier(n, root)
    for _ in range(data.draw(st.integers(1, 12), label="proofs")):
        index = data.draw(st.integers(0, n - 1), label="index")
        claimed = data.draw(st.integers(0, n - 1) | st.just(index), label="claimed index")
        parts = inclusion_parts(entries, index)[:-1]
        if data.draw(st.booleans(), label="tamper"):
            at = data.draw(st.integers(0, len(parts) - 1), label="which hash")
            bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
            parts[at] = flipped(parts[at], bit)
        *proof, leaf = parts
        alone = rejects(verify_inclusion, claimed, n, leaf, proof, root)
        assert rejects(shared.verify, claimed, leaf, proof) == alone


def test_inclusion_verifier_checks_the_shape_first() -> None:
    entries = entries_of(5)
    shared = InclusionVerifier(5, ref.mth(entries))
    with pytest.raises(ProofError, match="wrong length"):
        shared.verify(1, ref.leaf_hash(entries[1]), ref.path(1, entries)[:-1])
    with pytest.raises(InputError, match="index: 5 is not below tree_size 5"):
        shared.verify(5, ref.leaf_hash(entries[1]), ref.path(1, entries))
    with pytest.raises(InputError, match="root"):
        InclusionVerifier(5, b"short")


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_inclusion_rejects_a_wrong_index(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    assume(n > 1)
    index = data.draw(st.integers(0, n - 1), label="index")
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index), label="other index")
    leaf, proof, root = ref.leaf_hash(entries[index]), ref.path(index, entries), ref.mth(entries)
    with pytest.raises(ProofError):
        verify_inclusion(other, n, leaf, proof, root)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_inclusion_rejects_a_wrong_size(entries: list[bytes], data: st.DataObject) -> None:
    # A proof for (index, size) checked as (index, other) against the true root of `other`.
    n = len(entries)
    index = data.draw(st.integers(0, n - 1), label="index")
    size = data.draw(st.integers(index + 1, n), label="size")
    other = data.draw(st.integers(index + 1, n + 64).filter(lambda s: s != size), label="other")
    everything = entries + [b"more %d" % i for i in range(64)]
    leaf, proof = ref.leaf_hash(entries[index]), ref.path(index, entries[:size])
    with pytest.raises(ProofError):
        verify_inclusion(index, other, leaf, proof, ref.mth(everything[:other]))


def test_verify_inclusion_checks_the_length_before_hashing() -> None:
    entries = entries_of(5)
    leaf, root = ref.leaf_hash(entries[1]), ref.mth(entries)
    with pytest.raises(ProofError, match=r"inclusion proof: wrong length: got 2 hashes, want 3"):
        verify_inclusion(1, 5, leaf, ref.path(1, entries)[:2], root)
    with pytest.raises(ProofError, match="wrong length"):
        verify_inclusion(0, 1, ref.leaf_hash(entries[0]), [root], ref.leaf_hash(entries[0]))


def test_root_mismatch_carries_expected_and_calculated() -> None:
    entries = entries_of(11)
    root = ref.mth(entries)
    wrong = flipped(root, 77)
    with pytest.raises(RootMismatchError) as caught:
        verify_inclusion(6, 11, ref.leaf_hash(entries[6]), ref.path(6, entries), wrong)
    assert caught.value.expected == wrong
    assert caught.value.calculated == root
    assert wrong.hex() in str(caught.value)
    assert root.hex() in str(caught.value)
    assert isinstance(caught.value, ProofError)


@pytest.mark.parametrize(
    ("index", "size", "field"),
    [
        (5, 5, "index"),
        (6, 5, "index"),
        (0, 0, "index"),
        (-1, 5, "index"),
        (0, -1, "tree_size"),
    ],
)
def test_inclusion_rejects_invalid_index_and_size(index: int, size: int, field: str) -> None:
    h = bytes(32)
    with pytest.raises(InputError, match=f"^{field}: "):
        verify_inclusion(index, size, h, [], h)
    with pytest.raises(InputError, match=f"^{field}: "):
        inclusion_ranges(index, size)
    with pytest.raises(InputError, match=f"^{field}: "):
        root_from_inclusion_proof(index, size, h, [])


def test_inclusion_rejects_hashes_of_the_wrong_size() -> None:
    entries = entries_of(6)
    leaf, proof, root = ref.leaf_hash(entries[2]), ref.path(2, entries), ref.mth(entries)
    with pytest.raises(InputError, match=r"^leaf_hash: hash must be 32 bytes, got 31"):
        verify_inclusion(2, 6, leaf[:31], proof, root)
    with pytest.raises(InputError, match=r"^root: hash must be 32 bytes, got 31"):
        verify_inclusion(2, 6, leaf, proof, root[:31])
    with pytest.raises(InputError, match=r"^root: hash must be 32 bytes, got 33"):
        verify_inclusion(2, 6, leaf, proof, root + b"\x00")
    with pytest.raises(InputError, match=r"^inclusion proof\[1\]: hash must be 32 bytes, got 31"):
        verify_inclusion(2, 6, leaf, [proof[0], proof[1][:31], proof[2]], root)


# --- consistency: acceptance ---------------------------------------------------------------------


def test_verify_consistency_accepts_every_reference_proof_of_small_trees() -> None:
    for n in range(1, 40):
        entries = entries_of(n)
        root2 = ref.mth(entries)
        for size1 in range(1, n + 1):
            verify_consistency(size1, n, ref.mth(entries[:size1]), root2, ref.proof(size1, entries))


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_consistency_accepts_reference_proofs(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    size1 = data.draw(st.integers(1, n), label="size1")
    verify_consistency(
        size1, n, ref.mth(entries[:size1]), ref.mth(entries), ref.proof(size1, entries)
    )


def test_verify_consistency_from_the_empty_tree() -> None:
    entries = entries_of(9)
    verify_consistency(0, 9, EMPTY_ROOT, ref.mth(entries), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="wrong length"):
        verify_consistency(0, 9, EMPTY_ROOT, ref.mth(entries), [ref.mth(entries)])


def test_verify_consistency_of_equal_sizes() -> None:
    entries = entries_of(6)
    root = ref.mth(entries)
    verify_consistency(6, 6, root, root, [])
    with pytest.raises(ProofError, match="wrong length"):
        verify_consistency(6, 6, root, root, [root])
    with pytest.raises(RootMismatchError) as caught:
        verify_consistency(6, 6, root, flipped(root, 0), [])
    assert caught.value.expected == root
    assert caught.value.calculated == flipped(root, 0)


# --- consistency: rejection ----------------------------------------------------------------------


def consistency_parts(entries: Sequence[bytes], size1: int) -> list[bytes]:
    """The hashes a verifier is given: the proof, then root1, then root2."""
    return [*ref.proof(size1, entries), ref.mth(entries[:size1]), ref.mth(entries)]


def verify_consistency_parts(size1: int, size2: int, parts: Sequence[bytes]) -> None:
    *proof, root1, root2 = parts
    verify_consistency(size1, size2, root1, root2, proof)


def test_verify_consistency_rejects_every_flipped_bit_of_small_trees() -> None:
    for n in FLIP_SIZES:
        entries = entries_of(n)
        for size1 in range(1, n + 1):
            parts = consistency_parts(entries, size1)
            verify_consistency_parts(size1, n, parts)
            for at in range(len(parts)):
                for bit in range(8 * HASH_SIZE):
                    bad = list(parts)
                    bad[at] = flipped(parts[at], bit)
                    assert rejects(verify_consistency_parts, size1, n, bad), (size1, n, at, bit)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_consistency_rejects_a_flipped_bit(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    size1 = data.draw(st.integers(1, n), label="size1")
    parts = consistency_parts(entries, size1)
    at = data.draw(st.integers(0, len(parts) - 1), label="which hash")
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
    parts[at] = flipped(parts[at], bit)
    with pytest.raises(VerificationError):
        verify_consistency_parts(size1, n, parts)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_consistency_rejects_a_truncated_or_extended_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    n = len(entries)
    size1 = data.draw(st.integers(1, n), label="size1")
    proof = ref.proof(size1, entries)
    root1, root2 = ref.mth(entries[:size1]), ref.mth(entries)
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra hash")
    at = data.draw(st.integers(0, len(proof)), label="where")
    with pytest.raises(ProofError, match="wrong length"):
        verify_consistency(size1, n, root1, root2, [*proof[:at], extra, *proof[at:]])
    if proof:
        shorter = proof[:at] + proof[at + 1 :] if at < len(proof) else proof[:-1]
        with pytest.raises(ProofError, match="wrong length"):
            verify_consistency(size1, n, root1, root2, shorter)


@SETTINGS
@given(distinct_entries, st.data())
def test_verify_consistency_rejects_wrong_sizes(entries: list[bytes], data: st.DataObject) -> None:
    # A proof for (size1, size2) checked under other sizes, each with its own true root.
    everything = entries + [b"more %d" % i for i in range(64)]
    size2 = len(entries)
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = ref.proof(size1, entries)
    if size2 > 1:
        other1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1), label="other size1")
        with pytest.raises(ProofError):
            verify_consistency(other1, size2, ref.mth(entries[:other1]), ref.mth(entries), proof)
    other2 = data.draw(
        st.integers(size1, size2 + 64).filter(lambda s: s != size2), label="other size2"
    )
    with pytest.raises(ProofError):
        verify_consistency(
            size1, other2, ref.mth(entries[:size1]), ref.mth(everything[:other2]), proof
        )


def test_consistency_root_mismatch_carries_expected_and_calculated() -> None:
    entries = entries_of(13)
    root1, root2 = ref.mth(entries[:6]), ref.mth(entries)
    proof = ref.proof(6, entries)
    with pytest.raises(RootMismatchError, match="new root") as caught:
        verify_consistency(6, 13, root1, flipped(root2, 5), proof)
    assert (caught.value.expected, caught.value.calculated) == (flipped(root2, 5), root2)
    with pytest.raises(RootMismatchError, match="old root") as caught:
        verify_consistency(6, 13, flipped(root1, 200), root2, proof)
    assert (caught.value.expected, caught.value.calculated) == (flipped(root1, 200), root1)


@pytest.mark.parametrize(
    ("size1", "size2", "pattern"),
    [
        (-1, 5, "^tree sizes must be non-negative"),
        (3, -1, "^tree sizes must be non-negative"),
        (6, 5, r"^size1: 6 is larger than size2 5"),
        (1, 0, r"^size1: 1 is larger than size2 0"),
    ],
)
def test_consistency_rejects_invalid_sizes(size1: int, size2: int, pattern: str) -> None:
    h = bytes(32)
    with pytest.raises(InputError, match=pattern):
        verify_consistency(size1, size2, h, h, [])
    with pytest.raises(InputError, match=pattern):
        consistency_ranges(size1, size2)


def test_consistency_rejects_hashes_of_the_wrong_size() -> None:
    entries = entries_of(7)
    root1, root2, proof = ref.mth(entries[:3]), ref.mth(entries), ref.proof(3, entries)
    with pytest.raises(InputError, match=r"^root1: hash must be 32 bytes, got 31"):
        verify_consistency(3, 7, root1[:31], root2, proof)
    with pytest.raises(InputError, match=r"^root2: hash must be 32 bytes, got 31"):
        verify_consistency(3, 7, root1, root2[:31], proof)
    with pytest.raises(InputError, match=r"^consistency proof\[0\]: hash must be 32 bytes"):
        verify_consistency(3, 7, root1, root2, [proof[0][:31], *proof[1:]])
    with pytest.raises(InputError, match=r"^root1: hash must be 32 bytes, got 31"):
        verify_consistency(7, 7, root2[:31], root2, [])
