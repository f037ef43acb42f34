"""Our checkpoints and proofs, checked by Go's golang.org/x/mod/sumdb/note and sumdb/tlog,
which nobody in this project wrote."""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path

import pytest

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.log import Entry, Log
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import (
    CosignatureSigner,
    Ed25519Signer,
    NoteSignature,
    add_signatures,
    split_note,
)
from arrears.ledger.sql import SqlStorage
from arrears.ledger.tiles import consistency_proof, inclusion_proof

from .gotool import go_verify

pytestmark = pytest.mark.interop


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[SqlStorage, Ed25519Signer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('interop') / 'ledger.db'}"
    storage = SqlStorage.open(url)
    signer = Ed25519Signer.generate("arrears.example/ledger")
    log = Log(storage, signer)
    rng = random.Random(7)
    for n in (1, 2, 5, 100, 255, 256, 1000, 1337):
        log.append_batch(
            [
                Entry(os.urandom(32), os.urandom(rng.randrange(200)), os.urandom(64))
                for _ in range(n)
            ]
        )
    log.close()
    return storage, signer


def test_go_opens_our_checkpoint_and_checks_every_proof(
    go: Path, ledger: tuple[SqlStorage, Ed25519Signer]
) -> None:
    storage, signer = ledger
    head = storage.head()
    leaves = storage.read_leaves(0, head.size)
    hashes = [leaf_hash(x) for x in leaves]
    rng = random.Random(1)
    indexes = sorted({0, 1, 255, 256, head.size - 1, *rng.sample(range(head.size), 60)})
    old_sizes = [1, 3, 8, 108, 363, 619, 1619]  # every size the log signed a checkpoint at
    request = {
        "verifier_key": signer.verifier_key,
        "note": head.checkpoint.decode(),
        "inclusion": [
            {
                "index": i,
                "tree_size": head.size,
                "leaf_hash": b64(hashes[i]),
                "proof": [b64(h) for h in inclusion_proof(i, head.size, storage.read_tiles)],
            }
            for i in indexes
        ],
        "consistency": [
            {
                "size1": m,
                "root1": b64(Checkpoint.parse(split_note(storage.checkpoint_at(m) or b"")[0]).root),
                "size2": head.size,
                "root2": b64(head.root),
                "proof": [b64(h) for h in consistency_proof(m, head.size, storage.read_tiles)],
            }
            for m in old_sizes
        ],
        "tree": {"leaf_hashes": [b64(h) for h in hashes]},
    }
    answer = go_verify(request)
    assert answer["note_ok"], answer["note_error"]
    assert answer["signers"] == ["arrears.example/ledger"]
    assert (answer["origin"], answer["size"]) == ("arrears.example/ledger", head.size)
    assert base64.b64decode(answer["root"]) == head.root
    assert base64.b64decode(answer["tree_root"]) == head.root
    assert [r["ok"] for r in answer["inclusion"]] == [True] * len(indexes), answer["inclusion"]
    assert [r["ok"] for r in answer["consistency"]] == [True] * len(old_sizes)


def test_go_accepts_a_cosigned_checkpoint_and_rejects_a_tampered_one(
    go: Path, ledger: tuple[SqlStorage, Ed25519Signer]
) -> None:
    storage, signer = ledger
    note = storage.head().checkpoint
    body, _ = split_note(note)
    witness = CosignatureSigner(
        "regulator.example/witness", Ed25519Signer.generate("w").private_key
    )
    cosigned = add_signatures(
        note,
        [NoteSignature(witness.name, witness.key_id, witness.sign_at(body, 1_790_000_000))],
    )
    answer = go_verify({"verifier_key": signer.verifier_key, "note": cosigned.decode()})
    assert answer["note_ok"], answer["note_error"]
    assert answer["unverified_signers"] == ["regulator.example/witness"]
    tampered = cosigned.replace(b"\n" + str(storage.head().size).encode() + b"\n", b"\n9999\n", 1)
    answer = go_verify({"verifier_key": signer.verifier_key, "note": tampered.decode()})
    assert not answer["note_ok"]
