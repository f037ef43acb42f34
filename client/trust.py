"""What the SDK trusts: the log's verifier key, and the last checkpoint it verified.

``Trust.accept(note, consistency)`` is the only way a checkpoint becomes trusted: its signature
must verify under the pinned log key, its origin must be the log's, and it must be consistent
with the checkpoint trusted before (same root at the same size; a valid consistency proof
when larger; never smaller). The trusted checkpoint is persisted (atomically) so that a
restarted client cannot be shown a rolled-back or forked history either.

Processes may share one state file: each takes a lock file beside it (``<name>.lock``,
``flock``), re-reads it, and takes on a larger checkpoint another process stored once it is
proven consistent with its own (two histories raise ``InconsistentCheckpointError``); the file
never moves back. A state file that cannot be read as one raises ``StorageError`` naming it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import (
    ArrearsError,
    InconsistentCheckpointError,
    InputError,
    SignatureError,
    StorageError,
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


@contextmanager
def state_errors(field: str, path: Path, what: str) -> Iterator[None]:
    """Reading a state file: one that cannot be read, or does not hold what it should
    (``what``), is a ``StorageError`` naming it."""
    try:
        yield
    except OSError as e:  # missing in between, a directory, no permission
        raise StorageError(f"{field}: {path} cannot be read: {e}") from e
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise StorageError(f"{field}: {path} is not {what}: {e!r}") from e  # JSONDecodeError too


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new one, never
    a part (written beside it, synced, then renamed over it). ``mode``: the new file's
    permissions (default: mkstemp's 0600, for files only their owner should read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    # The largest checkpoint accepted as witnessed (a prefix of ``checkpoint``): with a witness
    # policy, answers older than it are refused, after a restart too.
    cosigned_size: int = 0


class Trust:
    """The pinned log key and the last trusted checkpoint (in memory, and on disk if a path
    is given). Thread-safe."""

    def __init__(
        self,
        verifier_key: str,
        *,
        state_file: Path | None = None,
        witness_policy: WitnessPolicy | None = None,
        require_state: bool = False,
    ) -> None:
        """``require_state``: the state file must exist already. Without it, a missing file
        means trust on first use: the first checkpoint shown is taken as it is, so a file lost
        with a redeployed host would let a rolled-back or forked log be trusted anew. Seed the
        file once (``accept`` a checkpoint obtained out of band, or check the first one against
        what the witnesses publish), then require it."""
        verifier = parse_verifier_key(verifier_key)
        if not isinstance(verifier, Ed25519Verifier):
            raise InputError("verifier key: the log's key is an Ed25519 note key (type 0x01)")
        self.verifier = verifier
        self.origin = self.verifier.name
        self.state_file = state_file
        self.require_state = require_state
        if require_state and state_file is None:
            raise InputError("require_state: give the state_file it requires")
        if require_state and state_file is not None and not state_file.exists():
            raise StorageError(
                f"state_file: {state_file} does not exist, and the trusted checkpoint is required "
                "(no trust on first use): restore the file, or seed it once without requiring it"
            )
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
        # Never older than this unless the caller allows it: what this process trusted itself
        # (or loaded when it started). A larger checkpoint another process sharing the state
        # file trusted is not a reason to call a checkpoint this process is shown a rollback.
        self._floor = self.size

    @property
    def trusted(self) -> Trusted | None:
        return self._trusted

    @property
    def size(self) -> int:
        return self._trusted.checkpoint.size if self._trusted else 0

    @property
    def cosigned_size(self) -> int:
        """The largest checkpoint accepted as witnessed (kept in the state file)."""
        return self._trusted.cosigned_size if self._trusted else 0

    def _load(self, known: Trusted | None = None) -> Trusted | None:
        """The checkpoint in the state file, if there is one, its log signature checked
        (``known``, when the file holds that very note)."""
        path = self.state_file
        if path is None or not path.exists():
            return None
        with state_errors("state_file", path, "a trust state file"):
            data = json.loads(path.read_text())
            note = data["checkpoint"].encode()
            cosigned = data.get("cosigned_size", 0)
            if isinstance(cosigned, bool) or not isinstance(cosigned, int) or cosigned < 0:
                raise TypeError(f"cosigned_size: {cosigned!r} is not a tree size")
        if known is not None and note == known.note:
            return known
        try:
            cp = Checkpoint.parse(open_note(note, [self.verifier]).body)
        except InputError as e:
            raise StorageError(f"state_file: {path} holds no checkpoint: {e}") from e
        except SignatureError as e:  # another log's file, or a log that changed its key
            raise SignatureError(
                f"state_file: {path} holds a checkpoint that {self.verifier.name}'s key did not "
                f"sign ({e}): the state of another log, or of this log under another key"
            ) from e
        if cp.origin != self.origin:
            raise VerificationError(
                f"state_file: {path} holds a checkpoint of {cp.origin!r}, not {self.origin!r}"
            )
        return Trusted(cp, note, min(cosigned, cp.size))

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive use of the state file among the processes sharing it (a lock file beside
        it), so that each re-reads what the others wrote before writing its own."""
        if self.state_file is None:
            yield
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        lock = self.state_file.with_name(self.state_file.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _sync(
        self,
        proof_from: int,
        proof: Sequence[bytes],
        proof_to: int,
        fetch: Callable[[int, int], Sequence[bytes]] | None,
    ) -> bool:
        """Catch up with the state file (with the file lock held): another process sharing it
        may have trusted a larger checkpoint since. That one becomes trusted here too once it
        is proven consistent with ours; another root at our size, or a failed proof, is two
        histories. Returns whether the call's proof was used for it."""
        ours = self._trusted
        stored = self._load(ours)
        if stored is None or stored is ours:
            return False
        if ours is None:
            self._trusted = stored
            return False
        old, new = ours.checkpoint, stored.checkpoint
        stored = replace(stored, cosigned_size=max(stored.cosigned_size, ours.cosigned_size))
        if new.size < old.size:
            return False  # written before ours; ours replaces it when it next moves
        if new.size == old.size:
            if new.root != old.root:
                raise InconsistentCheckpointError(
                    f"checkpoint: {self.state_file} holds another root at the trusted size "
                    f"{old.size}: the log showed different histories"
                )
            return False
        used = (proof_from, proof_to) == (old.size, new.size)
        if not used:
            if fetch is None:
                raise ProofNeeded(old.size, new.size)
            proof = fetch(old.size, new.size)
        try:
            verify_consistency(old.size, new.size, old.root, new.root, list(proof))
        except (VerificationError, InputError) as e:  # a malformed proof proves nothing
            raise InconsistentCheckpointError(
                f"checkpoint: size {new.size} in {self.state_file} is not consistent with the "
                f"trusted size {old.size}: {e}"
            ) from e
        self._trusted = stored
        return used

    def _save(self, t: Trusted) -> None:
        """Write the trusted checkpoint atomically (with the file lock held)."""
        if self.state_file is None:
            return
        state = {
            "checkpoint": t.note.decode(),
            "tree_size": t.checkpoint.size,
            "cosigned_size": t.cosigned_size,
        }
        write_atomically(self.state_file, json.dumps(state))

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
        with self._lock, self._file_lock():
            if self.state_file is not None and self._sync(proof_from, proof, proof_to, fetch):
                proof_from, proof, proof_to = -1, (), -1  # that proof was for the file's
            self._accept(cp, note, proof_from, proof, proof_to, fetch, witnessed, allow_older)
            t = self._trusted
            if witnessed and t is not None and cp.size > t.cosigned_size:
                t = replace(t, cosigned_size=cp.size)
                self._save(t)
                self._trusted = t
            return cp

    def _accept(
        self,
        cp: Checkpoint,
        note: bytes,
        proof_from: int,
        proof: Sequence[bytes],
        proof_to: int,
        fetch: Callable[[int, int], Sequence[bytes]] | None,
        witnessed: bool,
        allow_older: bool,
    ) -> None:
        """``accept``'s checks and move, with the locks held."""
        old = self._trusted
        if old is not None:
            if cp.size < old.checkpoint.size:
                if cp.size == 0 or (not (witnessed or allow_older) and cp.size < self._floor):
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
                except (VerificationError, InputError) as e:
                    raise InconsistentCheckpointError(
                        f"checkpoint: size {cp.size} is not a prefix of the "
                        f"trusted size {old.checkpoint.size}: {e}"
                    ) from e
                return
            if cp.size == old.checkpoint.size:
                if cp.root != old.checkpoint.root:
                    raise InconsistentCheckpointError(
                        f"checkpoint: another root at the trusted size {cp.size}: the log "
                        "shows different histories"
                    )
                return
            if proof_from != old.checkpoint.size or proof_to not in (-1, cp.size):
                if fetch is None:
                    raise ProofNeeded(old.checkpoint.size, cp.size)
                proof = fetch(old.checkpoint.size, cp.size)
            try:
                verify_consistency(
                    old.checkpoint.size, cp.size, old.checkpoint.root, cp.root, list(proof)
                )
            except (VerificationError, InputError) as e:  # a malformed proof proves nothing
                raise InconsistentCheckpointError(
                    f"checkpoint: size {cp.size} is not consistent with the trusted size "
                    f"{old.checkpoint.size}: {e}"
                ) from e
        cosigned = max(old.cosigned_size if old is not None else 0, cp.size if witnessed else 0)
        t = Trusted(cp, note, cosigned)
        self._save(t)
        self._trusted = t
        self._floor = cp.size
