"""A witness: a regulator or member that cosigns the log's checkpoints after checking that
each is consistent with the last one it witnessed (C2SP cosignature/v1).

A cycle fetches the latest checkpoint, verifies its signature, proves it consistent with the
witnessed state (refusing a smaller size, another root at the same size, or a bad proof),
cosigns it, hands the cosignature to the log, and only then saves the new state, atomically.
A refusal leaves the state as it was and raises ``InconsistentCheckpointError``, which the
caller reports: it is evidence that the log showed two histories.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.client.sdk import AsyncClient
from arrears.client.trust import state_errors, write_atomically
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import (
    InconsistentCheckpointError,
    InputError,
    VerificationError,
)
from arrears.ledger.merkle import verify_consistency
from arrears.ledger.note import (
    CosignatureSigner,
    Ed25519Verifier,
    NoteSignature,
    open_note,
    split_note,
)
from arrears.v1 import service_pb2 as spb


@dataclass(frozen=True)
class Witnessed:
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True)
class CycleResult:
    checkpoint: Checkpoint
    previous_size: int
    cosigned_note: bytes
    seconds: float


def load_state(path: Path) -> Witnessed | None:
    if not path.exists():
        return None
    with state_errors("state_file", path, "a witness state file"):
        data = json.loads(path.read_text())
        return Witnessed(
            int(data["tree_size"]), bytes.fromhex(data["root"]), data["checkpoint"].encode()
        )


def save_state(path: Path, w: Witnessed) -> None:
    """Write the witnessed state atomically (a crash leaves the old state or the new one)."""
    state = {"tree_size": w.size, "root": w.root.hex(), "checkpoint": w.note.decode()}
    write_atomically(path, json.dumps(state))


class Witness:
    def __init__(
        self,
        client: AsyncClient,
        key: Ed25519PrivateKey,
        state_file: Path,
        *,
        log: spb.LogName = spb.LOG_NAME_LEDGER,
    ) -> None:
        self.client = client
        self.signer = CosignatureSigner(client.identity.member_id, key)
        self.state_file = state_file
        self.log = log

    @property
    def verifier_key(self) -> str:
        """This witness's cosignature verifier key, for lenders' witness policies."""
        return self.signer.verifier_key

    async def cycle(self) -> CycleResult:
        start = time.perf_counter()
        c = self.client
        cp_msg: spb.SignedCheckpoint = await c._call(
            c._log.GetCheckpoint, spb.GetCheckpointRequest(log=self.log)
        )
        log_key = c.trust.verifier
        if self.log == spb.LOG_NAME_INQUIRIES:  # the inquiry log signs as "<origin>/inquiries"
            log_key = Ed25519Verifier(f"{log_key.name}/inquiries", log_key.public_key)
        opened = open_note(cp_msg.note, [log_key])
        body = opened.body
        cp = Checkpoint.parse(body)
        if cp.origin != log_key.name:  # the log's key, but a body naming another log
            raise VerificationError(f"checkpoint: origin {cp.origin!r}, expected {log_key.name!r}")
        old = load_state(self.state_file)
        previous = 0
        if old is not None:
            kept = Checkpoint.parse(split_note(old.note)[0]).origin
            if kept != log_key.name:  # another log's state: its sizes mean nothing here
                raise InputError(
                    f"state_file: {self.state_file} is the witness state of {kept!r}, not of "
                    f"{log_key.name!r}: keep one state file per log"
                )
            previous = old.size
            if cp.size < old.size:
                raise InconsistentCheckpointError(
                    f"checkpoint: size {cp.size} is smaller than the witnessed size {old.size}: "
                    "the log rolled back"
                )
            if cp.size == old.size and cp.root != old.root:
                raise InconsistentCheckpointError(
                    f"checkpoint: another root at the witnessed size {cp.size}: two histories"
                )
            if cp.size > old.size:
                proof: spb.ConsistencyProof = await c._call(
                    c._log.GetConsistencyProof,
                    spb.ConsistencyProofRequest(from_size=old.size, to_size=cp.size, log=self.log),
                )
                try:
                    verify_consistency(old.size, cp.size, old.root, cp.root, list(proof.hashes))
                except (VerificationError, InputError) as e:  # a malformed proof proves nothing
                    raise InconsistentCheckpointError(
                        f"checkpoint: size {cp.size} is not consistent with the witnessed size "
                        f"{old.size}: {e}"
                    ) from e
        sig = NoteSignature(
            self.signer.name, self.signer.key_id, self.signer.sign_at(body, int(time.time()))
        )
        answer: spb.AddCosignatureResponse = await c._call(
            c._log.AddCosignature,
            spb.AddCosignatureRequest(tree_size=cp.size, signature_line=sig.line(), log=self.log),
        )
        if split_note(answer.note)[0] != body:
            raise VerificationError("cosignature: the log answered with another checkpoint")
        save_state(self.state_file, Witnessed(cp.size, cp.root, cp_msg.note))
        return CycleResult(cp, previous, answer.note, time.perf_counter() - start)
