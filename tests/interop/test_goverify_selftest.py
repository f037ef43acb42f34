"""Checks of the Go verifier itself, on inputs built in this file from the specs alone.

Nothing from arrears is imported here. Signed notes are written by following
c2sp.org/signed-note literally, Merkle hashes and proofs come from the small
recursive RFC 6962 reference below, and both are first pinned to published
vectors (the x/mod/sumdb/note package example, and the RFC 6962 vectors of
transparency-dev/merkle kept in tests/reference.py). So when the other interop
tests compare our ledger with Go, a bug in the verifier cannot hide a bug in
the ledger or vice versa.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.reference import (
    RFC6962_CONSISTENCY,
    RFC6962_EMPTY_ROOT,
    RFC6962_INCLUSION,
    RFC6962_LEAVES,
    RFC6962_ROOTS,
)

from .gotool import go_verify

pytestmark = pytest.mark.interop


# --- published vectors -------------------------------------------------------------------------

# The example in the package documentation of golang.org/x/mod/sumdb/note (note.go).
NEUMANN_SIGNER_KEY = (
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
)
NEUMANN_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
NEUMANN_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
NEUMANN_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
NEUMANN_NOTE = NEUMANN_TEXT + "\n" + f"— PeterNeumann {NEUMANN_SIGNATURE}\n"

# --- c2sp.org/signed-note, written out literally -----------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Key:
    name: str
    private: Ed25519PrivateKey

    @staticmethod
    def from_seed(name: str, seed: bytes) -> Key:
        return Key(name, Ed25519PrivateKey.from_private_bytes(seed))

    @staticmethod
    def derived(name: str, label: str) -> Key:
        return Key.from_seed(name, sha256(b"goverify selftest key " + label.encode()))

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        # key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]
        return sha256(self.name.encode() + b"\x0a" + b"\x01" + self.public)[:4]

    @property
    def verifier_key(self) -> str:
        encoded = b64(b"\x01" + self.public)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def signature_line(self, text: str, *, key_id: bytes | None = None) -> str:
        signature = self.private.sign(text.encode())
        return f"— {self.name} {b64((key_id or self.key_id) + signature)}\n"


def sign_note(text: str, *keys: Key) -> str:
    """The text, a blank line, then one signature line per key."""
    assert text.endswith("\n")
    return text + "\n" + "".join(key.signature_line(text) for key in keys)


# --- RFC 6962 section 2.1, written out recursively ---------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = split_point(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*audit_path(m, leaves[:k]), mth(leaves[k:])]
    return [*audit_path(m - k, leaves[k:]), mth(leaves[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m <= n."""
    assert 0 < m <= len(leaves)

    def subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
        n = len(leaves)
        if m == n:
            return [] if complete else [mth(leaves)]
        k = split_point(n)
        if m <= k:
            return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
        return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]

    return subproof(m, leaves, True)


def checkpoint_text(origin: str, leaves: Sequence[bytes]) -> str:
    return f"{origin}\n{len(leaves)}\n{b64(mth(leaves))}\n"


def flip(data: bytes, byte: int = 0, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


ORIGIN = "example.test/arrears-selftest"
LOG_KEY = Key.derived(ORIGIN, "log")
LEAVES = [leaf_hash(f"record {i}".encode()) for i in range(21)]


def inclusion(index: int, leaves: Sequence[bytes], /, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "index": index,
        "tree_size": len(leaves),
        "leaf_hash": b64(leaves[index]),
        "root": b64(mth(leaves)),
        "proof": [b64(h) for h in audit_path(index, leaves)],
    }
    item.update(overrides)
    return item


def consistency(size1: int, leaves: Sequence[bytes], /, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "size1": size1,
        "root1": b64(mth(leaves[:size1])),
        "size2": len(leaves),
        "root2": b64(mth(leaves)),
        "proof": [b64(h) for h in consistency_proof(size1, leaves)],
    }
    item.update(overrides)
    return item


def oks(results: list[dict[str, Any]]) -> list[bool]:
    return [bool(r["ok"]) for r in results]


# --- the in-test references against the published vectors (no Go needed) -----------------------


def test_in_test_note_signer_reproduces_the_published_note() -> None:
    seed = base64.b64decode(NEUMANN_SIGNER_KEY.split("+", 4)[4])
    assert seed[0] == 0x01
    key = Key.from_seed("PeterNeumann", seed[1:])
    assert key.verifier_key == NEUMANN_VERIFIER_KEY
    assert sign_note(NEUMANN_TEXT, key) == NEUMANN_NOTE


def test_in_test_merkle_reference_reproduces_the_published_vectors() -> None:
    leaves = [leaf_hash(d) for d in RFC6962_LEAVES]
    assert mth([]).hex() == RFC6962_EMPTY_ROOT
    for size, root in RFC6962_ROOTS.items():
        assert mth(leaves[:size]).hex() == root
    for index, size, proof in RFC6962_INCLUSION:
        assert [h.hex() for h in audit_path(index, leaves[:size])] == proof
    for size1, size2, proof in RFC6962_CONSISTENCY:
        assert [h.hex() for h in consistency_proof(size1, leaves[:size2])] == proof


# --- the Go verifier on published vectors -----------------------------------------------------


def test_go_opens_the_published_note(go: Path) -> None:
    answer = go_verify({"verifier_key": NEUMANN_VERIFIER_KEY, "note": NEUMANN_NOTE})
    # The signature verifies; the text is not a checkpoint, and the verifier says so.
    assert answer["signers"] == ["PeterNeumann"]
    assert answer["text"] == NEUMANN_TEXT
    assert answer["note_ok"] is False
    assert answer["note_error"].startswith("checkpoint: ")


def test_go_reproduces_the_published_rfc6962_vectors(go: Path) -> None:
    leaves = [leaf_hash(d) for d in RFC6962_LEAVES]
    for size, root in RFC6962_ROOTS.items():
        answer = go_verify({"tree": {"leaf_hashes": [b64(h) for h in leaves[:size]]}})
        assert answer["tree_error"] == ""
        assert base64.b64decode(answer["tree_root"]).hex() == root
    answer = go_verify(
        {
            "inclusion": [
                {
                    "index": index,
                    "tree_size": size,
                    "leaf_hash": b64(leaves[index]),
                    "root": b64(bytes.fromhex(RFC6962_ROOTS[size])),
                    "proof": [b64(bytes.fromhex(h)) for h in proof],
                }
                for index, size, proof in RFC6962_INCLUSION
            ],
            "consistency": [
                {
                    "size1": size1,
                    "root1": b64(bytes.fromhex(RFC6962_ROOTS[size1])),
                    "size2": size2,
                    "root2": b64(bytes.fromhex(RFC6962_ROOTS[size2])),
                    "proof": [b64(bytes.fromhex(h)) for h in proof],
                }
                for size1, size2, proof in RFC6962_CONSISTENCY
            ],
        }
    )
    assert answer["inclusion"] == [{"ok": True, "error": ""}] * len(RFC6962_INCLUSION)
    assert answer["consistency"] == [{"ok": True, "error": ""}] * len(RFC6962_CONSISTENCY)


def test_go_empty_tree_hash_is_zero_not_rfc6962(go: Path) -> None:
    # tlog.TreeHash(0, r) is defined as the all-zero hash; RFC 6962's MTH({}) is SHA-256("").
    answer = go_verify({"tree": {"leaf_hashes": []}})
    assert answer["tree_root"] == b64(bytes(32))
    assert answer["tree_root"] != b64(sha256(b""))


# --- the Go verifier on good inputs built here --------------------------------------------------


def test_go_accepts_a_good_checkpoint_and_all_its_proofs(go: Path) -> None:
    leaves = LEAVES[:13]
    text = checkpoint_text(ORIGIN, leaves)
    answer = go_verify(
        {
            "verifier_key": LOG_KEY.verifier_key,
            "note": sign_note(text, LOG_KEY),
            # Against the checkpoint: no root, and tree_size / size2 left to default.
            "inclusion": [
                {
                    "index": i,
                    "leaf_hash": b64(leaves[i]),
                    "proof": [b64(h) for h in audit_path(i, leaves)],
                }
                for i in range(len(leaves))
            ],
            "consistency": [
                {
                    "size1": m,
                    "root1": b64(mth(leaves[:m])),
                    "proof": [b64(h) for h in consistency_proof(m, leaves)],
                }
                for m in range(1, len(leaves) + 1)
            ],
            "tree": {"leaf_hashes": [b64(h) for h in leaves]},
        }
    )
    assert answer["note_ok"] is True, answer["note_error"]
    assert answer["note_error"] == ""
    assert answer["origin"] == ORIGIN
    assert answer["size"] == len(leaves)
    assert answer["root"] == b64(mth(leaves))
    assert answer["text"] == text
    assert answer["signers"] == [ORIGIN]
    assert answer["unverified_signers"] == []
    assert oks(answer["inclusion"]) == [True] * len(leaves)
    assert oks(answer["consistency"]) == [True] * len(leaves)
    assert answer["tree_root"] == b64(mth(leaves))


def test_go_agrees_with_the_reference_on_every_small_tree(go: Path) -> None:
    for n in range(1, len(LEAVES) + 1):
        leaves = LEAVES[:n]
        answer = go_verify(
            {
                "inclusion": [inclusion(i, leaves) for i in range(n)],
                "consistency": [consistency(m, leaves) for m in range(1, n + 1)],
                "tree": {"leaf_hashes": [b64(h) for h in leaves]},
            }
        )
        assert answer["tree_root"] == b64(mth(leaves)), n
        assert oks(answer["inclusion"]) == [True] * n, (n, answer["inclusion"])
        assert oks(answer["consistency"]) == [True] * n, (n, answer["consistency"])


def test_go_accepts_extension_lines_and_the_empty_checkpoint(go: Path) -> None:
    for text, size in [
        (checkpoint_text(ORIGIN, LEAVES[:5]) + "an extension line\nanother one\n", 5),
        (f"{ORIGIN}\n0\n{b64(sha256(b''))}\n", 0),
    ]:
        answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": sign_note(text, LOG_KEY)})
        assert answer["note_ok"] is True, (text, answer["note_error"])
        assert answer["size"] == size


def test_go_ignores_unknown_signers(go: Path) -> None:
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    witness = Key.derived("witness.example.test", "witness")
    same_name_other_key = Key.derived(ORIGIN, "rotated")
    for keys in [
        (LOG_KEY, witness),
        (witness, LOG_KEY),
        (same_name_other_key, LOG_KEY),
    ]:
        answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": sign_note(text, *keys)})
        assert answer["note_ok"] is True, answer["note_error"]
        assert answer["signers"] == [ORIGIN]
        assert answer["unverified_signers"] == [k.name for k in keys if k is not LOG_KEY]


# --- the Go verifier rejects bad notes --------------------------------------------------------


def test_go_rejects_every_single_bit_flip_in_the_body(go: Path) -> None:
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    note = sign_note(text, LOG_KEY).encode()
    for position in range(len(text)):
        for bit in (0, 5):
            tampered = flip(note, position, bit).decode()
            answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": tampered})
            assert answer["note_ok"] is False, (position, bit)
            assert answer["signers"] == [], (position, bit)
            assert answer["note_error"] in {
                f"invalid signature for key {ORIGIN}+{LOG_KEY.key_id.hex()}",
                "malformed note",  # a newline flipped into a control character
            }, (position, bit, answer["note_error"])


def test_go_rejects_a_flipped_bit_in_the_signature(go: Path) -> None:
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    key_id_and_signature = base64.b64decode(LOG_KEY.signature_line(text).split(" ")[2])
    for byte in (4, 40, 67):
        line = f"— {ORIGIN} {b64(flip(key_id_and_signature, byte))}\n"
        answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": text + "\n" + line})
        assert answer["note_ok"] is False
        assert answer["note_error"].startswith("invalid signature for key"), byte


def test_go_rejects_wrong_keys(go: Path) -> None:
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    note = sign_note(text, LOG_KEY)
    impostor = Key.derived(ORIGIN, "impostor")

    # A different key under the same name has a different key ID: the log's line is unknown.
    answer = go_verify({"verifier_key": impostor.verifier_key, "note": note})
    assert answer["note_ok"] is False
    assert answer["note_error"] == "note has no verifiable signatures"
    assert answer["unverified_signers"] == [ORIGIN]

    # The impostor signs but claims the log's key ID: the known key must reject it.
    forged = text + "\n" + impostor.signature_line(text, key_id=LOG_KEY.key_id)
    answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": forged})
    assert answer["note_ok"] is False
    assert answer["note_error"].startswith("invalid signature for key")

    # A verifier key whose key ID does not match its name and key.
    name, key_id, key = LOG_KEY.verifier_key.split("+")
    for bad in [
        f"{name}+{flip(bytes.fromhex(key_id)).hex()}+{key}",
        f"{name}x+{key_id}+{key}",
        f"{name}+{key_id}+{b64(flip(base64.b64decode(key), 5))}",
    ]:
        answer = go_verify({"verifier_key": bad, "note": note})
        assert answer["note_ok"] is False
        assert answer["note_error"].startswith("verifier key: "), bad


def test_go_rejects_malformed_checkpoints_even_when_signed(go: Path) -> None:
    root = mth(LEAVES[:7])
    root_b64 = b64(root)
    noncanonical = root_b64[:42] + chr(ord(root_b64[42]) + 1) + "="  # nonzero padding bits
    assert base64.b64decode(noncanonical) == root
    for body in [
        f"{ORIGIN}\n07\n{root_b64}\n",
        f"{ORIGIN}\n+7\n{root_b64}\n",
        f"{ORIGIN}\n-7\n{root_b64}\n",
        f"{ORIGIN}\n 7\n{root_b64}\n",
        f"{ORIGIN}\n7.0\n{root_b64}\n",
        f"{ORIGIN}\n9223372036854775808\n{root_b64}\n",
        f"{ORIGIN}\n7\n{root_b64.rstrip('=')}\n",
        f"{ORIGIN}\n7\n{noncanonical}\n",
        f"{ORIGIN}\n7\n{base64.urlsafe_b64encode(root).decode()}\n",
        f"{ORIGIN}\n7\n{b64(root[:31])}\n",
        f"{ORIGIN}\n7\n{b64(root + b'x')}\n",
        f"{ORIGIN}\n7\n{root_b64} \n",
        f"{ORIGIN}\n7\n",
        f"\n7\n{root_b64}\n",
        f"{ORIGIN}\n7\n{root_b64}\n\nextension after an empty line\n",
    ]:
        answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": sign_note(body, LOG_KEY)})
        assert answer["note_ok"] is False, body
        assert answer["signers"] == [ORIGIN], body
        assert answer["note_error"].startswith("checkpoint: "), (body, answer["note_error"])
        assert answer["size"] == 0
        assert answer["root"] == ""


def test_go_rejects_malformed_envelopes(go: Path) -> None:
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    line = LOG_KEY.signature_line(text)
    for note in [
        text + line,  # no blank line
        text + "\n" + line.rstrip("\n"),  # no final newline
        text + "\n" + line.replace("— ", "- "),  # hyphen, not em dash
        text + "\n" + line.replace(" ", "  ", 1),
        text.replace("\n", "\r\n", 1) + "\n" + line,  # control character
    ]:
        answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": note})
        assert answer["note_ok"] is False, note
        assert answer["signers"] == [], note


def test_go_verifies_only_the_first_line_of_a_repeated_key(go: Path) -> None:
    # note.Open skips any later line from a key it has already seen, before verifying it.
    text = checkpoint_text(ORIGIN, LEAVES[:7])
    good = LOG_KEY.signature_line(text)
    raw = base64.b64decode(good.split(" ")[2])
    bad = f"— {ORIGIN} {b64(flip(raw, 20))}\n"
    answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": text + "\n" + good + bad})
    assert answer["note_ok"] is True
    assert answer["signers"] == [ORIGIN]
    answer = go_verify({"verifier_key": LOG_KEY.verifier_key, "note": text + "\n" + bad + good})
    assert answer["note_ok"] is False


# --- the Go verifier rejects bad proofs --------------------------------------------------------


def test_go_rejects_tampered_inclusion_proofs(go: Path) -> None:
    for n in (2, 5, 8, 13, 21):
        leaves = LEAVES[:n]
        for index in sorted({0, 1, n // 2, n - 2, n - 1}):
            good = inclusion(index, leaves)
            proof = good["proof"]
            raw = [base64.b64decode(h) for h in proof]
            bad: list[dict[str, Any]] = [
                inclusion(index, leaves, proof=proof[:-1]),
                inclusion(index, leaves, proof=proof[1:]),
                inclusion(index, leaves, proof=[*proof, b64(sha256(b"extra"))]),
                inclusion(index, leaves, proof=[b64(sha256(b"extra")), *proof]),
                inclusion(index, leaves, leaf_hash=b64(flip(leaves[index], 31, 7))),
                inclusion(index, leaves, root=b64(flip(mth(leaves), 0))),
                inclusion(index, leaves, index=(index + 1) % n),
                inclusion(index, leaves, tree_size=index),
                inclusion(index, leaves, tree_size=0),
                inclusion(index, leaves, index=n),
                inclusion(index, leaves, index=-1),
            ]
            for i in range(len(raw)):
                for byte, bit in ((0, 0), (17, 4), (31, 7)):
                    tampered = list(proof)
                    tampered[i] = b64(flip(raw[i], byte, bit))
                    bad.append(inclusion(index, leaves, proof=tampered))
            answer = go_verify({"inclusion": [good, *bad]})
            assert oks(answer["inclusion"]) == [True] + [False] * len(bad), (n, index)


def test_go_rejects_tampered_consistency_proofs(go: Path) -> None:
    for n in (2, 5, 8, 13, 21):
        leaves = LEAVES[:n]
        for m in sorted({1, 2, n // 2, n - 1} - {n}):
            good = consistency(m, leaves)
            proof = good["proof"]
            raw = [base64.b64decode(h) for h in proof]
            bad: list[dict[str, Any]] = [
                consistency(m, leaves, proof=proof[:-1]),
                consistency(m, leaves, proof=proof[1:]),
                consistency(m, leaves, proof=[*proof, b64(sha256(b"extra"))]),
                consistency(m, leaves, proof=[b64(sha256(b"extra")), *proof]),
                consistency(m, leaves, proof=[]),
                consistency(m, leaves, root1=b64(flip(mth(leaves[:m]), 3))),
                consistency(m, leaves, root2=b64(flip(mth(leaves), 3))),
                consistency(m, leaves, root1=good["root2"], root2=good["root1"]),
                consistency(m, leaves, size1=m + 1),
                consistency(m, leaves, size2=m),
                consistency(m, leaves, size1=n, size2=m, root1=good["root2"], root2=good["root1"]),
            ]
            for i in range(len(raw)):
                for byte, bit in ((0, 0), (17, 4), (31, 7)):
                    tampered = list(proof)
                    tampered[i] = b64(flip(raw[i], byte, bit))
                    bad.append(consistency(m, leaves, proof=tampered))
            answer = go_verify({"consistency": [good, *bad]})
            assert oks(answer["consistency"]) == [True] + [False] * len(bad), (n, m)


def test_go_tlog_edge_cases(go: Path) -> None:
    leaves = LEAVES[:6]
    root = b64(mth(leaves))
    answer = go_verify(
        {
            "inclusion": [
                inclusion(0, leaves[:1]),  # size 1, empty proof
                inclusion(0, leaves[:1], proof=[root]),
            ],
            "consistency": [
                consistency(6, leaves),  # n == t: empty proof and equal roots
                consistency(6, leaves, root2=b64(sha256(b"other"))),
                consistency(6, leaves, proof=[root]),
                # From the empty tree: RFC 6962 has no proof for it, tlog refuses the inputs.
                consistency(1, leaves, size1=0, root1=b64(sha256(b"")), proof=[]),
            ],
        }
    )
    assert oks(answer["inclusion"]) == [True, False]
    assert oks(answer["consistency"]) == [True, False, False, False]
    assert "invalid inputs" in answer["consistency"][3]["error"]

    # A proof checks a (size, root) pair; the size enters only through the shape of the path.
    # Leaf 0's paths in trees of 5 and 6 leaves have the same shape, so the size-5 proof and root
    # also "verify" at size 6. Only a signed checkpoint binds a root to its size.
    five = inclusion(0, LEAVES[:5])
    answer = go_verify({"inclusion": [five, {**five, "tree_size": 6}, {**five, "tree_size": 9}]})
    assert oks(answer["inclusion"]) == [True, True, False]


def test_go_reports_bad_items_as_failures(go: Path) -> None:
    leaves = LEAVES[:5]
    answer = go_verify(
        {
            "inclusion": [
                inclusion(1, leaves, leaf_hash="not base64"),
                inclusion(1, leaves, proof=["AAAA"]),
                {"index": 1, "leaf_hash": b64(leaves[1])},  # no root and no checkpoint
            ],
            "consistency": [consistency(2, leaves, root1=b64(bytes(31)))],
            "tree": {"leaf_hashes": ["AAAA"]},
        }
    )
    assert oks(answer["inclusion"]) == [False, False, False]
    assert all(r["error"] for r in answer["inclusion"])
    assert oks(answer["consistency"]) == [False]
    assert answer["tree_root"] == ""
    assert answer["tree_error"] != ""
    assert answer["note_ok"] is False

    # Against a checkpoint, an inclusion item may not claim another tree size.
    answer = go_verify(
        {
            "verifier_key": LOG_KEY.verifier_key,
            "note": sign_note(checkpoint_text(ORIGIN, leaves), LOG_KEY),
            "inclusion": [{**inclusion(1, leaves[:4]), "root": None}],
        }
    )
    assert answer["note_ok"] is True
    assert oks(answer["inclusion"]) == [False]


def test_go_exits_2_on_bad_requests(go: Path) -> None:
    for stdin in [b"", b"{", b"[]", b'{"note": 3}', b'{"unknown": 1}', b"{} {}"]:
        proc = subprocess.run([str(go)], input=stdin, capture_output=True, timeout=60, check=False)
        assert proc.returncode == 2, stdin
        assert proc.stdout == b"", stdin
    proc = subprocess.run(
        [str(go)], input=json.dumps({}).encode(), capture_output=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout)["note_error"] == "no note in request"
