"""The canonical leaf: the exact bytes the ledger stores, hashes and proves.

The server serialises each entry once, with this fixed layout (all integers big-endian), and
never re-serialises it to verify::

    offset  size  field
         0     1  version            0x01
         1     8  index              position of this leaf in the log
         9    32  prev_leaf_hash     RFC 6962 leaf hash of leaf index-1 (zeros for index 0)
        41     8  integrated_at_us   integration time, unix microseconds
        49    32  key_id             id of the key that signed the payload
        81     4  payload length N
        85     N  payload            the signed payload bytes, exactly as submitted
      85+N     2  signature length S
      87+N     S  signature          over the domain-separated payload

The previous-hash field makes the log a hash chain as well as a Merkle tree: any leaf commits
to every leaf before it, and a checker can name the first broken link by reading fixed
offsets. Pure: never does I/O.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from arrears.ledger.errors import ChainError, EncodingError
from arrears.ledger.merkle import HASH_SIZE

LEAF_VERSION = 1
KEY_ID_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
MAX_PAYLOAD = 1 << 20
MAX_SIGNATURE = 1 << 10

_HEAD = struct.Struct(">BQ32sQ32sI")
_SIG_LEN = struct.Struct(">H")
PREV_HASH_SLICE = slice(9, 41)
INDEX_SLICE = slice(1, 9)


@dataclass(frozen=True, slots=True)
class Leaf:
    index: int
    prev_leaf_hash: bytes
    integrated_at_us: int
    key_id: bytes
    payload: bytes
    signature: bytes

    def encode(self) -> bytes:
        return encode_leaf(
            self.index,
            self.prev_leaf_hash,
            self.integrated_at_us,
            self.key_id,
            self.payload,
            self.signature,
        )

    @classmethod
    def decode(cls, data: bytes) -> Leaf:
        if len(data) < _HEAD.size + _SIG_LEN.size:
            raise EncodingError(f"leaf: {len(data)} bytes is too short")
        version, index, prev, at_us, kid, n = _HEAD.unpack_from(data)
        if version != LEAF_VERSION:
            raise EncodingError(f"leaf: unknown version {version}")
        end = _HEAD.size + n
        if end + _SIG_LEN.size > len(data):
            raise EncodingError(f"leaf: payload length {n} runs past the end")
        (s,) = _SIG_LEN.unpack_from(data, end)
        if end + _SIG_LEN.size + s != len(data):
            raise EncodingError("leaf: signature length does not match the leaf's size")
        if s > MAX_SIGNATURE or n > MAX_PAYLOAD or index >= 1 << 63 or at_us >= 1 << 63:
            raise EncodingError("leaf: a field is out of range")
        sig_start = end + _SIG_LEN.size
        return cls(index, prev, at_us, kid, data[_HEAD.size : end], data[sig_start:])


def encode_leaf(
    index: int,
    prev_leaf_hash: bytes,
    integrated_at_us: int,
    key_id: bytes,
    payload: bytes,
    signature: bytes,
) -> bytes:
    """``Leaf(...).encode()`` without the object, for the log's writer (a leaf per entry)."""
    if len(prev_leaf_hash) != HASH_SIZE:
        raise EncodingError(f"prev_leaf_hash: must be {HASH_SIZE} bytes")
    if len(key_id) != KEY_ID_SIZE:
        raise EncodingError(f"key_id: must be {KEY_ID_SIZE} bytes, got {len(key_id)}")
    if len(payload) > MAX_PAYLOAD:
        raise EncodingError(f"payload: {len(payload)} bytes, at most {MAX_PAYLOAD}")
    if len(signature) > MAX_SIGNATURE:
        raise EncodingError(f"signature: {len(signature)} bytes, at most {MAX_SIGNATURE}")
    if not 0 <= index < 1 << 63 or not 0 <= integrated_at_us < 1 << 63:
        raise EncodingError("index and integrated_at_us must fit in 63 bits")
    return b"".join(
        (
            _HEAD.pack(
                LEAF_VERSION,
                index,
                prev_leaf_hash,
                integrated_at_us,
                key_id,
                len(payload),
            ),
            payload,
            _SIG_LEN.pack(len(signature)),
            signature,
        )
    )


def chain_hashes(
    leaves: Iterable[bytes], *, start: int = 0, prev_leaf_hash: bytes = ZERO_HASH
) -> list[bytes]:
    """Check that each leaf carries its own index and its predecessor's leaf hash, and
    return the leaf hashes. Raises ChainError naming the first broken index."""
    prev = prev_leaf_hash
    index = start
    out: list[bytes] = []
    append = out.append
    sha256 = hashlib.sha256
    for data in leaves:
        if data[PREV_HASH_SLICE] != prev:
            raise ChainError(
                f"hash chain broken at index {index}: previous-hash field does not match "
                f"leaf {index - 1}",
                index=index,
            )
        if int.from_bytes(data[INDEX_SLICE], "big") != index:
            raise ChainError(f"leaf at position {index} carries another index", index=index)
        prev = sha256(b"\x00" + data).digest()
        append(prev)
        index += 1
    return out


def check_chain(
    leaves: Iterable[bytes], *, start: int = 0, prev_leaf_hash: bytes = ZERO_HASH
) -> bytes:
    """Check a run of leaves; return the last leaf hash (to go on with the next run)."""
    hashes = chain_hashes(leaves, start=start, prev_leaf_hash=prev_leaf_hash)
    return hashes[-1] if hashes else prev_leaf_hash
