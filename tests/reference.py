"""RFC 6962 section 2.1, written out recursively, for tests only.

MTH, PATH and PROOF/SUBPROOF follow the RFC's definitions line by line over a list of leaf
byte strings ``D[n]``; nothing from arrears is imported. Slow on purpose: every subtree hash
is recomputed from the leaves.

PATH and PROOF take the subtree function as a parameter, ``mth`` by default. Given
``range(n)`` for the leaves and ``span`` for the function, they return the ``(begin, end)``
leaf ranges of the proof instead of its hashes: the same recursion, with no hashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

Subtree = Callable[[Any], Any]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return sha256(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    assert n > 1
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]), the Merkle Tree Hash of the entries."""
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(entries[0])
    k = split_point(n)
    return node_hash(mth(entries[:k]), mth(entries[k:n]))


def span(leaves: range) -> tuple[int, int]:
    """The ``(begin, end)`` of a subtree given as a range of leaf indices."""
    return (leaves.start, leaves.stop)


def path(m: int, entries: Sequence[Any], subtree: Subtree = mth) -> list[Any]:
    """PATH(m, D[n]), the audit path of leaf m (0 <= m < n)."""
    n = len(entries)
    assert 0 <= m < n
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*path(m, entries[:k], subtree), subtree(entries[k:n])]
    return [*path(m - k, entries[k:n], subtree), subtree(entries[:k])]


def proof(m: int, entries: Sequence[Any], subtree: Subtree = mth) -> list[Any]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m <= n."""
    assert 0 < m <= len(entries)
    return subproof(m, entries, True, subtree)


def subproof(m: int, entries: Sequence[Any], b: bool, subtree: Subtree) -> list[Any]:
    """SUBPROOF(m, D[n], b)."""
    n = len(entries)
    if m == n:
        return [] if b else [subtree(entries)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, entries[:k], b, subtree), subtree(entries[k:n])]
    return [*subproof(m - k, entries[k:n], False, subtree), subtree(entries[:k])]
