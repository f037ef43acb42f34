"""The one error tree of arrears.

Every failure the core can detect is an ``ArrearsError``; the server maps these to gRPC
status codes in exactly one place, and the SDK maps them back in exactly one place.
Errors carry the values that differ (expected vs calculated) as attributes, and their
message names what is wrong::

    ArrearsError
    ├── InputError                 malformed input: bad size, index, length, encoding
    │   ├── IdentifierError        a national ID / credit code / passport fails a rule
    │   ├── EncodingError          bytes that do not parse as the format they claim
    │   └── NoteError              a malformed checkpoint or signed note
    ├── VerificationError          well-formed, but the cryptography does not check out
    │   ├── ProofError             an inclusion or consistency proof does not verify
    │   ├── RootMismatchError      a recomputed root differs from the claimed one
    │   ├── ChainError             a leaf does not commit to its predecessor's hash
    │   ├── SignatureError         a note, envelope or cosignature signature fails
    │   └── OprfError              an OPRF element or proof is invalid
    ├── ConflictError              the request contradicts the ledger's state
    │   ├── InconsistentCheckpointError  would sign / accept a checkpoint not
    │   │                                consistent with an earlier one
    │   └── StaleStateError        the storage moved on under a writer
    └── StorageError               the storage is unusable (corrupt, unreachable)

Never import grpc here.
"""

from __future__ import annotations

import re


class ArrearsError(Exception):
    """Base of every error arrears raises on purpose."""


class InputError(ArrearsError, ValueError):
    """Malformed input: the request can never succeed as sent."""


class IdentifierError(InputError):
    """A subject identifier breaks a rule; ``rule`` names it (e.g. ``check digit``)."""

    def __init__(self, message: str, *, kind: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.rule = rule


class EncodingError(InputError):
    """Bytes that do not parse as the format they claim to be."""


class NoteError(InputError):
    """A malformed checkpoint or signed note."""


class VerificationError(ArrearsError):
    """Well-formed input whose cryptographic check fails."""


class ProofError(VerificationError):
    """An inclusion or consistency proof does not verify."""


class RootMismatchError(ProofError):
    """A recomputed root differs from the expected one."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"{message}: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated


class ChainError(VerificationError):
    """A leaf's previous-hash field does not match its predecessor's leaf hash."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class SignatureError(VerificationError):
    """A signature does not verify under the key it names."""


class OprfError(VerificationError):
    """An invalid OPRF element, scalar or proof."""


class ConflictError(ArrearsError):
    """The request contradicts the current state of the ledger."""


class InconsistentCheckpointError(ConflictError):
    """A checkpoint that is not consistent with one signed or trusted before."""


class StaleStateError(ConflictError):
    """The storage is not at the size the writer expected."""

    def __init__(self, message: str, *, expected: int, actual: int) -> None:
        super().__init__(f"{message}: expected size {expected}, storage has {actual}")
        self.expected = expected
        self.actual = actual


class StorageError(ArrearsError):
    """The storage cannot be used: unreachable, corrupt or from a newer schema."""


class InternalError(ArrearsError):
    """A fault of our own while handling one request (logged where it happened): that request
    fails, and no other."""


_FIELD = re.compile(r"^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): ")


def field_of(message: str) -> str:
    """The field an error message names ("record_reported.record_id: ..."), or "": every
    message about bad input starts with the field it is about."""
    m = _FIELD.match(message)
    return m.group(1) if m else ""
