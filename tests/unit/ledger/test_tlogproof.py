"""C2SP tlog-proof texts: one at a time, and a run's texts sharing their work."""

from __future__ import annotations

import base64
import hashlib

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
