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


# RFC 6962 test vectors from transparency-dev/merkle (Apache-2.0): testonly/constants.go and
# proof/verify_test.go. Leaf inputs, the root of every tree size 1..8, and proofs (0-based).
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
RFC6962_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
_H96A2 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
_H5F08 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
_H6B47 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
_HBC1A = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
_HCA85 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
_H0EBC = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
_HB086 = "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
RFC6962_INCLUSION = [  # (index, size, proof)
    (0, 1, []),
    (0, 8, [_H96A2, _H5F08, _H6B47]),
    (5, 8, [_HBC1A, _HCA85, RFC6962_ROOTS[4]]),
    (2, 3, [RFC6962_ROOTS[2]]),
    (1, 5, [RFC6962_ROOTS[1], _H5F08, _HBC1A]),
]
RFC6962_CONSISTENCY = [  # (size1, size2, proof)
    (1, 1, []),
    (1, 8, [_H96A2, _H5F08, _H6B47]),
    (6, 8, [_H0EBC, _HCA85, RFC6962_ROOTS[4]]),
    (2, 5, [_H5F08, _HBC1A]),
    (6, 7, [_H0EBC, _HB086, RFC6962_ROOTS[4]]),
]
