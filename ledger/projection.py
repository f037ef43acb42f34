"""Rebuild the projection from the ledger, and compare it with the live one.

The queryable state (members, keys, records, submissions) is a fold of the ledger's entries
through ``records.apply``: the same function that admitted them. ``rebuild`` replays every
leaf; ``compare`` reports every difference from the live projection. Subject openings are the
one thing not in the ledger (they are the deletable index): the rebuild keeps a live opening
only if it opens its record's commitment and the record is not erased, and reports any other.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field

from arrears.ledger.envelope import Envelope, key_id_for, verify_envelope
from arrears.ledger.errors import ArrearsError
from arrears.ledger.leaf import Leaf
from arrears.ledger.ledger import Opening, ProjectionStorage
from arrears.ledger.records import (
    DEFAULT_RULES,
    Changes,
    Context,
    MemoryState,
    Rules,
    StateView,
    apply,
    authorise_key,
    decode_submission,
)
from arrears.v1 import events_pb2 as pb


class ReplayError(ArrearsError):
    """A leaf that the rules would not have admitted; ``index`` names it."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"entry {index}: {message}")
        self.index = index


def iter_leaves(storage: ProjectionStorage, size: int, chunk: int = 8192) -> Iterator[bytes]:
    pos = 0
    while pos < size:
        got = storage.read_leaves(pos, min(size, pos + chunk))
        if not got:
            raise ReplayError(pos, "missing")
        yield from got
        pos += len(got)


def entry_key(state: StateView, index: int, leaf: Leaf, sub: pb.Submission) -> bytes:
    """The public key that must have signed the entry at ``index``: for the genesis entry the
    key it registers (empty if none matches), otherwise the key the registry authorises as of
    ``index`` (raises ``NotPermitted`` for an unknown, foreign or revoked key, or a suspended
    member)."""
    if index == 0:
        return next(
            (k for k in sub.member_admitted.public_keys if key_id_for(k) == leaf.key_id), b""
        )
    return authorise_key(state, leaf.key_id, sub.member_id, index).public_key


def step(
    state: MemoryState,
    index: int,
    data: bytes,
    *,
    rules: Rules = DEFAULT_RULES,
    origin: str | None = None,
) -> Changes:
    """Replay one leaf onto ``state``: decode it, authorise its key, verify its signature (with
    ``origin``), apply it through the rules and keep the changes. Raises ``ReplayError`` naming
    the index, leaving ``state`` unchanged."""
    try:
        leaf = Leaf.decode(data)
        sub = decode_submission(leaf.payload)
        public_key = entry_key(state, index, leaf, sub)
        if origin is not None:
            verify_envelope(origin, Envelope(leaf.key_id, leaf.payload, leaf.signature), public_key)
        ctx = Context(index, leaf.integrated_at_us, rules)
        changes = apply(state, sub, ctx, genesis_key=public_key)
    except ArrearsError as e:
        raise ReplayError(index, str(e)) from e
    state.apply_changes(changes)
    return changes


def fold(
    leaves: Iterator[bytes],
    *,
    rules: Rules = DEFAULT_RULES,
    origin: str | None = None,
) -> MemoryState:
    """Replay leaves into a fresh state. With ``origin``, every signature is verified too."""
    state = MemoryState()
    with no_cyclic_gc():
        for index, data in enumerate(leaves):
            step(state, index, data, rules=rules, origin=origin)
    return state


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a fold builds millions of long-lived objects and no
    cycles, and full collections triggered by them cost a quarter of the time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def rebuild(storage: ProjectionStorage, *, rules: Rules = DEFAULT_RULES) -> MemoryState:
    """The projection as the ledger defines it, with the live openings that still hold."""
    state = fold(iter_leaves(storage, storage.head().size), rules=rules)
    live = storage.load_projection()
    linked = {r.subject_commitment for r in state.records.values() if not r.erased}
    for commitment, (pseudonym, salt) in live.openings.items():
        if commitment in linked and Opening(pseudonym, salt).commitment() == commitment:
            state.openings[commitment] = (pseudonym, salt)
    return state


@dataclass
class Differences:
    items: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)


def compare(live: MemoryState, rebuilt: MemoryState) -> Differences:
    """Every way the live projection differs from the rebuilt one."""
    out = Differences()
    for name in ("members", "keys", "records", "submissions", "openings"):
        a, b = getattr(live, name), getattr(rebuilt, name)
        for k in sorted(set(a) | set(b), key=repr):
            if a.get(k) != b.get(k):
                what = "missing" if k not in a else "extra" if k not in b else "differs"
                out.items.append(f"{name}: {k!r} {what}")
    return out


def check_projection(storage: ProjectionStorage, *, rules: Rules = DEFAULT_RULES) -> Differences:
    """Every difference between the live projection and the ledger, and every live record
    whose subject opening is gone (it would silently drop out of its subject's lookups)."""
    rebuilt = rebuild(storage, rules=rules)
    out = compare(storage.load_projection(), rebuilt)
    for ref, rec in sorted(rebuilt.records.items(), key=lambda kv: str(kv[0])):
        if not rec.erased and rec.subject_commitment not in rebuilt.openings:
            out.items.append(f"openings: record {ref!r} has no subject opening")
    return out
