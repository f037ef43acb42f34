"""The log writer: group commit, checkpoints it signs, and what it refuses to sign."""

from __future__ import annotations

import dataclasses
import itertools
import threading

import pytest

from arrears.ledger import log as log_module
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InconsistentCheckpointError, StaleStateError, StorageError
from arrears.ledger.log import Entry, Log
from arrears.ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency
from arrears.ledger.note import Ed25519Signer, open_note
from arrears.ledger.storage import Batch, Head, MemoryStorage

SIGNER = Ed25519Signer.generate("arrears.test/log")


def entry(i: int) -> Entry:
    return Entry(i.to_bytes(32, "big"), b"payload %d" % i, b"s" * 64)


def test_every_checkpoint_is_signed_and_consistent_with_the_one_before() -> None:
    st = MemoryStorage()
    log = Log(st, SIGNER, clock=lambda: 1_700_000_000_000_000)
    for n in (1, 3, 256, 7):
        log.append_batch([entry(i) for i in range(n)])
    log.close()
    sizes = sorted(st.checkpoints)
    assert sizes == [1, 4, 260, 267]
    cps = [Checkpoint.parse(open_note(st.checkpoints[s], [SIGNER.verifier]).body) for s in sizes]
    for old, new in itertools.pairwise(cps):
        proof = log.consistency_proof(old.size, new.size)
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert cps[-1].root == root_from_leaf_hashes(leaf_hash(x) for x in st.leaves)


def test_the_log_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    st = MemoryStorage()
    log = Log(st, SIGNER)
    log.append_batch([entry(i) for i in range(5)])
    before = (list(st.leaves), dict(st.tiles), dict(st.checkpoints), st.head())
    real = log_module.integrate

    def forked(edge, hashes):  # type: ignore[no-untyped-def]
        # A bug or a corrupt edge: the new tree does not extend the old one.
        return dataclasses.replace(real(edge, hashes), root=b"\x01" * 32)

    monkeypatch.setattr(log_module, "integrate", forked)
    with pytest.raises(InconsistentCheckpointError, match="refusing to sign size 6"):
        log.append_batch([entry(99)])
    assert (list(st.leaves), dict(st.tiles), dict(st.checkpoints), st.head()) == before
    log.close()


def test_group_commit_from_many_threads_is_gapless_and_batched() -> None:
    st = MemoryStorage()
    log = Log(st, SIGNER)
    got: list[int] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for i in range(50):
            a = log.append(entry(k * 1000 + i))
            with lock:
                got.append(a.index)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sorted(got) == list(range(400))
    assert len(st.checkpoints) <= 400


def test_a_failed_commit_fails_its_callers_and_the_log_goes_on() -> None:
    st = MemoryStorage()
    log = Log(st, SIGNER)
    log.append(entry(0))
    # Another writer moved the storage on: this writer's next batch is stale.
    other = Log(MemoryStorage(), SIGNER)
    st.commit(Batch(1, [b"x"], {}, Head(2, b"\x00" * 32, b"", 0)))
    with pytest.raises(StaleStateError):
        log.append(entry(1))
    other.close()
    log.close()


def test_wait_for_size_times_out_with_a_storage_error() -> None:
    log = Log(MemoryStorage(), SIGNER)
    with pytest.raises(StorageError, match="did not reach size 5"):
        log.wait_for_size(5, timeout=0.05)
    log.close()


def test_submit_after_close_is_refused() -> None:
    log = Log(MemoryStorage(), SIGNER)
    log.close()
    with pytest.raises(StorageError, match="closed"):
        log.submit(entry(0))


class _RefuseOdd(log_module.PlainEntries):
    """Appends entries whose first key byte is even; refuses the others."""

    def sequence(self, items: list[Entry], first_index: int, now_us: int) -> log_module.Sequenced:
        entries: list[Entry] = []
        outcomes: list[log_module.Outcome] = []
        for e in items:
            if e.key_id[-1] % 2:
                outcomes.append(ValueError(f"odd {e.key_id[-1]}"))
            else:
                outcomes.append(len(entries))
                entries.append(e)
        return log_module.Sequenced(entries, outcomes)


def test_submit_many_answers_every_item_with_one_future() -> None:
    st = MemoryStorage()
    log = Log(st, SIGNER, sequencer=_RefuseOdd())
    single = log.submit(entry(100))
    many = log.submit_many([entry(i) for i in range(6)])
    refused = log.submit(entry(101))
    outcomes = many.result(5)
    assert single.result(5).index == 0
    assert [type(o).__name__ for o in outcomes] == ["Appended", "ValueError"] * 3
    assert [o.index for o in outcomes if isinstance(o, log_module.Appended)] == [1, 2, 3]
    with pytest.raises(ValueError, match="odd 101"):
        refused.result(5)
    assert log.submit_many([]).result(5) == []
    log.close()
    assert len(st.leaves) == 4
    with pytest.raises(StorageError, match="closed"):
        log.submit_many([entry(0)])


def test_integration_times_never_go_backwards_when_the_clock_does() -> None:
    """A clock stepped back (NTP, a moved VM): entries keep the last time the log used, so an
    audit never sees time run backwards in an honest log."""
    from arrears.ledger.leaf import Leaf

    times = iter([2_000_000, 1_000_000, 3_000_000])
    st = MemoryStorage()
    log = Log(st, SIGNER, clock=lambda: next(times))
    for i in range(3):
        log.append_batch([entry(i)])
    log.close()
    assert [Leaf.decode(x).integrated_at_us for x in st.leaves] == [2_000_000, 2_000_000, 3_000_000]


def test_a_clock_that_may_go_back_is_taken_as_it_is() -> None:
    """The testing harness's clock, set back on purpose: entries carry the times set."""
    from arrears.ledger.leaf import Leaf

    class TestClock:
        may_go_back = True

        def __init__(self) -> None:
            self.times = iter([2_000_000, 1_000_000])

        def __call__(self) -> int:
            return next(self.times)

    st = MemoryStorage()
    log = Log(st, SIGNER, clock=TestClock())
    for i in range(2):
        log.append_batch([entry(i)])
    log.close()
    assert [Leaf.decode(x).integrated_at_us for x in st.leaves] == [2_000_000, 1_000_000]
