"""A trust state file shared by several processes only ever moves forward: each takes the lock
beside it, re-reads it, and catches up with a larger checkpoint another process trusted (once
proven consistent with its own) instead of writing an older one over it. A corrupt file is a
typed error naming it."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from arrears.client.trust import ProofNeeded, Trust
from arrears.ledger.errors import (
    InconsistentCheckpointError,
    InputError,
    StorageError,
)
from arrears.ledger.tiles import consistency_proof
from tests import reference
from tests.unit.client.test_verify import World, w  # noqa: F401  (the fixture)


def honest(world: World) -> object:
    return lambda a, b: consistency_proof(a, b, world.storage.read_tiles)


def stored_size(state: Path) -> int:
    return int(json.loads(state.read_text())["tree_size"])


def two_processes(world: World, state: Path) -> tuple[Trust, Trust]:
    """Two processes sharing ``state``, both started after it was written at ``sizes[1]``."""
    world.trust(state).accept(world.note_at(world.sizes[1]))
    return world.trust(state), world.trust(state)


def test_an_older_checkpoint_never_replaces_a_larger_one_another_process_stored(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    s2, s3 = w.sizes[3], w.size
    fetch = honest(w)
    p1, p2 = two_processes(w, state)
    p1.accept(w.note_at(s3), fetch=fetch)  # type: ignore[arg-type]
    assert stored_size(state) == s3
    # p2 is then shown s2: it is a prefix of what p1 trusted, so p2 takes s3 on as well
    assert p2.accept(w.note_at(s2), fetch=fetch).size == s2  # type: ignore[arg-type]
    assert stored_size(state) == s3
    assert p2.size == s3
    # and a restarted client still knows s3: another root there is a fork
    with pytest.raises(InconsistentCheckpointError, match="different histories"):
        w.trust(state).accept(w.forged(s3, bytes(32)))


def test_a_history_another_process_stored_that_ours_contradicts_is_a_fork(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    s1, s2, s3 = w.sizes[1], w.sizes[3], w.size
    p1, p2 = two_processes(w, state)
    # p1 is shown a fork of the log that keeps the first s2 entries (a valid proof from s1)
    forked: Sequence[bytes] = [*w.storage.leaves[:s2], *[b"forged"] * (s3 - s2)]
    p1.accept(w.forged(s3, reference.mth(forked)), proof_from=s1, proof=reference.proof(s1, forked))
    # p2 is shown the real log at s3: the two histories meet in the file
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        p2.accept(w.note_at(s3), fetch=honest(w))  # type: ignore[arg-type]
    assert p2.size == s1


@pytest.mark.parametrize(
    "text",
    [
        "{oops",
        "{}",
        "[]",
        json.dumps({"checkpoint": 5}),
        json.dumps({"checkpoint": "x\n"}),
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["not JSON", "no checkpoint", "a list", "not text", "not a note", "nested too deep"],
)
def test_a_corrupt_state_file_is_a_storage_error_naming_it(
    w: World,  # noqa: F811
    tmp_path: Path,
    text: str,
) -> None:
    state = tmp_path / "trust.json"
    state.write_text(text)
    with pytest.raises(StorageError, match=str(state)):
        w.trust(state)


def test_a_required_state_file_that_is_missing_is_refused_not_trusted_anew(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    key = w.c.log_signer.verifier_key
    with pytest.raises(StorageError, match="does not exist"):
        Trust(key, state_file=state, require_state=True)
    assert not state.exists()  # refused before anything was written
    with pytest.raises(InputError, match="state_file"):
        Trust(key, require_state=True)
    # Seeded once (here with a checkpoint obtained out of band), then required.
    Trust(key, state_file=state).accept(w.note_at(w.sizes[1]))
    trust = Trust(key, state_file=state, require_state=True)
    assert trust.size == w.sizes[1]


def test_a_process_waits_for_the_lock_before_reading_and_writing(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    t = w.trust(state)
    fd = os.open(tmp_path / "trust.json.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process holds it
    done = threading.Event()
    thread = threading.Thread(target=lambda: (t.accept(w.note), done.set()))
    thread.start()
    try:
        assert not done.wait(0.3)
        assert not state.exists()
    finally:
        os.close(fd)
    thread.join(5)
    assert done.is_set()
    assert stored_size(state) == w.size


def test_without_fetch_the_proofs_to_catch_up_are_asked_for_one_by_one(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    s1, s2, s3 = w.sizes[1], w.sizes[3], w.size
    p1, p2 = two_processes(w, state)
    p1.accept(w.note_at(s3), fetch=honest(w))  # type: ignore[arg-type]
    asked = []
    proof_from, proof_to, proof = s1, -1, consistency_proof(s1, s2, w.storage.read_tiles)
    for _ in range(4):  # as AsyncClient.accept does
        try:
            cp = p2.accept(w.note_at(s2), proof_from=proof_from, proof=proof, proof_to=proof_to)
            break
        except ProofNeeded as need:
            asked.append((need.from_size, need.to_size))
            proof_from, proof_to = need.from_size, need.to_size
            proof = consistency_proof(proof_from, proof_to, w.storage.read_tiles)
    assert asked == [(s1, s3), (s2, s3)]
    assert cp.size == s2 and p2.size == s3


def test_files_are_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    from unittest import mock

    from arrears.client.trust import write_atomically

    path = tmp_path / "sub" / "state.json"
    write_atomically(path, "first")
    assert path.read_text() == "first" and path.stat().st_mode & 0o777 == 0o600
    write_atomically(path, "second", mode=0o644)
    assert path.read_text() == "second" and path.stat().st_mode & 0o777 == 0o644
    with mock.patch("os.replace", side_effect=OSError("disk full")), pytest.raises(OSError):
        write_atomically(path, "third")
    assert path.read_text() == "second"  # the old file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]  # no leftovers


def test_a_state_path_that_is_a_directory_is_a_storage_error(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "trust.json"
    state.mkdir()
    with pytest.raises(StorageError, match="cannot be read"):
        w.trust(state)


def test_the_largest_witnessed_checkpoint_survives_a_restart(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With a witness policy, answers older than the largest cosigned checkpoint accepted are
    refused; a restarted client must know that size, not start again from nothing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from arrears.client.trust import WitnessPolicy
    from arrears.ledger.checkpoint import Checkpoint
    from arrears.ledger.note import CosignatureSigner, open_note, sign_note

    regulator = CosignatureSigner("regulator", Ed25519PrivateKey.generate())
    policy = WitnessPolicy(required=[regulator.verifier])
    key, state = w.c.log_signer.verifier_key, tmp_path / "trust.json"
    s1, s2 = w.sizes[1], w.size
    body = Checkpoint.parse(open_note(w.note_at(s1), [w.c.log_signer.verifier]).body).body()
    cosigned = sign_note(body, [w.c.log_signer, regulator])

    t = Trust(key, state_file=state, witness_policy=policy)
    t.accept(cosigned, witnessed=True)
    t.accept(w.note_at(s2), fetch=honest(w))  # type: ignore[arg-type]  # the latest, plain
    assert (t.size, t.cosigned_size) == (s2, s1)
    restarted = Trust(key, state_file=state, witness_policy=policy)
    assert (restarted.size, restarted.cosigned_size) == (s2, s1)
