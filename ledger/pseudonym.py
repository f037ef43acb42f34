"""Subject pseudonyms and the hiding commitments that leaves carry instead of them.

Why no plain hash: an 18-digit resident ID has only about 2^36 plausible values, so
``SHA-256(id)`` is reversed by enumeration in seconds. No plain hash of an identifier
ever appears anywhere in arrears. A pseudonym is derived only from the output of the
RFC 9497 OPRF (``arrears.ledger.oprf``), a PRF keyed by the server's secret key and
evaluated on a blinded identifier: without the server's cooperation, counted and
rate-limited per member, nobody can map an identifier to its pseudonym.

Pseudonyms rotate by epoch: the same OPRF output yields an unrelated pseudonym under
another epoch, so an index can be re-keyed without re-evaluating every subject.

Why a commitment: a ledger leaf is append-only and can never be changed, so it must
not carry the pseudonym itself. It carries ``SHA-256(domain || salt || pseudonym)``
with a fresh random 32-byte salt. The commitment hides the pseudonym (without the
salt, it reveals nothing about which subject the leaf concerns), and it binds it (no
other pseudonym opens it). Salt and pseudonym live in the deletable index beside the
ledger; erasing both unlinks the leaf from its subject for good, while every leaf
hash, chain link and Merkle proof still verifies.

Pure module: no I/O beyond ``os.urandom`` for salts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from arrears.ledger.errors import InputError

__all__ = [
    "OPRF_OUTPUT_SIZE",
    "PSEUDONYM_SIZE",
    "SALT_SIZE",
    "Pseudonym",
    "derive_pseudonym",
    "new_salt",
    "new_salts",
    "subject_commitment",
    "subject_commitments",
]

PSEUDONYM_SIZE: Final = 32
SALT_SIZE: Final = 32
OPRF_OUTPUT_SIZE: Final = 64
MAX_EPOCH: Final = 2**32 - 1

_PSEUDONYM_DOMAIN: Final = b"arrears/pseudonym/v1\x00"
_COMMITMENT_DOMAIN: Final = b"arrears/subject-commitment/v1\x00"


def _epoch(epoch: object) -> int:
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise InputError(f"epoch: expected an integer, got {type(epoch).__name__}")
    if not 0 <= epoch <= MAX_EPOCH:
        raise InputError(f"epoch: {epoch} is not a uint32 (0 to {MAX_EPOCH})")
    return epoch


def _sized(value: object, size: int, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InputError(f"{name}: expected bytes, got {type(value).__name__}")
    data = bytes(value)
    if len(data) != size:
        raise InputError(f"{name}: expected {size} bytes, got {len(data)}")
    return data


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """A subject's pseudonym in one epoch: 32 bytes derived from its OPRF output."""

    epoch: int
    value: bytes

    def __post_init__(self) -> None:
        _epoch(self.epoch)
        object.__setattr__(self, "value", _sized(self.value, PSEUDONYM_SIZE, "value"))

    def to_bytes(self) -> bytes:
        """4-byte big-endian epoch || 32-byte value."""
        return self.epoch.to_bytes(4, "big") + self.value

    @classmethod
    def from_bytes(cls, data: bytes) -> Pseudonym:
        raw = _sized(data, 4 + PSEUDONYM_SIZE, "pseudonym")
        return cls(int.from_bytes(raw[:4], "big"), raw[4:])


def derive_pseudonym(oprf_output: bytes, epoch: int) -> Pseudonym:
    """SHA-256("arrears/pseudonym/v1" 0x00 || uint32-BE epoch || oprf_output)."""
    output = _sized(oprf_output, OPRF_OUTPUT_SIZE, "oprf_output")
    epoch = _epoch(epoch)
    digest = hashlib.sha256(_PSEUDONYM_DOMAIN + epoch.to_bytes(4, "big") + output).digest()
    return Pseudonym(epoch, digest)


def new_salt() -> bytes:
    """A fresh random salt for one subject commitment."""
    return os.urandom(SALT_SIZE)


def new_salts(count: int) -> list[bytes]:
    """``count`` fresh random salts, one per commitment, cut from one read of the OS's random
    source: each is as unpredictable and as independent of the others as ``new_salt``'s, at
    one system call for a whole batch of inquiries instead of one each."""
    pool = os.urandom(SALT_SIZE * count)
    return [pool[i : i + SALT_SIZE] for i in range(0, len(pool), SALT_SIZE)]


def subject_commitment(salt: bytes, pseudonym: Pseudonym) -> bytes:
    """SHA-256("arrears/subject-commitment/v1" 0x00 || salt || pseudonym.to_bytes())."""
    raw_salt = _sized(salt, SALT_SIZE, "salt")
    if not isinstance(pseudonym, Pseudonym):
        raise InputError(f"pseudonym: expected a Pseudonym, got {type(pseudonym).__name__}")
    return hashlib.sha256(_COMMITMENT_DOMAIN + raw_salt + pseudonym.to_bytes()).digest()


def subject_commitments(salts: Sequence[bytes], pseudonyms: Sequence[bytes]) -> list[bytes]:
    """``subject_commitment`` of many subjects at once, each pseudonym given in its wire form
    (``Pseudonym.to_bytes``): the same digests, without a ``Pseudonym`` object per subject."""
    if len(salts) != len(pseudonyms):
        raise InputError(f"salts: {len(salts)} for {len(pseudonyms)} pseudonyms")
    sha256, domain, size = hashlib.sha256, _COMMITMENT_DOMAIN, 4 + PSEUDONYM_SIZE
    out = []
    for salt, p in zip(salts, pseudonyms, strict=True):
        if len(salt) != SALT_SIZE or len(p) != size:
            raise InputError(
                f"salt and pseudonym: expected {SALT_SIZE} and {size} bytes, "
                f"got {len(salt)} and {len(p)}"
            )
        out.append(sha256(domain + salt + p).digest())
    return out
