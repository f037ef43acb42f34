"""The lender's side of verification, with no network: lookup answers and receipts built from a
real ledger (on MemoryStorage) are believed, and every kind of tampering with them is refused
with its own typed error; the trusted checkpoint only ever moves forward, also across restarts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.client.trust import ProofNeeded, Trust, WitnessPolicy
from arrears.client.verify import verify_check, verify_entry, verify_receipt
from arrears.ledger import events as ev
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.envelope import Envelope, MemberSigner
from arrears.ledger.errors import (
    InconsistentCheckpointError,
    ProofError,
    SignatureError,
    VerificationError,
)
from arrears.ledger.leaf import Leaf
from arrears.ledger.log import Appended, Entry, Log
from arrears.ledger.merkle import InclusionVerifier, leaf_hash
from arrears.ledger.note import CosignatureSigner, Ed25519Signer, sign_note
from arrears.ledger.records import DEFAULT_RULES, RecordRef, Status, served, summarise
from arrears.ledger.storage import MemoryStorage
from arrears.ledger.tiles import consistency_proof, inclusion_proofs
from arrears.ledger.tlogproof import TlogProof
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb
from tests.consortium import ORIGIN, TODAY, Consortium, build, pseudonym

LOAN_1 = RecordRef("bank-a", "loan-1")  # subject 1: reported, then updated
CARD_9 = RecordRef("bank-b", "card-9")  # subject 1: reported, then settled
LOAN_2 = RecordRef("bank-a", "loan-2")  # subject 2: reported


@dataclass
class World:
    c: Consortium
    reports: dict[RecordRef, Appended]
    sizes: list[int]  # every tree size the log signed, oldest first

    @property
    def storage(self) -> MemoryStorage:
        st = self.c.ledger.storage
        assert isinstance(st, MemoryStorage)
        return st

    @property
    def size(self) -> int:
        return self.c.ledger.log.head().size

    @property
    def note(self) -> bytes:
        return self.c.ledger.log.head().checkpoint

    def note_at(self, size: int) -> bytes:
        note = self.storage.checkpoint_at(size)
        assert note is not None
        return note

    def trust(self, state_file: Path | None = None) -> Trust:
        return Trust(self.c.log_signer.verifier_key, state_file=state_file)

    def checkpoint(self) -> Checkpoint:
        return self.trust().accept(self.note)

    def answer(self, subject: int) -> spb.CheckResponse:
        """What an honest server answers about a subject, as of TODAY."""
        st, size = self.storage, self.size
        rows = sorted(
            (
                (rec, salt)
                for rec, salt in st.records_for_pseudonym(pseudonym(subject))
                if served(rec, TODAY, self.c.ledger.rules)
            ),
            key=lambda row: (row[0].ref.member_id, row[0].ref.record_id),
        )
        out = spb.CheckResponse(
            pseudonym=pseudonym(subject),
            as_of=pb.Date(year=TODAY.year, month=TODAY.month, day=TODAY.day),
            tree_size=size,
            checkpoint=self.note,
            inquiry_id=7,
        )
        for rec, salt in rows:
            evidence = out.records.add(
                record=pb.RecordRef(member_id=rec.ref.member_id, record_id=rec.ref.record_id),
                salt=salt,
            )
            proofs = inclusion_proofs(list(rec.entries), size, st.read_tiles)
            for i, proof in zip(rec.entries, proofs, strict=True):
                evidence.entries.add(index=i, leaf=st.leaves[i], inclusion_proof=proof)
        return out

    def receipt(self, a: Appended) -> spb.Receipt:
        """A receipt for an entry, proven against the current head."""
        (proof,) = inclusion_proofs([a.index], self.size, self.storage.read_tiles)
        return spb.Receipt(
            index=a.index,
            leaf=a.leaf,
            leaf_hash=a.leaf_hash,
            tree_size=self.size,
            inclusion_proof=proof,
            checkpoint=self.note,
            tlog_proof=TlogProof(a.index, tuple(proof), self.note).text(),
        )

    def forged(self, size: int, root: bytes, signer: Ed25519Signer | None = None) -> bytes:
        """A checkpoint the log's own key signed, for any size and root (a lying operator)."""
        body = Checkpoint(ORIGIN, size, root).body()
        return sign_note(body, [signer or self.c.log_signer])


@pytest.fixture
def w() -> World:
    c = build(MemoryStorage())
    sizes = [c.ledger.log.head().size]
    reports: dict[RecordRef, Appended] = {}

    def step(a: Appended) -> Appended:
        sizes.append(c.ledger.log.head().size)
        return a

    reports[LOAN_1] = step(c.report("bank-a", "loan-1", 1, days_past_due=45))
    reports[CARD_9] = step(c.report("bank-b", "card-9", 1, days_past_due=100))
    reports[LOAN_2] = step(c.report("bank-a", "loan-2", 2))
    step(c.submit("bank-a", ev.record_updated(LOAN_1, days_past_due=75)))
    step(c.submit("bank-b", ev.record_settled(CARD_9, date(2026, 10, 20))))
    key = MemberSigner.generate()
    step(
        c.submit(
            "operator", ev.member_admitted("bank-d", "Bank D", [pb.ROLE_LENDER], [key.public_key])
        )
    )
    return World(c, reports, sizes)


def flip(data: bytes, position: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[position] ^= 1 << bit
    return bytes(b)


def entries_of(answer: spb.CheckResponse, ref: RecordRef) -> Sequence[spb.RecordEntry]:
    return next(
        r.entries
        for r in answer.records
        if (r.record.member_id, r.record.record_id) == (ref.member_id, ref.record_id)
    )


def evidence_of(answer: spb.CheckResponse, ref: RecordRef) -> spb.RecordEvidence:
    return next(
        r
        for r in answer.records
        if (r.record.member_id, r.record.record_id) == (ref.member_id, ref.record_id)
    )


# --- honest answers ----------------------------------------------------------------------------


def test_an_honest_answer_is_believed_and_re_derived(w: World) -> None:
    cp = w.checkpoint()
    result = verify_check(w.answer(1), pseudonym(1), cp)
    projection = w.storage.load_projection().records
    assert [r.ref for r in result.records] == [LOAN_1, CARD_9]
    assert list(result.records) == [projection[LOAN_1], projection[CARD_9]]
    assert result.records[0].days_past_due == 75
    assert result.records[1].status is Status.SETTLED
    assert result.summary == summarise([projection[LOAN_1], projection[CARD_9]], TODAY)
    assert result.summary.defaults_12m == 2
    assert result.summary.active == 1 and result.summary.settled == 1
    assert result.as_of == TODAY
    assert result.checkpoint == cp
    assert result.inquiry_id == 7
    assert result.pseudonym == pseudonym(1)


def test_a_subject_without_records_gets_an_empty_verified_answer(w: World) -> None:
    result = verify_check(w.answer(99), pseudonym(99), w.checkpoint())
    assert result.records == ()
    assert result.summary.defaults_60m == 0
    assert result.summary.reporting_members == ()


def test_answers_without_records_are_checked_like_any_other(w: World) -> None:
    cp = w.checkpoint()
    answer = w.answer(99)
    assert not answer.records
    with pytest.raises(VerificationError, match=r"^check: the answer is about another pseudonym$"):
        verify_check(answer, pseudonym(98), cp)
    answer.tree_size += 1
    with pytest.raises(ProofError, match=r"^check: tree_size \d+, checkpoint size \d+$"):
        verify_check(answer, pseudonym(99), cp)
    answer = w.answer(99)
    answer.as_of.day = 31
    answer.as_of.month = 2
    with pytest.raises(VerificationError, match=r"^check: as_of is not a date$"):
        verify_check(answer, pseudonym(99), cp)
    # the caller's own day needs no day from the server
    assert verify_check(answer, pseudonym(99), cp, as_of=TODAY).as_of == TODAY


def test_summaries_without_served_records_are_those_of_no_records(w: World) -> None:
    cp = w.checkpoint()
    for day in (TODAY, date(2031, 10, 20), date(2040, 1, 1)):
        none = verify_check(w.answer(99), pseudonym(99), cp, as_of=day)
        assert none.summary == summarise([], day) and none.summary.as_of == day
    # subject 1's records had not been reported yet
    earlier = verify_check(w.answer(1), pseudonym(1), cp, as_of=date(2020, 1, 1))
    assert earlier.records == () and earlier.summary == summarise([], date(2020, 1, 1))


def test_records_no_longer_served_on_the_as_of_day_are_left_out(w: World) -> None:
    cp = w.checkpoint()
    # five years after the settlement of card-9, only loan-1 (still active) is shown
    later = verify_check(w.answer(1), pseudonym(1), cp, as_of=date(2031, 10, 20))
    assert [r.ref for r in later.records] == [LOAN_1]
    before = verify_check(w.answer(1), pseudonym(1), cp, as_of=date(2031, 10, 19))
    assert [r.ref for r in before.records] == [LOAN_1, CARD_9]


# --- tampered answers --------------------------------------------------------------------------


def test_a_flipped_bit_anywhere_in_any_leaf_is_a_proof_error(w: World) -> None:
    cp = w.checkpoint()
    honest = w.answer(1)
    cases = 0
    for r, rec in enumerate(honest.records):
        for e, entry in enumerate(rec.entries):
            n = len(entry.leaf)
            for position in sorted({0, 1, 9, 41, 49, 81, 85, n // 2, n - 1}):
                answer = spb.CheckResponse()
                answer.CopyFrom(honest)
                target = answer.records[r].entries[e]
                target.leaf = flip(target.leaf, position, bit=position % 8)
                with pytest.raises(ProofError):
                    verify_check(answer, pseudonym(1), cp)
                cases += 1
    assert cases >= 4 * 9


def test_a_flipped_bit_in_any_proof_hash_is_a_proof_error(w: World) -> None:
    cp = w.checkpoint()
    honest = w.answer(1)
    cases = 0
    for r, rec in enumerate(honest.records):
        for e, entry in enumerate(rec.entries):
            assert entry.inclusion_proof, "every entry of a tree this size has a proof"
            for h in range(len(entry.inclusion_proof)):
                for position in (0, 31):
                    answer = spb.CheckResponse()
                    answer.CopyFrom(honest)
                    proof = answer.records[r].entries[e].inclusion_proof
                    proof[h] = flip(proof[h], position, bit=7)
                    with pytest.raises(ProofError):
                        verify_check(answer, pseudonym(1), cp)
                    cases += 1
    assert cases >= 8


@pytest.mark.parametrize("change", ["drop_last", "extra_hash", "short_hash"])
def test_a_proof_of_the_wrong_shape_is_a_proof_error(w: World, change: str) -> None:
    answer = w.answer(1)
    proof = answer.records[0].entries[0].inclusion_proof
    if change == "drop_last":
        del proof[-1]
    elif change == "extra_hash":
        proof.append(bytes(32))
    else:
        proof[0] = proof[0][:31]
    with pytest.raises(ProofError):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_entry_claiming_another_index_is_a_proof_error(w: World) -> None:
    answer = w.answer(1)
    entry = answer.records[0].entries[1]
    entry.index = entry.index + 1
    with pytest.raises(ProofError):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_verify_entry_refuses_a_leaf_that_names_another_index(w: World) -> None:
    # A leaf proven at its place but presented as another index: the inclusion check fails
    # first; a leaf re-encoded to carry the claimed index changes its hash and fails as well.
    cp = w.checkpoint()
    a = w.reports[LOAN_2]
    (proof,) = inclusion_proofs([a.index], cp.size, w.storage.read_tiles)
    assert verify_entry(a.index, a.leaf, proof, cp).index == a.index
    with pytest.raises(ProofError):
        verify_entry(a.index + 1, a.leaf, proof, cp)


def _tree_of_one(leaf: bytes) -> Checkpoint:
    return Checkpoint(ORIGIN, 1, leaf_hash(leaf))


def test_an_included_leaf_of_no_known_format_is_a_proof_error() -> None:
    """Proven in the tree, but not a leaf this log writes: a ProofError, as for a bad proof
    (it used to escape as an EncodingError, failing the other lookups of its round trip)."""
    leaf = b"\x02 a leaf of a later version"
    with pytest.raises(ProofError, match="entry 0"):
        verify_entry(0, leaf, [], _tree_of_one(leaf))


@pytest.mark.parametrize(
    ("integrated_at_us", "settled", "words"),
    [
        (2**62, False, "out of range"),
        (253_402_214_400_000_000, True, "retention ends beyond the calendar"),  # 9999-12-31
    ],
    ids=["integrated-after-year-9999", "settled-on-9999-12-31"],
)
def test_days_beyond_the_calendar_are_a_verification_error(
    integrated_at_us: int, settled: bool, words: str
) -> None:
    """Dates a lying server can put in a record it serves (real signatures, a tree of its
    own): the lender gets a VerificationError, not a ValueError from the calendar."""
    from arrears.client.verify import verify_record
    from arrears.ledger.leaf import encode_leaf
    from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment

    bank = ev.Member("bank-a", MemberSigner.generate(), ORIGIN)
    p, salt = pseudonym(1), new_salt()
    report = ev.record_reported(
        "far-1",
        subject_commitment(salt, Pseudonym.from_bytes(p)),
        principal_minor=1_000_000,
        outstanding_minor=500_000,
        days_past_due=45,
        first_missed_payment=date(2026, 9, 1),
        borrower_notified_on=date(2026, 10, 1),
    )
    events = [report]
    if settled:
        events.append(ev.record_settled(RecordRef("bank-a", "far-1"), date(9999, 12, 31)))
    leaves, prev = [b"earlier entry %d" % i for i in range(5)], bytes(32)  # 0 is the genesis
    for event in events:
        env = bank.sign(event)
        leaves.append(
            encode_leaf(len(leaves), prev, integrated_at_us, env.key_id, env.payload, env.signature)
        )
        prev = leaf_hash(leaves[-1])
    from tests import reference

    cp = Checkpoint(ORIGIN, len(leaves), reference.mth(leaves))
    evidence = spb.RecordEvidence(
        record=pb.RecordRef(member_id="bank-a", record_id="far-1"), salt=salt
    )
    for i in range(5, len(leaves)):
        evidence.entries.add(index=i, leaf=leaves[i], inclusion_proof=reference.path(i, leaves))
    with pytest.raises(VerificationError, match=f"record bank-a/far-1: .*{words}"):
        verify_record(evidence, p, cp, DEFAULT_RULES)


@pytest.mark.parametrize("position", [0, 15, 31])
def test_a_flipped_salt_does_not_open_the_commitment(w: World, position: int) -> None:
    answer = w.answer(1)
    ev_ = evidence_of(answer, CARD_9)
    ev_.salt = flip(ev_.salt, position)
    with pytest.raises(VerificationError, match="another subject") as info:
        verify_check(answer, pseudonym(1), w.checkpoint())
    assert not isinstance(info.value, ProofError)


def test_salts_swapped_between_records_do_not_open(w: World) -> None:
    answer = w.answer(1)
    a, b = evidence_of(answer, LOAN_1), evidence_of(answer, CARD_9)
    a.salt, b.salt = b.salt, a.salt
    with pytest.raises(VerificationError, match="another subject"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_another_subjects_records_under_our_pseudonym_are_refused(w: World) -> None:
    # The server answers with subject 2's (perfectly included) record, claiming it is ours.
    answer = w.answer(2)
    answer.pseudonym = pseudonym(1)
    with pytest.raises(VerificationError, match="another subject"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_answer_about_another_pseudonym_is_refused(w: World) -> None:
    with pytest.raises(VerificationError, match="another pseudonym"):
        verify_check(w.answer(2), pseudonym(1), w.checkpoint())


@pytest.mark.parametrize(
    ("slipped", "where"),
    [
        (CARD_9, "report"),  # another record's report, in index order
        (CARD_9, "settlement"),  # another record's later entry
        (None, "membership"),  # an entry that is about no record at all
    ],
)
def test_an_entry_of_another_record_slipped_in_is_refused(
    w: World, slipped: RecordRef | None, where: str
) -> None:
    answer = w.answer(1)
    honest = {e.index: e for r in answer.records for e in r.entries}
    if where == "report":
        assert slipped is not None
        extra = honest[w.reports[slipped].index]
    elif where == "settlement":
        extra = entries_of(answer, CARD_9)[-1]
    else:
        index = w.size - 1  # bank-d's admission, after every entry of loan-1
        (proof,) = inclusion_proofs([index], w.size, w.storage.read_tiles)
        extra = spb.RecordEntry(index=index, leaf=w.storage.leaves[index], inclusion_proof=proof)
    target = evidence_of(answer, LOAN_1)
    entries = sorted([*target.entries, extra], key=lambda e: e.index)
    del target.entries[:]
    target.entries.extend(entries)
    with pytest.raises(VerificationError):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_a_record_served_under_another_records_name_is_refused(w: World) -> None:
    answer = w.answer(1)
    evidence_of(answer, LOAN_1).record.record_id = "loan-7"
    with pytest.raises(VerificationError, match="about bank-a/loan-1"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_entries_out_of_order_are_refused(w: World) -> None:
    answer = w.answer(1)
    target = evidence_of(answer, LOAN_1)
    entries = list(reversed(target.entries))
    del target.entries[:]
    target.entries.extend(entries)
    with pytest.raises(VerificationError, match="out of order"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_entry_given_twice_is_refused(w: World) -> None:
    answer = w.answer(1)
    target = evidence_of(answer, LOAN_1)
    target.entries.add().CopyFrom(target.entries[-1])
    with pytest.raises(VerificationError, match="out of order"):
        verify_check(answer, pseudonym(1), w.checkpoint())


@pytest.mark.parametrize("ref", [LOAN_1, CARD_9])
def test_a_history_without_its_report_is_refused(w: World, ref: RecordRef) -> None:
    answer = w.answer(1)
    del evidence_of(answer, ref).entries[0]
    with pytest.raises(VerificationError, match="does not start with its report"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_a_record_without_entries_is_refused(w: World) -> None:
    answer = w.answer(1)
    del evidence_of(answer, CARD_9).entries[:]
    with pytest.raises(VerificationError, match="no entries"):
        verify_check(answer, pseudonym(1), w.checkpoint())


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_wrong_tree_size_is_a_proof_error(w: World, delta: int) -> None:
    answer = w.answer(1)
    answer.tree_size += delta
    with pytest.raises(ProofError, match="tree_size"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_answer_proven_against_another_tree_is_a_proof_error(w: World) -> None:
    answer = w.answer(1)
    older = Trust(w.c.log_signer.verifier_key).accept(w.note_at(w.sizes[-2]))
    answer.tree_size = older.size
    with pytest.raises(ProofError):
        verify_check(answer, pseudonym(1), older)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_a_salt_of_the_wrong_size_is_refused(w: World, size: int) -> None:
    answer = w.answer(1)
    evidence_of(answer, LOAN_1).salt = bytes(size)
    with pytest.raises(VerificationError, match="salt"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_entry_beyond_the_tree_is_a_proof_error(w: World) -> None:
    answer = w.answer(1)
    entries_of(answer, LOAN_1)[0].index = w.size + 10
    with pytest.raises(ProofError):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_answer_dated_on_no_day_is_refused(w: World) -> None:
    answer = w.answer(1)
    answer.as_of.month = 13
    with pytest.raises(VerificationError, match="as_of"):
        verify_check(answer, pseudonym(1), w.checkpoint())


def test_an_included_entry_that_is_no_submission_is_refused() -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    log = Log(MemoryStorage(), signer)
    try:
        a = log.append(Entry(bytes(32), b"not a submission", b""))
        b = log.append(Entry(bytes(32), b"\x08\x01", b""))
        cp = Trust(signer.verifier_key).accept(log.head().checkpoint)
        for x in (a, b):
            answer = spb.CheckResponse(pseudonym=pseudonym(1), tree_size=cp.size)
            answer.as_of.CopyFrom(pb.Date(year=2026, month=11, day=2))
            evidence = answer.records.add(record=pb.RecordRef(member_id="m", record_id="r"))
            evidence.salt = bytes(32)
            evidence.entries.add(
                index=x.index, leaf=x.leaf, inclusion_proof=log.inclusion_proof(x.index)
            )
            with pytest.raises(VerificationError):
                verify_check(answer, pseudonym(1), cp)
    finally:
        log.close()


def test_a_record_given_twice_is_refused(w: World) -> None:
    answer = w.answer(1)
    answer.records.add().CopyFrom(answer.records[0])
    with pytest.raises(VerificationError, match="twice"):
        verify_check(answer, pseudonym(1), w.checkpoint())


# --- receipts ----------------------------------------------------------------------------------


def test_an_honest_receipt_is_believed(w: World) -> None:
    a = w.reports[LOAN_2]
    cp = w.checkpoint()
    r = verify_receipt(w.receipt(a), cp, _envelope(a.leaf))
    assert (r.index, r.leaf_hash, r.tree_size, r.checkpoint) == (a.index, a.leaf_hash, cp.size, cp)
    assert not r.replayed
    assert TlogProof.parse(r.tlog_proof).verify(a.leaf, [w.trust().verifier]) == cp


def _envelope(leaf: bytes) -> Envelope:
    x = Leaf.decode(leaf)
    return Envelope(x.key_id, x.payload, x.signature)


@pytest.mark.parametrize("field", ["payload", "key_id", "signature"])
@pytest.mark.parametrize("replayed", [False, True], ids=["new", "replayed"])
def test_a_receipt_for_another_envelope_is_refused(w: World, field: str, replayed: bool) -> None:
    """The entry must hold what we signed: our payload, key id and signature. A replay's entry
    may be the first submission's, signed with another key of ours: then only the payload can
    be held to ours, and a key id of ours must come with our own signature."""
    r = w.receipt(w.reports[LOAN_2])
    r.replayed = replayed
    ours = _envelope(r.leaf)
    sent = replace(ours, **{field: flip(getattr(ours, field), 1)})
    if replayed and field == "key_id":  # the first submission was signed with another key
        assert verify_receipt(r, w.checkpoint(), sent).index == r.index
        return
    with pytest.raises(VerificationError, match="payload" if field == "payload" else "key id"):
        verify_receipt(r, w.checkpoint(), sent)


def test_a_receipt_without_its_text_gets_it_made_from_what_was_verified(w: World) -> None:
    a = w.reports[LOAN_2]
    full = w.receipt(a)
    bare = w.receipt(a)
    bare.tlog_proof = ""  # a stream asked for receipts without their texts
    cp = w.checkpoint()
    assert verify_receipt(bare, cp).tlog_proof == full.tlog_proof


@pytest.mark.parametrize(
    "tamper",
    [
        "tree_size",
        "leaf_hash",
        "leaf",
        "leaf_and_hash",
        "proof",
        "index",
        "tlog_proof",
    ],
)
@pytest.mark.parametrize("shared", [False, True], ids=["alone", "after-the-others"])
def test_a_tampered_receipt_is_a_proof_error(w: World, tamper: str, shared: bool) -> None:
    """Alone, and with the inclusion work shared with every other receipt of the tree,
    verified first (as a stream's message is)."""
    cp = w.checkpoint()
    verifier = InclusionVerifier(cp.size, cp.root) if shared else None
    if verifier is not None:
        for a in w.reports.values():
            verify_receipt(w.receipt(a), cp, shared=verifier)
    r = w.receipt(w.reports[LOAN_2])
    if tamper == "tree_size":
        r.tree_size -= 1
    elif tamper == "leaf_hash":
        r.leaf_hash = flip(r.leaf_hash, 3)
    elif tamper == "leaf":
        r.leaf = flip(r.leaf, len(r.leaf) // 2)
    elif tamper == "leaf_and_hash":
        r.leaf = flip(r.leaf, len(r.leaf) // 2)
        r.leaf_hash = leaf_hash(r.leaf)
    elif tamper == "proof":
        r.inclusion_proof[0] = flip(r.inclusion_proof[0], 0)
    elif tamper == "tlog_proof":  # the text to keep proves another entry
        r.tlog_proof = r.tlog_proof.replace(f"index {r.index}\n", f"index {r.index - 1}\n")
    else:
        r.index += 1
    with pytest.raises(ProofError):
        verify_receipt(r, cp, shared=verifier)


def test_a_shared_verifier_of_another_tree_is_refused(w: World) -> None:
    cp = w.checkpoint()
    with pytest.raises(ValueError, match="another tree"):
        verify_receipt(
            w.receipt(w.reports[LOAN_2]), cp, shared=InclusionVerifier(cp.size, bytes(32))
        )


def test_a_receipt_for_another_payload_is_refused(w: World) -> None:
    a = w.reports[LOAN_2]
    mine = w.c.m("bank-a").sign(ev.record_withdrawn(LOAN_2, "reported in error"))
    with pytest.raises(VerificationError, match="another payload") as info:
        verify_receipt(w.receipt(a), w.checkpoint(), mine)
    assert not isinstance(info.value, ProofError)


# --- trust: signatures and origin --------------------------------------------------------------


def test_the_first_checkpoint_is_trusted_on_its_signature(w: World) -> None:
    t = w.trust()
    assert t.trusted is None and t.size == 0
    cp = t.accept(w.note)
    assert t.size == w.size == cp.size
    assert t.trusted is not None and t.trusted.note == w.note
    assert cp.origin == ORIGIN


def test_a_checkpoint_signed_by_another_key_is_a_signature_error(w: World) -> None:
    impostor = Ed25519Signer.generate(ORIGIN)  # same name, another key
    head = w.c.ledger.log.head()
    note = w.forged(head.size, head.root, impostor)
    t = w.trust()
    with pytest.raises(SignatureError):
        t.accept(note)
    assert t.trusted is None


def test_a_checkpoint_whose_log_signature_is_corrupt_is_a_signature_error(w: World) -> None:
    text = w.note.decode()
    body, _, sig = text.rpartition("— ")
    name, blob = sig.split(" ")
    blob = blob.strip()
    bad = blob[:-4] + ("AAA=" if not blob.endswith("AAA=") else "BBB=")
    with pytest.raises(SignatureError):
        w.trust().accept(f"{body}— {name} {bad}\n".encode())


def test_a_checkpoint_for_another_origin_is_refused(w: World) -> None:
    # Signed with the pinned key under the pinned name, but the body names another log.
    head = w.c.ledger.log.head()
    body = Checkpoint("other.example/log", head.size, head.root).body()
    note = sign_note(body, [w.c.log_signer])
    with pytest.raises(VerificationError, match="origin"):
        w.trust().accept(note)


def test_a_note_only_a_witness_signed_is_not_the_logs_checkpoint(w: World) -> None:
    witness = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
    policy = WitnessPolicy(required=[witness.verifier])
    t = Trust(w.c.log_signer.verifier_key, witness_policy=policy)
    head = w.c.ledger.log.head()
    cosigned_only = sign_note(Checkpoint(ORIGIN, head.size, bytes(32)).body(), [witness])
    for witnessed in (False, True):
        with pytest.raises(SignatureError, match="not signed by the log"):
            t.accept(cosigned_only, witnessed=witnessed)
    assert t.trusted is None
    both = sign_note(Checkpoint(ORIGIN, head.size, head.root).body(), [w.c.log_signer, witness])
    assert t.accept(both, witnessed=True).size == head.size


# --- trust: consistency ------------------------------------------------------------------------


def test_the_trusted_checkpoint_moves_forward_with_a_consistency_proof(w: World) -> None:
    t = w.trust()
    old = w.sizes[1]
    t.accept(w.note_at(old))
    proof = consistency_proof(old, w.size, w.storage.read_tiles)
    cp = t.accept(w.note, proof_from=old, proof=proof)
    assert t.size == cp.size == w.size
    assert t.accept(w.note) == cp  # the same checkpoint again: nothing to prove


def test_a_smaller_checkpoint_than_trusted_is_a_rollback(w: World) -> None:
    t = w.trust()
    t.accept(w.note)
    with pytest.raises(InconsistentCheckpointError, match="rolled back"):
        t.accept(w.note_at(w.sizes[2]))
    assert t.size == w.size


def test_an_empty_log_after_a_trusted_one_is_refused(w: World) -> None:
    t = w.trust()
    t.accept(w.note)
    empty = Checkpoint(
        ORIGIN, 0, bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    with pytest.raises(InconsistentCheckpointError):
        t.accept(sign_note(empty.body(), [w.c.log_signer]))


def test_another_root_at_the_trusted_size_is_a_fork(w: World) -> None:
    t = w.trust()
    t.accept(w.note)
    fork = w.forged(w.size, bytes(32))
    with pytest.raises(InconsistentCheckpointError, match="different histories"):
        t.accept(fork)
    assert t.trusted is not None and t.trusted.note == w.note


@pytest.mark.parametrize("tamper", ["flipped", "dropped", "empty", "for_other_sizes"])
def test_a_bad_consistency_proof_is_refused(w: World, tamper: str) -> None:
    t = w.trust()
    old = w.sizes[1]
    t.accept(w.note_at(old))
    proof = consistency_proof(old, w.size, w.storage.read_tiles)
    assert proof
    if tamper == "flipped":
        proof[-1] = flip(proof[-1], 5)
    elif tamper == "dropped":
        proof = proof[:-1]
    elif tamper == "empty":
        proof = []
    else:
        proof = consistency_proof(w.sizes[2], w.size, w.storage.read_tiles)
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        t.accept(w.note, proof_from=old, proof=proof)
    assert t.size == old


def test_a_forked_larger_checkpoint_cannot_prove_consistency(w: World) -> None:
    t = w.trust()
    old = w.sizes[1]
    t.accept(w.note_at(old))
    fork = w.forged(w.size, bytes(range(32)))
    proof = consistency_proof(old, w.size, w.storage.read_tiles)
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        t.accept(fork, proof_from=old, proof=proof)


def test_a_proof_from_another_size_asks_for_the_right_one(w: World) -> None:
    t = w.trust()
    first, second = w.sizes[1], w.sizes[3]
    t.accept(w.note_at(first))
    stale = consistency_proof(second, w.size, w.storage.read_tiles)
    with pytest.raises(ProofNeeded) as need:
        t.accept(w.note, proof_from=second, proof=stale)
    assert (need.value.from_size, need.value.to_size) == (first, w.size)
    assert t.size == first

    asked: list[tuple[int, int]] = []

    def fetch(a: int, b: int) -> list[bytes]:
        asked.append((a, b))
        return consistency_proof(a, b, w.storage.read_tiles)

    cp = t.accept(w.note, proof_from=second, proof=stale, fetch=fetch)
    assert asked == [(first, w.size)]
    assert t.size == cp.size == w.size


def test_an_older_answer_needs_a_proof_to_the_size_trusted_now(w: World) -> None:
    # Concurrent answers: a proof from this checkpoint to a size trusted earlier is not a proof
    # to the size trusted now; it is asked for again, not taken for a fork.
    t = w.trust()
    older, middle = w.sizes[1], w.sizes[2]
    t.accept(w.note)  # the newest is trusted
    to_middle = consistency_proof(older, middle, w.storage.read_tiles)
    with pytest.raises(ProofNeeded) as need:
        t.accept(
            w.note_at(older), proof_from=older, proof=to_middle, proof_to=middle, allow_older=True
        )
    assert (need.value.from_size, need.value.to_size) == (older, w.size)
    right = consistency_proof(older, w.size, w.storage.read_tiles)
    cp = t.accept(
        w.note_at(older), proof_from=older, proof=right, proof_to=w.size, allow_older=True
    )
    assert cp.size == older
    assert t.size == w.size  # never moved back


def test_a_fetched_proof_that_does_not_verify_is_refused(w: World) -> None:
    t = w.trust()
    t.accept(w.note_at(w.sizes[1]))
    bad: Callable[[int, int], list[bytes]] = lambda a, b: [bytes(32)]  # noqa: E731
    with pytest.raises(InconsistentCheckpointError):
        t.accept(w.note, fetch=bad)


# --- trust: persistence ------------------------------------------------------------------------


def test_the_trusted_checkpoint_survives_a_restart(w: World, tmp_path: Path) -> None:
    state = tmp_path / "state" / "trust.json"
    t = w.trust(state)
    t.accept(w.note_at(w.sizes[2]))
    assert json.loads(state.read_text())["tree_size"] == w.sizes[2]
    again = w.trust(state)
    assert again.trusted is not None
    assert again.trusted.note == w.note_at(w.sizes[2])
    assert again.size == w.sizes[2]
    proof = consistency_proof(w.sizes[2], w.size, w.storage.read_tiles)
    again.accept(w.note, proof_from=w.sizes[2], proof=proof)
    assert w.trust(state).size == w.size
    assert not [
        p for p in state.parent.iterdir() if p.name not in ("trust.json", "trust.json.lock")
    ]


def test_a_fork_is_refused_after_a_restart(w: World, tmp_path: Path) -> None:
    state = tmp_path / "trust.json"
    w.trust(state).accept(w.note)
    before = state.read_bytes()
    restarted = w.trust(state)
    with pytest.raises(InconsistentCheckpointError, match="different histories"):
        restarted.accept(w.forged(w.size, bytes(32)))
    with pytest.raises(InconsistentCheckpointError, match="rolled back"):
        w.trust(state).accept(w.note_at(w.sizes[0]))
    assert state.read_bytes() == before


def test_a_state_file_signed_by_another_key_is_not_trusted(w: World, tmp_path: Path) -> None:
    state = tmp_path / "trust.json"
    other = Ed25519Signer.generate(ORIGIN)
    head = w.c.ledger.log.head()
    note = w.forged(head.size, head.root, other)
    state.write_text(json.dumps({"checkpoint": note.decode(), "tree_size": head.size}))
    with pytest.raises(SignatureError, match=f"{state} holds a checkpoint that .* did not sign"):
        w.trust(state)
