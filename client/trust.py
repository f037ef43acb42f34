"""What the SDK trusts: the log's verifier key, and the last checkpoint it verified.

``Trust.accept(note, consistency)`` is the only way a checkpoint becomes trusted: its signature
must verify under the pinned log key, its origin must be the log's, and it must be consistent
with the checkpoint trusted before (same root at the same size; a valid consistency proof
when larger; never smaller). The trusted checkpoint is persisted (atomically) so that a
restarted client cannot be shown a rolled-back or forked history either.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import (
    ArrearsError,
    InconsistentCheckpointError,
    InputError,
    SignatureError,
    VerificationError,
)
from arrears.ledger.merkle import verify_consistency
from arrears.ledger.note import (
    CosignatureVerifier,
    Ed25519Verifier,
    Verifier,
    open_note,
    parse_verifier_key,
)


class ProofNeeded(ArrearsError):
    """The answer's consistency proof starts at another size than the one trusted now (another
    answer moved it meanwhile): fetch the proof from ``from_size`` to ``to_size`` and retry."""

    def __init__(self, from_size: int, to_size: int) -> None:
        super().__init__(f"consistency proof needed from {from_size} to {to_size}")
        self.from_size = from_size
        self.to_size = to_size


@dataclass(frozen=True)
class WitnessPolicy:
    """Whose cosignatures a checkpoint needs: every ``required`` witness, and at least
    ``threshold`` of ``any_of`` ("the regulator and 2 of these 5 banks").

    Each listed key counts once, and only a cosignature by that very key (its name and key id)
    meets it: list one key per independent witness. A policy that lists a key twice is refused.
    """

    required: Sequence[CosignatureVerifier] = ()
    any_of: Sequence[CosignatureVerifier] = ()
    threshold: int = 0

    def __post_init__(self) -> None:
        if self.threshold > len(self.any_of):
            raise InputError(f"witness policy: {self.threshold} of {len(self.any_of)} witnesses")
        seen: set[tuple[str, int]] = set()
        for v in self.verifiers:
            if (v.name, v.key_id) in seen:
                raise InputError(
                    f"witness policy: the key {v.name} ({v.key_id:08x}) is listed twice"
                )
            seen.add((v.name, v.key_id))

    @property
    def verifiers(self) -> list[CosignatureVerifier]:
        return [*self.required, *self.any_of]

    def check(self, verified: Collection[tuple[str, int]]) -> None:
        """``verified``: the (name, key id) of every witness key whose cosignature verified."""
        missing = [v.name for v in self.required if (v.name, v.key_id) not in verified]
        if missing:
            raise VerificationError(f"checkpoint: not cosigned by {', '.join(missing)}")
        got = sum(1 for v in self.any_of if (v.name, v.key_id) in verified)
        if got < self.threshold:
            raise VerificationError(
                f"checkpoint: cosigned by {got} of {', '.join(v.name for v in self.any_of)}, "
                f"the policy wants {self.threshold}"
            )


@dataclass(frozen=True)
class Trusted:
    checkpoint: Checkpoint
    note: bytes


class Trust:
    """The pinned log key and the last trusted checkpoint (in memory, and on disk if a path
    is given). Thread-safe."""

    def __init__(
        self,
        verifier_key: str,
        *,
        state_file: Path | None = None,
        witness_policy: WitnessPolicy | None = None,
    ) -> None:
        verifier = parse_verifier_key(verifier_key)
        if not isinstance(verifier, Ed25519Verifier):
            raise InputError("verifier key: the log's key is an Ed25519 note key (type 0x01)")
        self.verifier = verifier
        self.origin = self.verifier.name
        self.state_file = state_file
        if witness_policy is not None:
            for v in witness_policy.verifiers:
                if v.name == self.origin:
                    raise InputError(
                        f"witness policy: a witness named {v.name!r} like the log itself"
                    )
        self.witness_policy = witness_policy
        self._verified: dict[tuple[bytes, bool], Checkpoint] = {}
        self._lock = threading.Lock()
        self._trusted: Trusted | None = self._load()

    @property
    def trusted(self) -> Trusted | None:
        return self._trusted

    @property
    def size(self) -> int:
        return self._trusted.checkpoint.size if self._trusted else 0

    def _load(self) -> Trusted | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        data = json.loads(self.state_file.read_text())
        note = data["checkpoint"].encode()
        cp = Checkpoint.parse(open_note(note, [self.verifier]).body)
        return Trusted(cp, note)

    def _save(self, t: Trusted) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".trust-")
        with os.fdopen(fd, "w") as f:
            json.dump({"checkpoint": t.note.decode(), "tree_size": t.checkpoint.size}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)

    def verify_note(self, note: bytes, *, witnessed: bool = False) -> Checkpoint:
        """The checkpoint of a note signed by the log (no consistency check); with
        ``witnessed``, it must also meet the witness policy. Notes verified before are
        remembered (receipts of one batch share their checkpoint)."""
        key = (note, witnessed)
        cached = self._verified.get(key)
        if cached is not None:
            return cached
        cp = self._verify_note(note, witnessed=witnessed)
        if len(self._verified) > 1024:
            self._verified.clear()
        self._verified[key] = cp
        return cp

    def _verify_note(self, note: bytes, *, witnessed: bool) -> Checkpoint:
        witnesses: list[Verifier] = (
            list(self.witness_policy.verifiers) if self.witness_policy else []
        )
        opened = open_note(note, [self.verifier, *witnesses])
        # open_note accepts a note any known key signed; a witness's cosignature alone is not
        # the log's checkpoint.
        if not any(
            s.name == self.verifier.name and s.key_id == self.verifier.key_id
            for s in opened.signatures
        ):
            raise SignatureError("checkpoint: not signed by the log's key")
        cp = Checkpoint.parse(opened.body)
        if cp.origin != self.origin:
            raise VerificationError(f"checkpoint: origin {cp.origin!r}, expected {self.origin!r}")
        if witnessed and self.witness_policy is not None:
            # open_note checked every signature by a key it was given: the policy counts the
            # witness keys (name and key id) among them, never a name signed by another key.
            listed = {(v.name, v.key_id) for v in witnesses}
            self.witness_policy.check(
                {(s.name, s.key_id) for s in opened.signatures if (s.name, s.key_id) in listed}
            )
        return cp

    def accept(
        self,
        note: bytes,
        *,
        proof_from: int = -1,
        proof: Sequence[bytes] = (),
        proof_to: int = -1,
        fetch: Callable[[int, int], Sequence[bytes]] | None = None,
        witnessed: bool = False,
        allow_older: bool = False,
    ) -> Checkpoint:
        """Verify a checkpoint and move the trusted one forward to it.

        ``proof`` is a consistency proof from size ``proof_from`` (what the caller trusted when
        it asked) to ``proof_to`` (default: this checkpoint's size); when it does not join this
        checkpoint to the one trusted now, ``fetch(old, new)`` gets a fresh one or
        ``ProofNeeded`` says which is needed.
        With ``witnessed`` the checkpoint must meet the witness policy. With ``witnessed`` or
        ``allow_older`` it may be older than the trusted one (witnesses lag the log; concurrent
        answers arrive out of order) if a proof shows it is a prefix of it; it never moves the
        trusted checkpoint back.
        """
        cp = self.verify_note(note, witnessed=witnessed)
        with self._lock:
            old = self._trusted
            if old is not None:
                if cp.size < old.checkpoint.size:
                    if not (witnessed or allow_older) or cp.size == 0:
                        raise InconsistentCheckpointError(
                            f"checkpoint: size {cp.size} is older than the trusted size "
                            f"{old.checkpoint.size} (rolled back?)"
                        )
                    if (proof_from, proof_to) != (cp.size, old.checkpoint.size):
                        if fetch is None:
                            raise ProofNeeded(cp.size, old.checkpoint.size)
                        proof = fetch(cp.size, old.checkpoint.size)
                    try:
                        verify_consistency(
                            cp.size, old.checkpoint.size, cp.root, old.checkpoint.root, list(proof)
                        )
                    except VerificationError as e:
                        raise InconsistentCheckpointError(
                            f"checkpoint: size {cp.size} is not a prefix of the "
                            f"trusted size {old.checkpoint.size}: {e}"
                        ) from e
                    return cp
                if cp.size == old.checkpoint.size:
                    if cp.root != old.checkpoint.root:
                        raise InconsistentCheckpointError(
                            f"checkpoint: another root at the trusted size {cp.size}: the log "
                            "shows different histories"
                        )
                    return cp
                if proof_from != old.checkpoint.size or proof_to not in (-1, cp.size):
                    if fetch is None:
                        raise ProofNeeded(old.checkpoint.size, cp.size)
                    proof = fetch(old.checkpoint.size, cp.size)
                try:
                    verify_consistency(
                        old.checkpoint.size, cp.size, old.checkpoint.root, cp.root, list(proof)
                    )
                except VerificationError as e:
                    raise InconsistentCheckpointError(
                        f"checkpoint: size {cp.size} is not consistent with the trusted size "
                        f"{old.checkpoint.size}: {e}"
                    ) from e
            t = Trusted(cp, note)
            self._save(t)
            self._trusted = t
            return cp
