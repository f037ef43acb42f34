"""RFC 9497 oblivious pseudorandom function, suite ristretto255-SHA512.

Subjects are pseudonymised with an OPRF so that the server evaluates its keyed
function on a *blinded* identifier: it never sees the identifier, and no member
can compute pseudonyms offline because the key never leaves the server. The
verifiable mode (VOPRF) adds a DLEQ proof that every evaluation used the key
behind the published public key, so the server cannot hand different subjects,
or different members, pseudonyms under different keys without being caught.

Both modes of RFC 9497 are implemented: ``Mode.OPRF`` (0x00) and ``Mode.VOPRF``
(0x01), with batched proofs (``ComputeCompositesFast`` on the server,
``ComputeComposites`` on the client). The group operations are libsodium's
ristretto255 primitives, reached through ``pysodium``.

Encodings follow the RFC: elements are 32-byte canonical ristretto255 encodings,
scalars are 32-byte little-endian integers below the group order, a proof is
``c || s`` (64 bytes) and an output is a SHA-512 digest (64 bytes).

Errors: a value of the wrong type or size raises ``InputError``; a value of the
right size that is not a valid element (non-canonical, not on the group, the
identity) or scalar (not below the group order, zero), and a proof that does not
verify, raise ``OprfError``. Each message starts with the name of the field.

This module is pure: no I/O, no network; its only state is constants and a small cache of
the per-public-key proof seed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Final

import pysodium

from arrears.ledger.errors import InputError, OprfError

__all__ = [
    "ELEMENT_SIZE",
    "MAX_BATCH",
    "MAX_INPUT_SIZE",
    "OUTPUT_SIZE",
    "PROOF_SIZE",
    "SCALAR_SIZE",
    "SEED_SIZE",
    "SUITE",
    "Mode",
    "ServerKey",
    "blind",
    "finalize",
    "finalize_batch",
    "verify_proof",
]

SUITE: Final = b"ristretto255-SHA512"
ELEMENT_SIZE: Final = 32
SCALAR_SIZE: Final = 32
PROOF_SIZE: Final = 2 * SCALAR_SIZE
OUTPUT_SIZE: Final = 64
SEED_SIZE: Final = SCALAR_SIZE
# Lengths are framed as 2-byte big-endian integers, which bounds inputs and key info;
# composite indexes are 2-byte too, which bounds a batch.
MAX_INPUT_SIZE: Final = 0xFFFF
MAX_BATCH: Final = 0x10000

# The order of the ristretto255 group.
_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_IDENTITY: Final = bytes(ELEMENT_SIZE)
_ZERO_SCALAR: Final = bytes(SCALAR_SIZE)
_ELEMENT_LEN: Final = ELEMENT_SIZE.to_bytes(2, "big")
_OUTPUT_LEN: Final = OUTPUT_SIZE.to_bytes(2, "big")
# expand_message_xmd with SHA-512 starts every message with one zero block (r_in_bytes = 128).
_XMD_PREFIX: Final = hashlib.sha512(bytes(128))


class Mode(IntEnum):
    """The RFC 9497 protocol variant."""

    OPRF = 0x00
    VOPRF = 0x01


class _Expander:
    """expand_message_xmd (RFC 9380 §5.3.1) with SHA-512 and a fixed DST, to 64 bytes."""

    __slots__ = ("_tail0", "_tail1")

    def __init__(self, dst: bytes) -> None:
        dst_prime = dst + bytes([len(dst)])
        # msg_prime = Z_pad || msg || I2OSP(64, 2) || I2OSP(0, 1) || DST_prime
        self._tail0 = b"\x00\x40\x00" + dst_prime
        # b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); with 64 bytes wanted, b_1 is the output.
        self._tail1 = b"\x01" + dst_prime

    def expand(self, *parts: bytes) -> bytes:
        h = _XMD_PREFIX.copy()
        for part in parts:
            h.update(part)
        h.update(self._tail0)
        return hashlib.sha512(h.digest() + self._tail1).digest()

    def to_scalar(self, *parts: bytes) -> bytes:
        """HashToScalar: the 64 uniform bytes as a little-endian integer, reduced mod L."""
        return bytes(pysodium.crypto_core_ristretto255_scalar_reduce(self.expand(*parts)))


@dataclass(frozen=True, slots=True)
class _Context:
    """The per-mode constants derived from the context string."""

    hash_to_group: _Expander
    hash_to_scalar: _Expander
    derive_key_pair: _Expander
    seed_dst_framed: bytes

    @classmethod
    def for_mode(cls, mode: Mode) -> _Context:
        context = b"OPRFV1-" + bytes([mode]) + b"-" + SUITE
        seed_dst = b"Seed-" + context
        return cls(
            hash_to_group=_Expander(b"HashToGroup-" + context),
            hash_to_scalar=_Expander(b"HashToScalar-" + context),
            derive_key_pair=_Expander(b"DeriveKeyPair" + context),
            seed_dst_framed=len(seed_dst).to_bytes(2, "big") + seed_dst,
        )


_CONTEXTS: Final = {mode: _Context.for_mode(mode) for mode in Mode}


# ---------------------------------------------------------------------------
# Validation of values crossing the API
# ---------------------------------------------------------------------------


def _mode(value: int, name: str = "mode") -> Mode:
    try:
        return Mode(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {value!r} is not an RFC 9497 mode (0 OPRF, 1 VOPRF)") from None


def _bytes(value: object, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise InputError(f"{name}: expected bytes, got {type(value).__name__}")


def _input(value: object, name: str = "input") -> bytes:
    data = _bytes(value, name)
    if len(data) > MAX_INPUT_SIZE:
        raise InputError(f"{name}: {len(data)} bytes, at most {MAX_INPUT_SIZE} allowed")
    return data


def _element(value: object, name: str) -> bytes:
    """DeserializeElement: a canonical encoding of a non-identity ristretto255 element."""
    data = _bytes(value, name)
    if len(data) != ELEMENT_SIZE:
        raise InputError(f"{name}: expected {ELEMENT_SIZE} bytes, got {len(data)}")
    if data == _IDENTITY:
        raise OprfError(f"{name}: the identity element is not allowed")
    if not pysodium.crypto_core_ristretto255_is_valid_point(data):
        raise OprfError(f"{name}: not a valid ristretto255 point")
    return data


def _scalar(value: object, name: str) -> bytes:
    """DeserializeScalar, rejecting zero: a canonical little-endian scalar in [1, L)."""
    data = _bytes(value, name)
    if len(data) != SCALAR_SIZE:
        raise InputError(f"{name}: expected {SCALAR_SIZE} bytes, got {len(data)}")
    if int.from_bytes(data, "little") >= _ORDER:
        raise OprfError(f"{name}: not a canonical scalar (not below the group order)")
    if data == _ZERO_SCALAR:
        raise OprfError(f"{name}: the zero scalar is not allowed")
    return data


def _elements(values: Sequence[bytes], name: str) -> list[bytes]:
    if isinstance(values, bytes | bytearray | memoryview | str):
        raise InputError(f"{name}: expected a sequence of elements, got {type(values).__name__}")
    count = len(values)
    if count == 0:
        raise InputError(f"{name}: empty batch")
    if count > MAX_BATCH:
        raise InputError(f"{name}: {count} elements, at most {MAX_BATCH} allowed")
    return [_element(value, f"{name}[{i}]") for i, value in enumerate(values)]


# ---------------------------------------------------------------------------
# Group operations
# ---------------------------------------------------------------------------


def _mul(scalar: bytes, element: bytes, name: str) -> bytes:
    """scalar * element; libsodium refuses to return the identity, which is an OprfError."""
    try:
        return bytes(pysodium.crypto_scalarmult_ristretto255(scalar, element))
    except ValueError:
        raise OprfError(f"{name}: the product is the identity element") from None


def _mul_base(scalar: bytes, name: str) -> bytes:
    try:
        return bytes(pysodium.crypto_scalarmult_ristretto255_base(scalar))
    except ValueError:
        raise OprfError(f"{name}: the product is the identity element") from None


def _add(a: bytes, b: bytes) -> bytes:
    return bytes(pysodium.crypto_core_ristretto255_add(a, b))


def _hash_to_group(context: _Context, data: bytes) -> bytes:
    element = bytes(pysodium.crypto_core_ristretto255_from_hash(context.hash_to_group.expand(data)))
    if element == _IDENTITY:
        raise OprfError("input: hashes to the identity element")
    return element


def _finalize_hash(data: bytes, element: bytes) -> bytes:
    return hashlib.sha512(
        len(data).to_bytes(2, "big") + data + _ELEMENT_LEN + element + b"Finalize"
    ).digest()


# ---------------------------------------------------------------------------
# DLEQ proofs (RFC 9497 §2.2), always under the VOPRF context
# ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _composite_seed(public_key: bytes) -> bytes:
    """The seed of ComputeComposites, which depends on the public key only."""
    context = _CONTEXTS[Mode.VOPRF]
    return hashlib.sha512(_ELEMENT_LEN + public_key + context.seed_dst_framed).digest()


def _composite_weights(seed: bytes, blinded: list[bytes], evaluated: list[bytes]) -> list[bytes]:
    to_scalar = _CONTEXTS[Mode.VOPRF].hash_to_scalar.to_scalar
    framed_seed = _OUTPUT_LEN + seed
    return [
        to_scalar(
            framed_seed,
            i.to_bytes(2, "big"),
            _ELEMENT_LEN,
            c,
            _ELEMENT_LEN,
            d,
            b"Composite",
        )
        for i, (c, d) in enumerate(zip(blinded, evaluated, strict=True))
    ]


def _weighted_sum(weights: list[bytes], elements: list[bytes], name: str) -> bytes:
    total = _mul(weights[0], elements[0], f"{name}[0]")
    for i in range(1, len(elements)):
        total = _add(total, _mul(weights[i], elements[i], f"{name}[{i}]"))
    return total


def _challenge(public_key: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> bytes:
    return _CONTEXTS[Mode.VOPRF].hash_to_scalar.to_scalar(
        _ELEMENT_LEN,
        public_key,
        _ELEMENT_LEN,
        m,
        _ELEMENT_LEN,
        z,
        _ELEMENT_LEN,
        t2,
        _ELEMENT_LEN,
        t3,
        b"Challenge",
    )


def verify_proof(
    public_key: bytes,
    blinded_elements: Sequence[bytes],
    evaluated_elements: Sequence[bytes],
    proof: bytes,
) -> None:
    """Check a (batched) VOPRF proof that every evaluated element is the blinded one times
    the secret key behind ``public_key``; raise ``OprfError`` when it does not verify."""
    pk = _element(public_key, "public_key")
    blinded = _elements(blinded_elements, "blinded_elements")
    evaluated = _elements(evaluated_elements, "evaluated_elements")
    if len(evaluated) != len(blinded):
        raise InputError(
            f"evaluated_elements: {len(evaluated)} elements for {len(blinded)} blinded elements"
        )
    raw = _bytes(proof, "proof")
    if len(raw) != PROOF_SIZE:
        raise InputError(f"proof: expected {PROOF_SIZE} bytes, got {len(raw)}")
    c = _scalar(raw[:SCALAR_SIZE], "proof")
    s = _scalar(raw[SCALAR_SIZE:], "proof")

    # ComputeComposites: M = sum(d_i * C_i), Z = sum(d_i * D_i).
    weights = _composite_weights(_composite_seed(pk), blinded, evaluated)
    m = _weighted_sum(weights, blinded, "blinded_elements")
    z = _weighted_sum(weights, evaluated, "evaluated_elements")
    try:
        t2 = _add(_mul_base(s, "proof"), _mul(c, pk, "proof"))
        t3 = _add(_mul(s, m, "proof"), _mul(c, z, "proof"))
    except OprfError:
        raise OprfError("proof: does not verify") from None
    if not hmac.compare_digest(_challenge(pk, m, z, t2, t3), c):
        raise OprfError("proof: does not verify under public_key")


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerKey:
    """An OPRF server key pair for one mode: ``secret`` (skS) and ``public_key`` (pkS)."""

    secret: bytes = field(repr=False)
    mode: Mode = Mode.OPRF
    public_key: bytes = field(init=False)
    _seed: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mode = _mode(self.mode)
        secret = _scalar(self.secret, "secret")
        public_key = _mul_base(secret, "secret")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "public_key", public_key)
        # The ComputeComposites seed depends on pkS only: hash it once per key.
        object.__setattr__(
            self, "_seed", _composite_seed(public_key) if mode is Mode.VOPRF else b""
        )

    @classmethod
    def generate(cls, mode: Mode) -> ServerKey:
        """A fresh random key (RFC 9497 GenerateKeyPair)."""
        return cls(bytes(pysodium.crypto_core_ristretto255_scalar_random()), _mode(mode))

    @classmethod
    def derive(cls, seed: bytes, info: bytes, mode: Mode) -> ServerKey:
        """The deterministic key of RFC 9497 §3.2.1 DeriveKeyPair(seed, info)."""
        mode = _mode(mode)
        seed = _bytes(seed, "seed")
        if len(seed) != SEED_SIZE:
            raise InputError(f"seed: expected {SEED_SIZE} bytes, got {len(seed)}")
        info = _input(info, "info")
        derive_input = seed + len(info).to_bytes(2, "big") + info
        expander = _CONTEXTS[mode].derive_key_pair
        for counter in range(256):
            secret = expander.to_scalar(derive_input, bytes([counter]))
            if secret != _ZERO_SCALAR:
                return cls(secret, mode)
        raise OprfError("seed: DeriveKeyPair found no non-zero scalar")  # pragma: no cover

    def blind_evaluate(self, blinded_element: bytes) -> bytes:
        """skS * blinded_element, without a proof (see ``blind_evaluate_batch`` for one)."""
        element = _element(blinded_element, "blinded_element")
        return _mul(self.secret, element, "blinded_element")

    def blind_evaluate_batch(
        self, blinded_elements: Sequence[bytes], *, proof_scalar: bytes | None = None
    ) -> tuple[list[bytes], bytes | None]:
        """Evaluate a batch; in VOPRF mode also return one proof ``c || s`` for all of it.

        ``proof_scalar`` fixes the proof's random scalar r (for test vectors only).
        """
        blinded = _elements(blinded_elements, "blinded_elements")
        k = self.secret
        evaluated = [_mul(k, c, f"blinded_elements[{i}]") for i, c in enumerate(blinded)]
        if self.mode is Mode.OPRF:
            if proof_scalar is not None:
                raise InputError("proof_scalar: only used in VOPRF mode")
            return evaluated, None
        if proof_scalar is None:
            r = bytes(pysodium.crypto_core_ristretto255_scalar_random())
        else:
            r = _scalar(proof_scalar, "proof_scalar")
        return evaluated, self._prove(blinded, evaluated, r)

    def _prove(self, blinded: list[bytes], evaluated: list[bytes], r: bytes) -> bytes:
        # ComputeCompositesFast: M = sum(d_i * C_i), Z = k * M.
        weights = _composite_weights(self._seed, blinded, evaluated)
        m = _weighted_sum(weights, blinded, "blinded_elements")
        z = _mul(self.secret, m, "blinded_elements")
        t2 = _mul_base(r, "proof_scalar")
        t3 = _mul(r, m, "proof_scalar")
        c = _challenge(self.public_key, m, z, t2, t3)
        s = pysodium.crypto_core_ristretto255_scalar_sub(
            r, pysodium.crypto_core_ristretto255_scalar_mul(c, self.secret)
        )
        return c + bytes(s)

    def evaluate(self, input: bytes) -> bytes:
        """The PRF output computed directly from the input (RFC 9497 Evaluate)."""
        data = _input(input)
        element = _hash_to_group(_CONTEXTS[self.mode], data)
        return _finalize_hash(data, _mul(self.secret, element, "input"))


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------


def blind(input: bytes, mode: Mode, *, blind_scalar: bytes | None = None) -> tuple[bytes, bytes]:
    """Blind ``input``: return the blind scalar (kept by the client) and the blinded element
    (sent to the server). ``blind_scalar`` fixes the blind (for test vectors only)."""
    context = _CONTEXTS[_mode(mode)]
    data = _input(input)
    element = _hash_to_group(context, data)
    if blind_scalar is None:
        r = bytes(pysodium.crypto_core_ristretto255_scalar_random())
    else:
        r = _scalar(blind_scalar, "blind_scalar")
    return r, _mul(r, element, "blind_scalar")


def finalize(input: bytes, blind: bytes, evaluated_element: bytes, mode: Mode) -> bytes:
    """Unblind the server's evaluated element and hash it with ``input`` into the
    64-byte PRF output. In VOPRF mode, verify the proof first (``finalize_batch``)."""
    _mode(mode)
    data = _input(input)
    r = _scalar(blind, "blind")
    element = _element(evaluated_element, "evaluated_element")
    inverse = pysodium.crypto_core_ristretto255_scalar_invert(r)
    return _finalize_hash(data, _mul(inverse, element, "evaluated_element"))


def finalize_batch(
    public_key: bytes,
    inputs: Sequence[bytes],
    blinds: Sequence[bytes],
    blinded_elements: Sequence[bytes],
    evaluated_elements: Sequence[bytes],
    proof: bytes,
) -> list[bytes]:
    """VOPRF: verify the batch proof under ``public_key``, then finalize every input."""
    verify_proof(public_key, blinded_elements, evaluated_elements, proof)
    if isinstance(inputs, bytes | bytearray | memoryview | str):
        raise InputError(f"inputs: expected a sequence of inputs, got {type(inputs).__name__}")
    if isinstance(blinds, bytes | bytearray | memoryview | str):
        raise InputError(f"blinds: expected a sequence of scalars, got {type(blinds).__name__}")
    count = len(evaluated_elements)
    if len(inputs) != count:
        raise InputError(f"inputs: {len(inputs)} inputs for {count} evaluated elements")
    if len(blinds) != count:
        raise InputError(f"blinds: {len(blinds)} blinds for {count} evaluated elements")
    outputs = []
    for i in range(count):
        data = _input(inputs[i], f"inputs[{i}]")
        r = _scalar(blinds[i], f"blinds[{i}]")
        inverse = pysodium.crypto_core_ristretto255_scalar_invert(r)
        element = bytes(evaluated_elements[i])
        outputs.append(_finalize_hash(data, _mul(inverse, element, f"evaluated_elements[{i}]")))
    return outputs
