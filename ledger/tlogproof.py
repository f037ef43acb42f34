"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an inclusion proof and its signed checkpoint in
one text a member can keep and verify offline, with no access to the log::

    c2sp.org/tlog-proof@v1
    [extra <base64>]
    index <i>
    <base64 hash>          (one line per proof hash, RFC 6962 order)
                           (a blank line)
    <signed checkpoint note>
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InputError, NoteError, ProofError, VerificationError
from arrears.ledger.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from arrears.ledger.note import Verifier, b64decode_canonical, open_note

HEADER = "c2sp.org/tlog-proof@v1"
_INDEX = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note
    extra: bytes = b""

    def text(self) -> str:
        proof = "".join(map(_line, self.proof))
        return _head(self.index, self.extra) + proof + "\n" + self.checkpoint.decode()

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise NoteError("malformed tlog-proof: no blank line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise NoteError(f"malformed tlog-proof: first line must be {HEADER}")
        pos = 1
        extra = b""
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = b64decode_canonical("tlog-proof extra", lines[pos][6:])
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise NoteError("malformed tlog-proof: missing index line")
        digits = lines[pos][6:]
        if _INDEX.fullmatch(digits) is None:  # ASCII digits only, no leading zero
            raise NoteError("malformed tlog-proof: invalid index")
        proof = tuple(
            b64decode_canonical(f"tlog-proof hash {i}", h, size=HASH_SIZE)
            for i, h in enumerate(lines[pos + 1 :])
        )
        return cls(int(digits), proof, note.encode(), extra)

    def verify(self, leaf: bytes, verifiers: Sequence[Verifier]) -> Checkpoint:
        """Check the checkpoint's signature and the leaf's inclusion; return the checkpoint.
        The checkpoint's origin must be the name of a key that signed it (a log's key is named
        for it): a note of another log signed with the same key is not this log's."""
        opened = open_note(self.checkpoint, verifiers)
        checkpoint = Checkpoint.parse(opened.body)
        if not any(sig.name == checkpoint.origin for sig in opened.signatures):
            raise VerificationError(
                f"checkpoint: origin {checkpoint.origin!r} is not the name of a key that signed it"
            )
        try:
            verify_inclusion(
                self.index, checkpoint.size, leaf_hash(leaf), self.proof, checkpoint.root
            )
        except InputError as e:  # an index beyond the tree, a malformed proof
            raise ProofError(f"tlog-proof: {e}") from e
        return checkpoint


def tlog_proof_texts(
    indexes: Sequence[int], proofs: Sequence[Sequence[bytes]], checkpoint: bytes
) -> list[str]:
    """``TlogProof(index, proof, checkpoint).text()`` for many leaves proven against one
    checkpoint (a batch's receipts): the note is decoded once, and each distinct hash encoded
    once, since neighbouring leaves share most of their proofs' upper nodes."""
    tail = "\n" + checkpoint.decode()
    lines = {h: _line(h) for h in set(chain.from_iterable(proofs))}
    return [
        _head(i, b"") + "".join(map(lines.__getitem__, p)) + tail
        for i, p in zip(indexes, proofs, strict=True)
    ]


def _head(index: int, extra: bytes) -> str:
    if extra:
        return f"{HEADER}\nextra {base64.b64encode(extra).decode()}\nindex {index}\n"
    return f"{HEADER}\nindex {index}\n"


def _line(h: bytes) -> str:
    return base64.b64encode(h).decode() + "\n"
