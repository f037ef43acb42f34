"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, and C2SP cosignatures
(c2sp.org/tlog-cosignature, ``cosignature/v1``) from witnesses.

A note is a UTF-8 text body ending in a newline, a blank line, and one line per signature::

    <body>
    — <key name> base64(uint32-BE key id || signature)

Key ids are ``SHA-256(name || 0x0A || type || public key)[:4]`` with type 0x01 for Ed25519
note keys and 0x04 for cosignature/v1 keys; verifier keys are written
``name+hex(key id)+base64(type || public key)``, as Go's golang.org/x/mod/sumdb/note does.

Opening follows the signed-note rules: signatures by unknown keys are ignored, a signature by
a known key that fails rejects the whole note, and at least one known key must have signed.
Pure: never does I/O, never imports grpc.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from arrears.ledger.errors import NoteError, SignatureError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # the spec requires accepting at least 16; Go's note accepts 100
_DASH = "\u2014"


def b64decode_canonical(field: str, text: str | bytes, *, size: int | None = None) -> bytes:
    """Strict base64: the standard alphabet with padding, and the one canonical encoding."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise NoteError(f"{field}: not base64") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{field}: not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{field}: non-canonical base64")
    if size is not None and len(raw) != size:
        raise NoteError(f"{field}: must decode to {size} bytes, got {len(raw)}")
    return raw


def _check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"key name: {name!r} is empty or has a space, '+' or control character")


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 4-byte key id of a note key, as a big-endian integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class Verifier(Protocol):
    """Something that checks one key's signatures on a note body."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, body: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, body: bytes) -> bytes: ...


@dataclass(frozen=True)
class _NoteKey:
    """A named Ed25519 public key of one note-signature type (``ALG``)."""

    ALG: ClassVar[int]
    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"public key: must be 32 bytes, got {len(self.public_key)}")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.ALG, self.public_key)

    @property
    def verifier_key(self) -> str:
        return _format_vkey(self.name, self.key_id, self.ALG, self.public_key)

    def _verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Ed25519Verifier(_NoteKey):
    """Verifies type-0x01 Ed25519 note signatures (the log's own checkpoint signatures)."""

    ALG: ClassVar[int] = ALG_ED25519

    def verify(self, body: bytes, signature: bytes) -> bool:
        return self._verify(signature, body)


@dataclass(frozen=True)
class CosignatureVerifier(_NoteKey):
    """Verifies ``cosignature/v1`` witness signatures (key type 0x04)."""

    ALG: ClassVar[int] = ALG_COSIGNATURE_V1

    def verify(self, body: bytes, signature: bytes) -> bool:
        if len(signature) != 8 + 64:
            return False
        (timestamp,) = struct.unpack(">Q", signature[:8])
        return self._verify(signature[8:], cosigned_message(body, timestamp))


def cosigned_message(body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 witness signs for a checkpoint body at a unix time."""
    return b"cosignature/v1\ntime %d\n" % timestamp + body


def _format_vkey(name: str, kid: int, alg: int, public_key: bytes) -> str:
    return f"{name}+{kid:08x}+{base64.b64encode(bytes([alg]) + public_key).decode()}"


def parse_verifier_key(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """Parse ``name+hex8+base64(type||key)``, checking the key id against the key."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key: want name+keyid+key")
    name, kid_hex, key_b64 = parts
    _check_key_name(name)
    if len(kid_hex) != 8 or any(c not in "0123456789abcdef" for c in kid_hex):
        raise NoteError("verifier key: key id must be 8 lower-case hex digits")
    raw = b64decode_canonical("verifier key", key_b64)
    if len(raw) != 33 or raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError("verifier key: want a type byte 0x01 or 0x04 and a 32-byte key")
    verifier: Ed25519Verifier | CosignatureVerifier = (
        Ed25519Verifier(name, raw[1:])
        if raw[0] == ALG_ED25519
        else CosignatureVerifier(name, raw[1:])
    )
    if verifier.key_id != int(kid_hex, 16):
        raise NoteError(f"verifier key: key id {kid_hex} does not match the key")
    return verifier


class Ed25519Signer:
    """Signs note bodies with an Ed25519 key under a key name (type 0x01)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self._name = name
        self._key = private_key
        self.verifier = Ed25519Verifier(name, _raw_public(private_key.public_key()))

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def verifier_key(self) -> str:
        return self.verifier.verifier_key

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body)


class CosignatureSigner:
    """A witness's cosignature/v1 signer: signs a checkpoint body at a unix time."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name(name)
        self._name = name
        self._key = private_key
        self.verifier = CosignatureVerifier(name, _raw_public(private_key.public_key()))

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def verifier_key(self) -> str:
        return self.verifier.verifier_key

    def sign_at(self, body: bytes, timestamp: int) -> bytes:
        return struct.pack(">Q", timestamp) + self._key.sign(cosigned_message(body, timestamp))

    def sign(self, body: bytes) -> bytes:
        return self.sign_at(body, int(time.time()))


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its body, every signature line, and the names of verified signers."""

    body: bytes
    signatures: tuple[NoteSignature, ...]
    verified: tuple[str, ...]

    def text(self) -> bytes:
        return self.body + b"\n" + "".join(s.line() for s in self.signatures).encode()


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # control characters but the newline


def _check_body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("malformed note: body is not UTF-8") from None
    if not text.endswith("\n"):
        raise NoteError("malformed note: body must end in a newline")
    if _CONTROL.search(text):
        raise NoteError("malformed note: control character in body")
    return text


def sign_note(body: bytes, signers: Iterable[Signer]) -> bytes:
    """The signed note text for ``body`` with one signature line per signer."""
    _check_body(body)
    sigs = [NoteSignature(s.name, s.key_id, s.sign(body)) for s in signers]
    if not sigs:
        raise NoteError("sign_note: no signers")
    return Note(body, tuple(sigs), ()).text()


def add_signatures(note: bytes, extra: Iterable[NoteSignature]) -> bytes:
    """``note`` with more signature lines appended (e.g. witnesses' cosignatures)."""
    body, sigs = split_note(note)
    seen = {(s.name, s.key_id) for s in sigs}
    merged = list(sigs)
    for s in extra:
        if (s.name, s.key_id) not in seen:
            seen.add((s.name, s.key_id))
            merged.append(s)
    return Note(body, tuple(merged), ()).text()


def split_note(note: bytes) -> tuple[bytes, tuple[NoteSignature, ...]]:
    """Parse a note's structure without checking any signature."""
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("malformed note: not UTF-8") from None
    if any((ord(c) < 0x20 and c != "\n") or c == "\x7f" for c in text):
        raise NoteError("malformed note: control character")
    cut = text.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    body, sig_text = text[: cut + 1], text[cut + 2 :]
    if not sig_text.endswith("\n"):
        raise NoteError("malformed note: signature block must end in a newline")
    sigs: list[NoteSignature] = []
    for n, line in enumerate(sig_text[:-1].split("\n"), 1):
        if not line.startswith(_DASH + " "):
            raise NoteError(f"malformed note: signature line {n} does not start with '— '")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise NoteError(f"malformed note: signature line {n} wants a name and a signature")
        name, blob_b64 = fields
        _check_key_name(name)
        blob = b64decode_canonical(f"signature line {n}", blob_b64)
        if len(blob) < 5:
            raise NoteError(f"malformed note: signature line {n} is too short")
        sigs.append(NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(sigs)} signatures, at most {MAX_SIGNATURES}")
    return body.encode(), tuple(sigs)


def open_note(note: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Check a signed note: every signature by a known key must verify, and at least one
    known key must have signed. Signatures by unknown keys are kept but not trusted."""
    body, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    for sig in sigs:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(body, sig.signature):
            raise SignatureError(f"note: invalid signature by {sig.name} ({sig.key_id:08x})")
        if sig.name not in verified:
            verified.append(sig.name)
    if not verified:
        raise SignatureError("note: no signature by a known key")
    return Note(body, sigs, tuple(verified))
