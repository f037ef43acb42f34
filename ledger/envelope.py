"""Signed envelopes: how members sign submissions, and how anyone verifies them.

A member signs ``"arrears/v1/submission\\0" || origin || "\\0" || payload`` with Ed25519. The
prefix separates this purpose from every other signature a member key makes, and the log's
origin ties the signature to one ledger, so a signature can be replayed neither as another
kind of statement nor into another ledger. Key ids are ``SHA-256("arrears/v1/key-id\\0" ||
public key)``.

Verification uses libsodium (through pysodium), which releases the GIL and is about twice as
fast as ``cryptography`` here; signing uses ``cryptography``. Both are plain Ed25519.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pysodium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from arrears.ledger.errors import InputError, SignatureError

SUBMISSION_DOMAIN = b"arrears/v1/submission\x00"
KEY_ID_DOMAIN = b"arrears/v1/key-id\x00"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def key_id_for(public_key: bytes) -> bytes:
    """The 32-byte id of a member's Ed25519 public key."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InputError(f"public_key: must be {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    return hashlib.sha256(KEY_ID_DOMAIN + public_key).digest()


def usable_public_key(public_key: bytes) -> bool:
    """Whether ``public_key`` is an Ed25519 key a signature can verify under: a canonical
    encoding of a point of the main subgroup, not of small order (libsodium's own test; its
    signature check refuses every other key, so a member registered with one could never
    sign). pysodium does not wrap this function, hence the call through its library handle."""
    return (
        len(public_key) == PUBLIC_KEY_SIZE
        and pysodium.sodium.crypto_core_ed25519_is_valid_point(public_key) == 1
    )


def signed_message(origin: str, payload: bytes) -> bytes:
    """The exact bytes a submission signature covers."""
    return SUBMISSION_DOMAIN + origin.encode() + b"\x00" + payload


@dataclass(frozen=True, slots=True)
class Envelope:
    key_id: bytes
    payload: bytes
    signature: bytes

    def check_shape(self) -> None:
        if len(self.key_id) != 32:
            raise InputError(f"envelope.key_id: must be 32 bytes, got {len(self.key_id)}")
        if len(self.signature) != SIGNATURE_SIZE:
            raise InputError(
                f"envelope.signature: must be {SIGNATURE_SIZE} bytes, got {len(self.signature)}"
            )
        if not self.payload:
            raise InputError("envelope.payload: empty")


class MemberSigner:
    """A member's signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id_for(self.public_key)

    @classmethod
    def generate(cls) -> MemberSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> MemberSigner:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, origin: str, payload: bytes) -> Envelope:
        return Envelope(self.key_id, payload, self._key.sign(signed_message(origin, payload)))


def verify_envelope(origin: str, envelope: Envelope, public_key: bytes) -> None:
    """Raise SignatureError unless ``envelope`` is signed by ``public_key`` for ``origin``."""
    envelope.check_shape()
    try:
        pysodium.crypto_sign_verify_detached(
            envelope.signature, signed_message(origin, envelope.payload), public_key
        )
    except ValueError:
        raise SignatureError(
            f"envelope.signature: does not verify under key {envelope.key_id.hex()[:16]}"
        ) from None


def verify_many(
    origin: str, items: Sequence[tuple[Envelope, bytes]], *, workers: int = 2
) -> list[SignatureError | None]:
    """Verify many (envelope, public key) pairs on ``workers`` threads (libsodium releases
    the GIL). Returns, per item, None or the error."""

    def one(item: tuple[Envelope, bytes]) -> SignatureError | None:
        try:
            verify_envelope(origin, *item)
        except SignatureError as e:
            return e
        return None

    if workers <= 1 or len(items) < 64:
        return [one(i) for i in items]
    # One contiguous slice per thread: a future per envelope would cost more, under the GIL,
    # than the verification that runs without it.
    step = -(-len(items) // workers)
    slices = [items[i : i + step] for i in range(0, len(items), step)]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda part: [one(i) for i in part], slices))
    return [r for part in parts for r in part]
