"""C2SP tlog-proof texts: one at a time, and a run's texts sharing their work."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import NoteError, ProofError, VerificationError
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import Ed25519Signer, sign_note
from arrears.ledger.tlogproof import HEADER, TlogProof, tlog_proof_texts

NOTE = "arrears.example/ledger\n12\nAAAA\n\n\u2014 arrears.example/ledger xyz=\n".encode()


def h(n: int) -> bytes:
    return hashlib.sha256(b"%d" % n).digest()


def test_text_is_the_c2sp_layout_and_parses_back() -> None:
    proof = TlogProof(5, (h(1), h(2)), NOTE, b"extra")
    b64 = [base64.b64encode(x).decode() for x in (b"extra", h(1), h(2))]
    assert proof.text() == (
        f"{HEADER}\nextra {b64[0]}\nindex 5\n{b64[1]}\n{b64[2]}\n\n{NOTE.decode()}"
    )
    assert TlogProof.parse(proof.text()) == proof
    assert TlogProof(0, (), NOTE).text() == f"{HEADER}\nindex 0\n\n{NOTE.decode()}"


def test_a_runs_texts_equal_one_text_each() -> None:
    proofs = [[h(k), h(100), h(k % 3)] for k in range(7)] + [[]]
    texts = tlog_proof_texts(range(40, 48), proofs, NOTE)
    assert texts == [TlogProof(40 + k, tuple(p), NOTE).text() for k, p in enumerate(proofs)]
    assert tlog_proof_texts([], [], NOTE) == []


@pytest.mark.parametrize("index", ["\u0664", "\u00b2", "05", "-1", "1 ", "12345678901234567890"])
def test_an_index_not_in_canonical_ascii_digits_is_malformed(index: str) -> None:
    text = TlogProof(5, (h(1),), NOTE).text().replace("index 5\n", f"index {index}\n")
    with pytest.raises(NoteError, match="invalid index"):
        TlogProof.parse(text)


def test_verify_wants_this_logs_checkpoint_and_an_index_in_its_tree() -> None:
    """A note the same key signed for another log (another origin, another key name) is not
    this log's; an index beyond the tree is a failed proof, not a crash."""
    key = Ed25519PrivateKey.generate()
    log = Ed25519Signer("arrears.example/ledger", key)
    leaf = b"leaf"
    root = leaf_hash(leaf)  # a tree of one
    note = sign_note(Checkpoint("arrears.example/ledger", 1, root).body(), [log])
    assert TlogProof(0, (), note).verify(leaf, [log.verifier]).size == 1
    with pytest.raises(ProofError, match="tlog-proof"):
        TlogProof(3, (), note).verify(leaf, [log.verifier])
    # Another log's checkpoint signed with the same key, as the inquiry log's are: under this
    # log's key name the signature verifies, since a note signature covers the text only.
    relabelled = sign_note(Checkpoint("arrears.example/ledger/inquiries", 1, root).body(), [log])
    with pytest.raises(VerificationError, match="origin"):
        TlogProof(0, (), relabelled).verify(leaf, [log.verifier])
