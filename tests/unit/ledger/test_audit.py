"""The audit engine on ledgers built in memory: a clean ledger audits OK, and every kind of
tampering is named with the first bad index; crafted entries that the ledger would have refused
(another member's record, a revoked key, a suspended member, an early erasure) are found by the
replay; retention and dispute deadlines are judged as of a day; the inquiry log is audited too."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message

from arrears.ledger import audit as audit_module
from arrears.ledger import events as ev
from arrears.ledger.audit import (
    AuditResult,
    SavedCheckpoint,
    audit,
    audit_inquiries,
    indexed_leaves,
)
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.envelope import MemberSigner
from arrears.ledger.errors import InputError
from arrears.ledger.leaf import Leaf
from arrears.ledger.merkle import leaf_hash, root_from_leaf_hashes
from arrears.ledger.note import Ed25519Signer, sign_note, split_note
from arrears.ledger.records import RecordRef, add_years, decode_submission
from arrears.ledger.storage import MemoryStorage
from arrears.v1 import events_pb2 as pb
from tests.consortium import ORIGIN, TODAY, Consortium, build

T = TypeVar("T")
AT_US = 1_793_000_000_000_000  # 2026-10-25, before TODAY: crafted entries are in the past


def storage(c: Consortium) -> MemoryStorage:
    st = c.ledger.storage
    assert isinstance(st, MemoryStorage)
    return st


class Story:
    """Genesis and four admissions (0-4), then the entries below, named by what they are."""

    def __init__(self) -> None:
        self.c = c = build(MemoryStorage())
        self.at: dict[str, int] = {}
        self.at["report L1"] = c.report("bank-a", "L1", 1).index
        self.at["report L2"] = c.report("bank-a", "L2", 2).index
        self.at["report B1"] = c.report("bank-b", "B1", 3).index
        self.at["update L1"] = c.submit(
            "bank-a", ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=75)
        ).index
        self.at["settle L2"] = c.submit(
            "bank-a", ev.record_settled(RecordRef("bank-a", "L2"), TODAY)
        ).index
        self.at["dispute B1"] = c.submit(
            "operator", ev.dispute_opened(RecordRef("bank-b", "B1"), "D1", TODAY, "not mine")
        ).index
        self.at["report C1"] = c.report("bank-c", "C1", 4).index

    @property
    def leaves(self) -> list[bytes]:
        return list(storage(self.c).leaves)

    @property
    def note(self) -> bytes:
        return storage(self.c).head().checkpoint

    def run(
        self,
        pairs: Sequence[tuple[int, bytes]] | None = None,
        note: bytes | None = None,
        *,
        as_of: date = TODAY,
        saved: SavedCheckpoint | None = None,
        chunk: int = 2048,
        separate_process: bool | None = None,
    ) -> AuditResult:
        return audit(
            list(enumerate(self.leaves)) if pairs is None else pairs,
            self.note if note is None else note,
            self.c.log_signer.verifier,
            ORIGIN,
            as_of=as_of,
            saved=saved,
            chunk=chunk,
            separate_process=separate_process,
            now_us=max(self.c.clock.now_us, AT_US),  # the story's clock is the audit's
        )

    def sign_note(self, leaves: Sequence[bytes], signer: Ed25519Signer | None = None) -> bytes:
        """A checkpoint over ``leaves``, by the log's key unless told otherwise."""
        root = root_from_leaf_hashes(leaf_hash(x) for x in leaves)
        body = Checkpoint(ORIGIN, len(leaves), root).body()
        return sign_note(body, [signer or self.c.log_signer])

    def craft(
        self,
        member_id: str,
        event: Message,
        *,
        signer: MemberSigner | None = None,
        submission_id: str | None = None,
    ) -> tuple[list[bytes], bytes]:
        """The ledger with one more entry the writer never saw (chained, indexed, and under a
        checkpoint signed by the log), and that checkpoint."""
        key = signer or self.c.m(member_id).signer
        env = ev.Member(member_id, key, ORIGIN).sign(event, submission_id=submission_id)
        leaves = self.leaves
        at = max(AT_US, Leaf.decode(leaves[-1]).integrated_at_us)  # times never go back
        leaves.append(
            Leaf(
                len(leaves), leaf_hash(leaves[-1]), at, env.key_id, env.payload, env.signature
            ).encode()
        )
        return leaves, self.sign_note(leaves)


def kinds(result: AuditResult) -> list[tuple[str, int | None]]:
    return [(f.kind, f.index) for f in result.findings]


def first(result: AuditResult) -> tuple[str, int | None]:
    assert result.first_fault is not None
    return result.first_fault.kind, result.first_fault.index


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    """A story the test only reads."""
    s = Story()
    yield s
    s.c.ledger.close()


@pytest.fixture
def fresh() -> Iterator[Story]:
    """A story the test adds entries to."""
    s = Story()
    yield s
    s.c.ledger.close()


# --- a clean ledger ------------------------------------------------------------------------------


def test_a_clean_ledger_audits_ok_with_its_figures(story: Story) -> None:
    r = story.run()
    cp = Checkpoint.parse(split_note(story.note)[0])
    assert r.ok and r.verified and r.first_fault is None and r.findings == []
    assert (r.size, r.root) == (cp.size, cp.root) == (12, cp.root)
    assert r.to_save() == SavedCheckpoint(ORIGIN, 12, cp.root, story.note.decode())
    s = r.stats
    assert s.events == {
        "member_admitted": 5,
        "record_reported": 4,
        "record_updated": 1,
        "record_settled": 1,
        "dispute_opened": 1,
    }
    assert s.entries_by_month == {"2026-11": {"operator": 6, "bank-a": 4, "bank-b": 1, "bank-c": 1}}
    assert s.defaults_by_loan_type["personal"] == 4
    assert s.defaults_by_dpd_bucket["31-60"] == 3 and s.defaults_by_dpd_bucket["61-90"] == 1
    assert s.records_by_status == {"active": 3, "settled": 1}
    assert [(d.record, d.outcome, d.days) for d in s.disputes] == [("bank-b/B1", "open", 0)]
    assert (s.members, s.keys) == (5, 5)
    assert r.to_json()["first_fault"] is None


# --- tampering, each named with its first bad index -------------------------------------------


def flip(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)


def commitment_offset(data: bytes) -> int:
    leaf = Leaf.decode(data)
    commitment = decode_submission(leaf.payload).record_reported.subject_commitment
    return 85 + leaf.payload.index(commitment)


@pytest.mark.parametrize(
    ("where", "expected_first", "expected_all"),
    [
        # A byte of the signed payload (inside the subject commitment, so it still decodes):
        # the signature fails at that index; the next leaf's link and the root follow.
        ("payload", ("signature", 0), [("signature", 0), ("chain", 1), ("root", None)]),
        ("signature", ("signature", 0), [("signature", 0), ("chain", 1), ("root", None)]),
        # The integration time is not signed: the first broken thing is the next link, and
        # the next entry is now dated before it (the story's entries share one instant).
        ("time", ("chain", 1), [("chain", 1), ("time", 1), ("root", None)]),
        ("index", ("index_field", 0), [("index_field", 0), ("chain", 1), ("root", None)]),
        ("prev", ("chain", 0), [("chain", 0), ("chain", 1), ("root", None)]),
    ],
)
def test_a_changed_byte_is_named_with_its_index(
    story: Story,
    where: str,
    expected_first: tuple[str, int],
    expected_all: list[tuple[str, int | None]],
) -> None:
    i = story.at["report L2"]
    leaves = story.leaves
    offset = {
        "payload": commitment_offset(leaves[i]),
        "signature": len(leaves[i]) - 1,
        "time": 48,
        "index": 8,
        "prev": 20,
    }[where]
    leaves[i] = flip(leaves[i], offset)
    r = story.run(list(enumerate(leaves)))
    assert not r.ok and not r.verified
    assert first(r) == (expected_first[0], i + expected_first[1])
    assert kinds(r) == [(k, None if d is None else i + d) for k, d in expected_all]


def test_a_deleted_row_is_a_gap(story: Story) -> None:
    k = story.at["report B1"]
    r = story.run([(i, x) for i, x in enumerate(story.leaves) if i != k])
    assert first(r) == ("gap", k)
    assert ("gap", k) in kinds(r) and ("root", None) in kinds(r)
    # the dispute on the missing report cannot be replayed either, but the gap comes first
    assert ("rule", story.at["dispute B1"]) in kinds(r)


def test_a_deleted_last_row_is_a_short_log(story: Story) -> None:
    leaves = story.leaves
    r = story.run(list(enumerate(leaves[:-1])))
    assert first(r) == ("size", len(leaves) - 1)


@pytest.mark.parametrize("adjacent", [True, False])
def test_two_rows_with_swapped_leaves_are_out_of_order(story: Story, adjacent: bool) -> None:
    i = story.at["report L2"]
    j = i + 1 if adjacent else story.at["settle L2"]
    leaves = story.leaves
    leaves[i], leaves[j] = leaves[j], leaves[i]
    r = story.run(list(enumerate(leaves)))
    assert first(r) == ("order", i)
    assert ("order", j) in kinds(r)


@pytest.mark.parametrize("adjacent", [True, False])
def test_two_swapped_lines_of_an_export_are_out_of_order(story: Story, adjacent: bool) -> None:
    i = story.at["report L2"]
    j = i + 1 if adjacent else story.at["settle L2"]
    pairs = list(enumerate(story.leaves))
    pairs[i], pairs[j] = pairs[j], pairs[i]
    r = story.run(pairs)
    assert first(r) == ("order", i)
    assert not any(k == "gap" for k, _ in kinds(r))


def test_a_checkpoint_re_signed_with_another_key_is_a_checkpoint_fault(story: Story) -> None:
    forged = story.sign_note(story.leaves, Ed25519Signer.generate(ORIGIN))
    r = story.run(note=forged)
    assert not r.ok and not r.verified and r.to_save() is None
    assert kinds(r) == [("checkpoint_signature", None)]
    assert first(r) == ("checkpoint_signature", None)


def test_a_checkpoint_over_other_leaves_is_a_root_fault(story: Story) -> None:
    leaves = story.leaves
    other = story.sign_note([*leaves[:-1], flip(leaves[-1], 48)])
    assert kinds(story.run(note=other)) == [("root", None)]


def test_a_checkpoint_of_another_log_is_refused(story: Story) -> None:
    body = Checkpoint("another.example/log", 12, bytes(32)).body()
    r = story.run(note=sign_note(body, [story.c.log_signer]))
    assert ("malformed", None) in kinds(r)


def test_the_saved_checkpoint_must_be_a_prefix_of_this_one(story: Story) -> None:
    leaves = story.leaves
    root6 = root_from_leaf_hashes(leaf_hash(x) for x in leaves[:6])
    r = story.run(saved=SavedCheckpoint(ORIGIN, 6, root6))
    assert r.ok
    # a saved checkpoint from a forked history: entry 5 was another one there
    forked = [*leaves[:5], flip(leaves[5], 48)]
    fork_root = root_from_leaf_hashes(leaf_hash(x) for x in forked)
    r = story.run(saved=SavedCheckpoint(ORIGIN, 6, fork_root))
    assert kinds(r) == [("consistency", None)] and not r.verified
    # a log that went back: the saved checkpoint is larger than the one audited now
    r = story.run(saved=SavedCheckpoint(ORIGIN, 20, fork_root))
    assert kinds(r) == [("consistency", None)]
    with pytest.raises(InputError):
        story.run(saved=SavedCheckpoint("another.example/log", 6, root6))


def test_the_saved_checkpoint_round_trips_through_json(story: Story) -> None:
    saved = story.run().to_save()
    assert saved is not None
    assert SavedCheckpoint.from_json(saved.to_json()) == saved
    with pytest.raises(InputError):
        SavedCheckpoint.from_json({"format": "arrears-audit-state/v1", "tree_size": 3})


# --- entries the writer would have refused -------------------------------------------------------


def test_an_update_of_another_members_record_is_a_rule_fault(story: Story) -> None:
    event = ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=100)
    leaves, note = story.craft("bank-b", event)  # bank-b's own, valid key
    r = story.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("rule", 12)]
    assert "not_reporter" in r.findings[0].message


def test_a_change_after_settlement_is_a_rule_fault(story: Story) -> None:
    event = ev.record_updated(RecordRef("bank-a", "L2"), days_past_due=100)
    leaves, note = story.craft("bank-a", event)
    r = story.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("rule", 12)]
    assert "update_after_settled" in r.findings[0].message


def test_a_submission_signed_with_another_members_key_is_a_key_fault(story: Story) -> None:
    event = ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=100)
    leaves, note = story.craft("bank-a", event, signer=story.c.m("bank-b").signer)
    r = story.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("key", 12)]


def test_a_reused_submission_id_is_a_rule_fault(story: Story) -> None:
    sub = decode_submission(Leaf.decode(story.leaves[story.at["update L1"]]).payload)
    event = ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=120)
    leaves, note = story.craft("bank-a", event, submission_id=sub.submission_id)
    assert kinds(story.run(list(enumerate(leaves)), note)) == [("rule", 12)]


def test_a_non_canonical_payload_is_malformed(story: Story) -> None:
    sub = ev.Member("bank-a", story.c.m("bank-a").signer, ORIGIN).submission(
        ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=90)
    )
    payload = sub.SerializeToString(deterministic=True) + b"\xf8\x07\x01"  # unknown field 127
    env = story.c.m("bank-a").signer.sign(ORIGIN, payload)
    leaves = story.leaves
    leaves.append(
        Leaf(12, leaf_hash(leaves[-1]), AT_US, env.key_id, payload, env.signature).encode()
    )
    r = story.run(list(enumerate(leaves)), story.sign_note(leaves))
    assert kinds(r) == [("malformed", 12)]


def test_an_erasure_is_allowed_only_by_the_operator_and_after_retention(fresh: Story) -> None:
    s = fresh
    early = ev.record_erased(RecordRef("bank-a", "L2"), pb.ERASURE_REASON_RETENTION_ENDED)
    leaves, note = s.craft("operator", early)
    r = s.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("rule", 12)] and "retention_not_ended" in r.findings[0].message
    by_bank = ev.record_erased(RecordRef("bank-a", "L1"), pb.ERASURE_REASON_LAWFUL_REQUEST)
    leaves, note = s.craft("bank-a", by_bank)
    assert kinds(s.run(list(enumerate(leaves)), note)) == [("rule", 12)]
    # the operator, on a lawful request: allowed, and counted
    s.c.submit("operator", by_bank)
    r = s.run()
    assert r.ok and r.stats.erasures_by_month == {"2026-11": 1}


def test_a_revoked_key_used_afterwards_is_a_key_fault(fresh: Story) -> None:
    s = fresh
    old = s.c.m("bank-a").signer
    s.c.submit("operator", ev.key_revoked("bank-a", old.key_id, "lost laptop"))
    event = ev.record_updated(RecordRef("bank-a", "L1"), days_past_due=100)
    leaves, note = s.craft("bank-a", event, signer=old)
    r = s.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("key", 13)] and "revoked" in r.findings[0].message


def test_a_suspended_members_entry_is_a_key_fault(fresh: Story) -> None:
    s = fresh
    s.c.submit("operator", ev.member_suspended("bank-c", "licence withdrawn"))
    leaves, note = s.craft("bank-c", ev.record_updated(RecordRef("bank-c", "C1"), days_past_due=60))
    r = s.run(list(enumerate(leaves)), note)
    assert kinds(r) == [("key", 13)] and "suspended" in r.findings[0].message


# --- as of a day: retention and disputes ------------------------------------------------------


def test_a_record_past_retention_and_never_erased_is_flagged(fresh: Story) -> None:
    s = fresh
    ends = add_years(TODAY, 5)  # L2 was settled on TODAY
    assert s.run(as_of=ends - timedelta(days=1)).ok
    r = s.run(as_of=ends)
    assert r.verified and not r.ok  # the log is intact; the operator's duty is not done
    assert kinds(r) == [("retention", s.at["report L2"])]
    assert first(r) == ("retention", s.at["report L2"])
    assert r.stats.expiries_by_month == {ends.strftime("%Y-%m"): 1}
    assert r.to_save() is not None  # a sound log's checkpoint is kept for next time
    # erased once retention ended: nothing to flag
    s.c.clock.set(ends)
    s.c.submit(
        "operator", ev.record_erased(RecordRef("bank-a", "L2"), pb.ERASURE_REASON_RETENTION_ENDED)
    )
    r = s.run(as_of=ends + timedelta(days=30))
    assert r.ok and r.stats.records_by_status["erased"] == 1


def test_open_disputes_past_the_deadline_are_listed(story: Story) -> None:
    assert story.run(as_of=TODAY + timedelta(days=20)).overdue_disputes == []
    r = story.run(as_of=TODAY + timedelta(days=21))
    assert r.ok  # listed, not a fault of the log
    (d,) = r.overdue_disputes
    assert (d.record, d.dispute_id, d.opened_at, d.days_open) == (
        "bank-b/B1",
        "D1",
        story.at["dispute B1"],
        21,
    )
    assert d.deadline == TODAY + timedelta(days=20)


def test_resolved_disputes_are_not_overdue_and_have_a_resolution_time(fresh: Story) -> None:
    s = fresh
    s.c.clock.set(TODAY + timedelta(days=6))
    s.c.submit(
        "bank-b",
        ev.dispute_resolved(
            RecordRef("bank-b", "B1"),
            "D1",
            pb.DISPUTE_OUTCOME_REJECTED,
            TODAY + timedelta(days=6),
        ),
    )
    r = s.run(as_of=TODAY + timedelta(days=60))
    assert r.overdue_disputes == []
    assert [(d.outcome, d.days) for d in r.stats.disputes] == [("rejected", 6)]


# --- signatures in chunks, on worker threads ---------------------------------------------------


def test_signatures_are_checked_in_chunks_on_threads(fresh: Story) -> None:
    s = fresh
    for n in range(140):
        s.c.report("bank-b", f"X{n}", 100 + n)
    leaves = s.leaves
    bad = len(leaves) - 3
    leaves[bad] = flip(leaves[bad], len(leaves[bad]) - 1)
    seen: list[int] = []
    r = audit(
        list(enumerate(leaves)),
        s.note,
        s.c.log_signer.verifier,
        ORIGIN,
        as_of=TODAY,
        chunk=64,
        workers=2,
        progress=seen.append,
    )
    assert kinds(r) == [("signature", bad), ("chain", bad + 1), ("root", None)]
    assert seen == [64, 128, len(leaves)]


def test_signatures_are_checked_in_a_process_of_their_own(story: Story) -> None:
    leaves = story.leaves
    bad = story.at["update L1"]
    leaves[bad] = flip(leaves[bad], len(leaves[bad]) - 1)
    r = story.run(list(enumerate(leaves)), separate_process=True)
    assert kinds(r) == [("signature", bad), ("chain", bad + 1), ("root", None)]
    assert story.run(separate_process=True).ok


class _BrokenPool(Executor):
    """A process pool whose process died at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        fut: Future[T] = Future()
        fut.set_exception(BrokenProcessPool("the process died"))
        return fut


def test_a_broken_signature_process_falls_back_to_a_thread(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "ProcessPoolExecutor", _BrokenPool)
    leaves = story.leaves
    leaves[3] = flip(leaves[3], len(leaves[3]) - 1)
    leaves[9] = flip(leaves[9], len(leaves[9]) - 1)
    r = story.run(list(enumerate(leaves)), separate_process=True, chunk=4)
    assert [k for k in kinds(r) if k[0] == "signature"] == [("signature", 3), ("signature", 9)]


# --- reading storages ---------------------------------------------------------------------------


def test_indexed_leaves_finds_the_index_of_every_row_around_gaps() -> None:
    rows = {i: bytes([i]) for i in (0, 1, 3, 4, 7, 8, 9, 15)}

    def read(a: int, b: int) -> list[bytes]:
        return [rows[i] for i in sorted(rows) if a <= i < b]

    got = list(indexed_leaves(read, 0, 16, chunk=8))
    assert got == sorted(rows.items())
    assert list(indexed_leaves(read, 2, 5, chunk=2)) == [(3, b"\x03"), (4, b"\x04")]


# --- the inquiry log ----------------------------------------------------------------------------

INQ_ORIGIN = ORIGIN + "/inquiries"


def inquiry_log(
    items: Sequence[pb.Inquiry], signature: bytes = b"", times: Sequence[int] = ()
) -> tuple[list[bytes], bytes, Ed25519Signer]:
    """An inquiry log of ``items``, integrated at ``times`` (by default all at AT_US)."""
    signer = Ed25519Signer.generate(INQ_ORIGIN)
    leaves: list[bytes] = []
    for q, at in zip(items, times or [AT_US] * len(items), strict=True):
        prev = leaf_hash(leaves[-1]) if leaves else bytes(32)
        payload = q.SerializeToString(deterministic=True)
        leaves.append(Leaf(len(leaves), prev, at, bytes(32), payload, signature).encode())
    root = root_from_leaf_hashes(leaf_hash(x) for x in leaves)
    return leaves, sign_note(Checkpoint(INQ_ORIGIN, len(leaves), root).body(), [signer]), signer


def lookup(member: str, purpose: int, consent: str = "C-1") -> pb.Inquiry:
    return pb.Inquiry(
        member_id=member,
        at_unix_ms=AT_US // 1000,
        subject_commitment=bytes(32),
        purpose=purpose,  # type: ignore[arg-type]
        consent_reference=consent,
    )


def test_the_inquiry_log_audits_ok_with_volumes_per_member_and_purpose() -> None:
    leaves, note, signer = inquiry_log(
        [
            lookup("bank-a", pb.PURPOSE_LOAN_ORIGINATION),
            lookup("bank-a", pb.PURPOSE_LOAN_ORIGINATION),
            lookup("bank-b", pb.PURPOSE_ACCOUNT_REVIEW),
        ]
    )
    r = audit_inquiries(list(enumerate(leaves)), note, signer.verifier)
    assert r.ok and r.size == 3 and r.origin == INQ_ORIGIN
    assert r.by_member_purpose == {
        "bank-a": {"loan-origination": 2},
        "bank-b": {"account-review": 1},
    }
    assert r.by_month == {"2026-10": {"bank-a": 2, "bank-b": 1}}
    assert r.to_json()["by_member_purpose"]["bank-a"] == {"loan-origination": 2}


def test_lookups_without_consent_or_purpose_are_flagged() -> None:
    leaves, note, signer = inquiry_log(
        [
            lookup("bank-a", pb.PURPOSE_LOAN_ORIGINATION),
            lookup("bank-a", pb.PURPOSE_LOAN_ORIGINATION, consent=""),
            lookup("bank-b", pb.PURPOSE_UNSPECIFIED),
        ]
    )
    r = audit_inquiries(list(enumerate(leaves)), note, signer.verifier)
    assert r.verified and not r.ok
    assert [(f.kind, f.index) for f in r.findings] == [("consent", 1), ("purpose", 2)]


def test_a_tampered_inquiry_log_is_named_like_the_ledger() -> None:
    items = [lookup("bank-a", pb.PURPOSE_LOAN_ORIGINATION) for _ in range(4)]
    leaves, note, signer = inquiry_log(items)
    timed = [leaves[0], flip(leaves[1], 48), *leaves[2:]]  # the time: not in the payload
    r = audit_inquiries(list(enumerate(timed)), note, signer.verifier)
    # the next link breaks, and the next lookup (at the same instant) is now dated before it
    assert [(f.kind, f.index) for f in r.findings] == [("chain", 2), ("time", 2), ("root", None)]
    keyed = [leaves[0], flip(leaves[1], 60), *leaves[2:]]  # an inquiry leaf has no key id
    r = audit_inquiries(list(enumerate(keyed)), note, signer.verifier)
    assert [(f.kind, f.index) for f in r.findings] == [
        ("malformed", 1),
        ("chain", 2),
        ("root", None),
    ]
    r = audit_inquiries([(i, x) for i, x in enumerate(leaves) if i != 2], note, signer.verifier)
    assert r.first_fault is not None and (r.first_fault.kind, r.first_fault.index) == ("gap", 2)
    signed, note, signer = inquiry_log(items, signature=bytes(64))
    r = audit_inquiries(list(enumerate(signed)), note, signer.verifier)
    assert r.first_fault is not None and r.first_fault.kind == "malformed"
    forged = inquiry_log(items)[1]
    r = audit_inquiries(list(enumerate(inquiry_log(items)[0])), forged, signer.verifier)
    assert r.first_fault is not None and r.first_fault.kind == "checkpoint_signature"


def test_lookups_by_members_who_could_not_look_up_are_flagged(fresh: Story) -> None:
    s, hour = fresh, 3_600_000_000
    t0 = s.c.clock.now_us  # genesis, admissions and the story's entries
    s.c.clock.now_us = t0 + hour
    s.c.submit("operator", ev.member_suspended("bank-c", "licence withdrawn"))
    s.c.clock.now_us = t0 + 2 * hour
    s.c.submit("operator", ev.member_reinstated("bank-c", "licence restored"))
    rights = s.run().lookup_rights
    lender = frozenset({pb.ROLE_REPORTER, pb.ROLE_LENDER})
    assert rights["bank-c"] == [
        (t0, True, lender),
        (t0 + hour, False, lender),
        (t0 + 2 * hour, True, lender),
    ]
    assert rights["operator"] == [(t0, True, frozenset({pb.ROLE_OPERATOR}))]
    assert rights["regulator"] == [(t0, False, frozenset({pb.ROLE_REGULATOR}))]

    minute = 60_000_000
    asked = [  # in the order of their times, as the inquiry log has them
        ("bank-a", t0 - hour),  # before its admission
        ("bank-a", t0 + 10 * minute),  # a lender: fine
        ("operator", t0 + 10 * minute),  # a subject's own report: fine
        ("regulator", t0 + 10 * minute),  # no lender role
        ("bank-z", t0 + 10 * minute),  # never admitted
        ("bank-c", t0 + hour + 30_000_000),  # 30 s after its suspension: within the grace
        ("bank-c", t0 + hour + 30 * minute),  # suspended
        ("bank-c", t0 + 2 * hour + minute),  # reinstated: fine
    ]
    items = [lookup(m, pb.PURPOSE_LOAN_ORIGINATION) for m, _ in asked]
    leaves, note, signer = inquiry_log(items, times=[at for _, at in asked])
    now = t0 + 3 * hour
    r = audit_inquiries(
        list(enumerate(leaves)), note, signer.verifier, lookup_rights=rights, now_us=now
    )
    assert r.verified and not r.ok
    assert [(f.kind, f.index) for f in r.findings] == [
        ("member", 0),
        ("member", 3),
        ("member", 4),
        ("member", 6),
    ]
    why = [f.message.split(": ", 1)[1] for f in r.findings]
    assert why == [
        "not yet admitted",
        "suspended, or holding neither the lender nor the operator role",
        "not a member of the ledger",
        "suspended, or holding neither the lender nor the operator role",
    ]
    assert r.findings[1].message.startswith("lookup by regulator at 2026-11-02T12:10:00")
    assert audit_inquiries(list(enumerate(leaves)), note, signer.verifier, now_us=now).ok


# --- integration times (written by the operator, signed by no member) ---------------------------


def _retimed(story: Story, times: dict[int, int]) -> tuple[list[tuple[int, bytes]], bytes]:
    """The story's ledger with the given entries re-timed, rechained and re-signed, as an
    operator holding the log key could."""
    leaves, prev = [], bytes(32)
    for i, data in enumerate(story.leaves):
        leaf = Leaf.decode(data)
        at = times.get(i, leaf.integrated_at_us)
        leaves.append(Leaf(i, prev, at, leaf.key_id, leaf.payload, leaf.signature).encode())
        prev = leaf_hash(leaves[-1])
    return list(enumerate(leaves)), story.sign_note(leaves)


def test_an_entry_dated_before_the_one_before_it_or_in_the_future_is_a_time_fault(
    story: Story,
) -> None:
    i = story.at["report L2"]
    before = Leaf.decode(story.leaves[i - 1]).integrated_at_us
    pairs, note = _retimed(story, {i: before - 86_400_000_000})  # a day back
    r = story.run(pairs, note)
    assert kinds(r) == [("time", i)] and not r.verified
    assert "integration times never go backwards" in r.findings[0].message
    last = len(story.leaves) - 1
    pairs, note = _retimed(story, {last: story.c.clock.now_us + 86_400_000_000})  # tomorrow
    r = story.run(pairs, note)
    assert kinds(r) == [("time", last)]
    assert "after this audit's own time" in r.findings[0].message


def test_a_time_no_calendar_holds_is_malformed_not_a_crash(story: Story) -> None:
    last = len(story.leaves) - 1
    pairs, note = _retimed(story, {last: (1 << 63) - 1})
    r = story.run(pairs, note)
    assert ("malformed", last) in kinds(r)


def test_dates_at_the_calendars_end_are_findings_not_a_crash(fresh: Story) -> None:
    """A dispute opened on 9999-12-31 (its deadline is past the calendar): a finding, and the
    audit goes on to its verdict."""
    s = fresh
    s.c.clock.set(date(9999, 12, 29))
    s.c.submit(
        "operator",
        ev.dispute_opened(RecordRef("bank-a", "L1"), "D-END", date(9999, 12, 29), "at the end"),
    )
    r = audit(
        list(enumerate(s.leaves)),
        s.note,
        s.c.log_signer.verifier,
        ORIGIN,
        as_of=date(9999, 12, 29),
        now_us=s.c.clock.now_us,
    )
    assert [f.message for f in r.findings if f.kind == "rule"] == [
        "record bank-a/L1: dispute D-END's deadline is past the calendar"
    ]
    assert {k for k, _ in kinds(r)} == {"rule", "retention"}  # L2's retention ended long ago


def test_a_lookup_within_the_grace_after_a_suspension_that_came_soon_after_admission() -> None:
    """Admitted at t, suspended at t + 10 s, a lookup at t + 30 s: 20 s after losing the right,
    within the grace (only the two ends of the window were looked at); and a suspension at the
    very instant of the admission leaves the grace too."""
    t, s = 1_793_000_000_000_000, 1_000_000
    roles = frozenset({pb.ROLE_LENDER})
    rights = {
        "bank-c": [(t, True, roles), (t + 10 * s, False, roles)],
        "bank-d": [(t, True, roles), (t, False, roles)],
    }
    items = [
        lookup("bank-c", pb.PURPOSE_LOAN_ORIGINATION),
        lookup("bank-d", pb.PURPOSE_LOAN_ORIGINATION),
    ]
    leaves, note, signer = inquiry_log(items, times=[t + 30 * s, t + 30 * s])
    r = audit_inquiries(list(enumerate(leaves)), note, signer.verifier, lookup_rights=rights)
    assert r.ok, r.findings
    late, late_note, late_signer = inquiry_log(items[:1], times=[t + 71 * s])  # 61 s after
    r = audit_inquiries(
        list(enumerate(late)), late_note, late_signer.verifier, lookup_rights=rights
    )
    assert [(f.kind, f.index) for f in r.findings] == [("member", 0)]


def test_a_lookup_for_a_purpose_its_members_roles_do_not_give_is_flagged() -> None:
    """A borrower's own report is the operator's to ask for, a dispute the operator's or a
    reporter's: a lender-only member's lookup for either is flagged (the server refuses it)."""
    t = 1_793_000_000_000_000
    rights = {
        "lender": [(t, True, frozenset({pb.ROLE_LENDER}))],
        "bank": [(t, True, frozenset({pb.ROLE_LENDER, pb.ROLE_REPORTER}))],
        "operator": [(t, True, frozenset({pb.ROLE_OPERATOR}))],
    }
    asked = [
        ("lender", pb.PURPOSE_SUBJECT_REQUEST),
        ("lender", pb.PURPOSE_DISPUTE),
        ("bank", pb.PURPOSE_DISPUTE),  # a reporter: fine
        ("operator", pb.PURPOSE_SUBJECT_REQUEST),  # fine
        ("bank", pb.PURPOSE_SUBJECT_REQUEST),
    ]
    items = [lookup(m, p) for m, p in asked]
    leaves, note, signer = inquiry_log(items, times=[t + 60_000_000] * len(items))
    r = audit_inquiries(list(enumerate(leaves)), note, signer.verifier, lookup_rights=rights)
    assert [(f.kind, f.index) for f in r.findings] == [
        ("purpose", 0),
        ("purpose", 1),
        ("purpose", 4),
    ]
    assert r.findings[0].message == (
        "lookup by lender for subject-request: a purpose for the operator only"
    )
    assert r.findings[1].message.endswith("a purpose for the operator or reporter only")


def test_retention_is_judged_on_the_records_as_they_stood_that_day(fresh: Story) -> None:
    """Erased five days after its retention ended: an audit as of two days after the end
    flags it (on that day it was still served), one as of ten days after does not."""
    s = fresh
    ends = add_years(TODAY, 5)  # L2 was settled on TODAY
    s.c.clock.set(ends + timedelta(days=5))
    s.c.submit(
        "operator", ev.record_erased(RecordRef("bank-a", "L2"), pb.ERASURE_REASON_RETENTION_ENDED)
    )
    then = s.run(as_of=ends + timedelta(days=2))
    assert kinds(then) == [("retention", s.at["report L2"])] and then.verified
    assert "2 days over" in then.findings[0].message
    later = s.run(as_of=ends + timedelta(days=10))
    assert later.ok and later.stats.records_by_status["erased"] == 1
