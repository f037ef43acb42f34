"""C2SP tlog-checkpoint bodies: ``<origin>\\n<size>\\n<base64 root>\\n[extension lines]``.

The body may carry extension lines after the root; a later version commits there to the root
of a verifiable map keyed by pseudonym. Parsing is strict: one canonical form per checkpoint.
Pure: never does I/O.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from arrears.ledger.errors import NoteError
from arrears.ledger.merkle import HASH_SIZE
from arrears.ledger.note import b64decode_canonical


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or not self.origin.isprintable():
            raise NoteError("malformed checkpoint: invalid origin")
        if not 0 <= self.size < 1 << 63:  # a Go int64, as sumdb/tlog reads it
            raise NoteError("malformed checkpoint: invalid size")
        if len(self.root) != HASH_SIZE:
            raise NoteError("malformed checkpoint: root must be 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext or not ext.isprintable():
                raise NoteError("malformed checkpoint: invalid extension line")

    def body(self) -> bytes:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed checkpoint: not UTF-8") from None
        if not text.endswith("\n"):
            raise NoteError("malformed checkpoint: must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("malformed checkpoint: want origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if (
            not size_text.isascii()
            or not size_text.isdigit()
            or (size_text != "0" and size_text.startswith("0"))
            or len(size_text) > 19
            or int(size_text) >= 1 << 63
        ):
            raise NoteError("malformed checkpoint: invalid size")
        try:
            root = b64decode_canonical("checkpoint root", root_text, size=HASH_SIZE)
        except NoteError as e:
            raise NoteError(f"malformed checkpoint: invalid root ({e})") from None
        return cls(origin, int(size_text), root, tuple(extensions))
