"""RFC 6962 / RFC 9162 Merkle tree hashing, proof planning and proof verification.

Everything here is a pure function over bytes and ints: no storage, no I/O, never grpc.

* Hashing: ``leaf_hash(leaf) = SHA-256(0x00 || leaf)``, ``node_hash(l, r) = SHA-256(0x01 ||
  l || r)``, the empty tree's root is ``SHA-256("")``.
* Planning: which subtree ranges an inclusion or consistency proof consists of, in RFC 6962
  order (``inclusion_ranges``, ``consistency_ranges``), and which perfect subtrees (``NodeId``)
  make up a range. Fetching those node hashes from storage is somebody else's job.
* Verification: ``verify_inclusion`` and ``verify_consistency`` follow RFC 9162 sections
  2.1.3.2 and 2.1.4.2. The verifier derives the proof's shape from ``(index, size)`` and checks
  its length first; it never takes a shape from the prover.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from arrears.ledger.errors import InputError, ProofError, RootMismatchError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    """The RFC 6962 hash of a leaf: SHA-256(0x00 || leaf)."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeId(NamedTuple):
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index << level``.

    A named tuple: proofs build, hash and compare dozens of these each, and a tuple does that
    in C. (Its ``index`` field hides ``tuple.index``.)"""

    level: int
    index: int  # type: ignore[assignment]

    @property
    def begin(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


Range = tuple[int, int]
"""A half-open range of leaf indices ``[begin, end)`` whose RFC 6962 hash a proof carries."""


@functools.lru_cache(maxsize=65536)
def _range_nodes(begin: int, end: int) -> tuple[NodeId, ...]:
    nodes: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(NodeId(level, begin >> level))
        begin += 1 << level
    return tuple(nodes)


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The perfect subtrees, left to right, whose hashes fold into the hash of [begin, end).

    Proof ranges start at a multiple of a power of two at least as large as the range, so the
    greedy split into aligned powers of two is exactly RFC 6962's split at ``split_point``.
    Most proof ranges are one perfect subtree and are answered at once; the others (ranges
    reaching the tree's right edge, few for a given size) are memoised.
    """
    n = end - begin
    if n > 0 and n & (n - 1) == 0 and begin & (n - 1) == 0:
        level = n.bit_length() - 1
        return [NodeId(level, begin >> level)]
    return list(_range_nodes(begin, end))


def fold_range(node_hashes: Sequence[bytes]) -> bytes:
    """The hash of a range given its ``range_nodes`` hashes (right-to-left fold)."""
    h = node_hashes[-1]
    for left in reversed(node_hashes[:-1]):
        h = node_hash(left, h)
    return h


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges of RFC 6962 PATH(index, D[size]), in proof order (leaf side first)."""
    check_index(index, size)
    out: list[Range] = []
    begin, end = 0, size
    while end - begin > 1:
        k = split_point(end - begin)
        if index - begin < k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
    out.reverse()
    return out


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The ranges of RFC 6962 PROOF(size1, D[size2]), in proof order."""
    _check_sizes(size1, size2)
    if size1 == 0 or size1 == size2:
        return []
    out: list[Range] = []
    begin, end, m, whole = 0, size2, size1, True
    while True:
        n = end - begin
        if m == n:
            if not whole:
                out.append((begin, end))
            break
        k = split_point(n)
        if m <= k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
            m -= k
            whole = False
    out.reverse()
    return out


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 6962 root of the given leaf hashes, in O(log n) memory."""
    rng = CompactRange()
    for h in leaf_hashes:
        rng.append(h)
    return rng.root()


class CompactRange:
    """The right edge of a growing tree: one hash per set bit of its size.

    Appending is amortised one node hash per leaf; ``root()`` folds the O(log n) edge.
    """

    __slots__ = ("_hashes", "_levels", "size")

    def __init__(self) -> None:
        self.size = 0
        self._levels: list[int] = []
        self._hashes: list[bytes] = []

    def append(self, h: bytes) -> None:
        levels, hashes = self._levels, self._hashes
        level = 0
        while levels and levels[-1] == level:
            levels.pop()
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            level += 1
        levels.append(level)
        hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        return fold_range(self._hashes)

    def nodes(self) -> list[bytes]:
        """The perfect subtrees of the range, left to right (largest first)."""
        return list(self._hashes)

    @classmethod
    def of(cls, hashes: Iterable[bytes]) -> CompactRange:
        rng = cls()
        for h in hashes:
            rng.append(h)
        return rng


# --- verification ------------------------------------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise InputError(f"{name}: hash must be {HASH_SIZE} bytes, got {len(value)}")


def check_index(index: int, size: int) -> None:
    if size < 0:
        raise InputError(f"tree_size: must be non-negative, got {size}")
    if index < 0:
        raise InputError(f"index: must be non-negative, got {index}")
    if index >= size:
        raise InputError(f"index: {index} is not below tree_size {size}")


def _check_sizes(size1: int, size2: int) -> None:
    if size1 < 0 or size2 < 0:
        raise InputError(f"tree sizes must be non-negative, got {size1} and {size2}")
    if size1 > size2:
        raise InputError(f"size1: {size1} is larger than size2 {size2}")


_HASH_SIZES = frozenset({HASH_SIZE})


def _check_proof(kind: str, proof: Sequence[bytes], want: int) -> None:
    if len(proof) != want:
        raise ProofError(f"{kind} proof: wrong length: got {len(proof)} hashes, want {want}")
    if not set(map(len, proof)) <= _HASH_SIZES:  # in C; the loop below names the first bad one
        for i, h in enumerate(proof):
            _check_hash(f"{kind} proof[{i}]", h)


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 2.1.3.2), after shape checks."""
    root, _ = _inclusion_walk(index, size, leaf_hash, proof, None)
    assert root is not None  # no walks to join
    return root


_Walked = dict[tuple[int, int], tuple[bytes, tuple[bytes, ...], int]]
_WalkState = tuple[int, int, bytes, int]


def _inclusion_walk(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], walked: _Walked | None
) -> tuple[bytes | None, list[_WalkState]]:
    """RFC 9162 2.1.3.2 after the shape checks: the root the proof implies. With ``walked``
    (see ``InclusionVerifier``), also this walk's states, and no root (None) where the walk
    joined a remembered one."""
    check_index(index, size)
    _check_hash("leaf_hash", leaf_hash)
    _check_proof("inclusion", proof, inclusion_proof_length(index, size))
    hashes = proof if walked is None else tuple(proof)
    states: list[_WalkState] = []
    fn, sn, r = index, size - 1, leaf_hash
    for pos, p in enumerate(hashes):
        if walked is not None:
            known = walked.get((fn, sn))
            if known is not None and known[0] == r and known[1][known[2] :] == hashes[pos:]:
                return None, states  # the rest of this walk is one already verified
            states.append((fn, sn, r, pos))
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable once the length matched; kept as the RFC's own final check
        raise ProofError("inclusion proof: does not reach the root")
    return r, states


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is at ``index`` in the tree of ``size`` with ``root``."""
    _check_hash("root", root)
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if calculated != root:
        raise RootMismatchError(
            f"inclusion proof of index {index} in tree of size {size} gives another root",
            expected=root,
            calculated=calculated,
        )


class InclusionVerifier:
    """``verify_inclusion`` for many leaves of one tree (a batch's receipts), sharing work.

    It remembers every state of the RFC 9162 walk of each proof it verified: the position
    ``(fn, sn)``, the hash computed so far and the hashes still to come. The rest of a walk is
    a function of exactly these, so a later proof that reaches a remembered state with the same
    hash and the same remaining hashes reaches the same root, already compared: it stops there.
    Neighbouring leaves meet after a step or two, so a run of receipts costs about two hashes
    each instead of a full walk. Nothing is taken on trust: every proof's shape is checked as
    ``verify_inclusion`` checks it, and a proof that differs anywhere is walked to the end and
    compared with the root."""

    def __init__(self, size: int, root: bytes) -> None:
        _check_hash("root", root)
        if size < 0:
            raise InputError(f"tree_size: must be non-negative, got {size}")
        self.size = size
        self.root = root
        # (fn, sn) -> (hash so far, the verified proof, the position of the hashes to come)
        self._walked: _Walked = {}

    def verify(self, index: int, leaf_hash: bytes, proof: Sequence[bytes]) -> None:
        """Check that ``leaf_hash`` is at ``index`` in this tree; raises as
        ``verify_inclusion`` does."""
        root, states = _inclusion_walk(index, self.size, leaf_hash, proof, self._walked)
        if root is not None and root != self.root:
            raise RootMismatchError(
                f"inclusion proof of index {index} in tree of size {self.size} gives another root",
                expected=self.root,
                calculated=root,
            )
        hashes = tuple(proof)
        for fn, sn, r, pos in states:
            self._walked[(fn, sn)] = (r, hashes, pos)


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes PATH(index, D[size]) has: the inner path plus the right border."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def consistency_proof_length(size1: int, size2: int) -> int:
    """How many hashes PROOF(size1, D[size2]) has."""
    if size1 == 0 or size1 == size2:
        return 0
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    return inner + border - shift + (0 if size1 == 1 << shift else 1)


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2)."""
    _check_sizes(size1, size2)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof("consistency", proof, consistency_proof_length(size1, size2))
    if size1 == size2:
        if root1 != root2:
            raise RootMismatchError(
                f"trees of equal size {size1} have different roots",
                expected=root1,
                calculated=root2,
            )
        return
    if size1 == 0:
        return  # the empty tree is a prefix of every tree
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof: too long")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof: too short")
    if fr != root1:
        raise RootMismatchError(
            f"consistency proof {size1}->{size2}: old root", expected=root1, calculated=fr
        )
    if sr != root2:
        raise RootMismatchError(
            f"consistency proof {size1}->{size2}: new root", expected=root2, calculated=sr
        )
