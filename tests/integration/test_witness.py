"""Witnesses cosign checkpoints; lenders can require them; borrowers get their own report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from arrears.client import Trust
from arrears.client.errors import NotFound, Unauthenticated
from arrears.client.testing import LocalConsortium
from arrears.client.trust import WitnessPolicy
from arrears.client.witness import Witness, load_state
from arrears.ledger.errors import InconsistentCheckpointError, VerificationError
from arrears.ledger.note import CosignatureSigner, CosignatureVerifier, NoteSignature, split_note
from arrears.server.pki import load_ed25519
from arrears.server.subject_html import render
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb

APPLICANT = "11010519491231002X"
MEMBERS = {
    "bank-a": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
    "bank-b": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
    "regulator": (pb.ROLE_REGULATOR,),
}


def report(client: object, record_id: str) -> None:
    client.report(  # type: ignore[attr-defined]
        APPLICANT,
        record_id,
        principal_minor=100_000,
        outstanding_minor=90_000,
        days_past_due=40,
        first_missed_payment=date(2026, 9, 1),
        borrower_notified_on=date(2026, 10, 1),
    )


@pytest.fixture
def net() -> object:
    with LocalConsortium(MEMBERS) as n:
        n.clock.set(date(2026, 11, 20))
        yield n


def witness_of(net: LocalConsortium, member: str, state: Path) -> Witness:
    client = net.client(member)
    key = load_ed25519(net.pki.member(member).signing_key)
    return Witness(client.aio, key, state)


def run(net: LocalConsortium, w: Witness) -> object:
    """One witness cycle, on the event loop of the witness's own client."""
    owner = next(c for c in net._clients if c.aio is w.client)
    return owner._run(w.cycle())


def verifier(net: LocalConsortium, member: str) -> CosignatureVerifier:
    signer = CosignatureSigner(member, load_ed25519(net.pki.member(member).signing_key))
    return signer.verifier


def test_witness_cosigns_and_the_log_serves_the_cosignature(
    net: LocalConsortium, tmp_path: Path
) -> None:
    report(net.client("bank-a"), "L-1")
    state = tmp_path / "w.json"
    w = witness_of(net, "regulator", state)
    first = run(net, w)
    size = first.checkpoint.size  # type: ignore[attr-defined]
    assert load_state(state) is not None and load_state(state).size == size  # type: ignore[union-attr]
    # The cosigned checkpoint carries the regulator's cosignature, which verifies.
    bank_b = net.client("bank-b")
    cp = bank_b.aio
    answer = bank_b._run(cp._call(cp._log.GetCheckpoint, spb.GetCheckpointRequest(cosigned=True)))
    body, sigs = split_note(answer.note)
    names = [s.name for s in sigs]
    assert names == ["arrears.test/ledger", "regulator"]
    assert verifier(net, "regulator").verify(body, sigs[1].signature)
    # More entries: the next cycle proves consistency from the witnessed size.
    report(net.client("bank-b"), "L-2")
    second = run(net, w)
    assert second.previous_size == size  # type: ignore[attr-defined]
    assert second.checkpoint.size > size  # type: ignore[attr-defined]


def test_the_signed_checkpoint_is_the_note_as_served_with_its_cosignatures(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """The copy the client keeps is the first note of its size; a later one, cosigned since,
    is what ``signed_checkpoint`` (and ``arrears checkpoint``) gives."""
    report(net.client("bank-a"), "L-1")
    bank_b = net.client("bank-b")
    trusted = bank_b.checkpoint()
    run(net, witness_of(net, "regulator", tmp_path / "w.json"))
    cp, note = bank_b.signed_checkpoint()
    assert cp == trusted
    assert [s.name for s in split_note(note)[1]] == ["arrears.test/ledger", "regulator"]
    assert bank_b.trust.trusted is not None and bank_b.trust.trusted.note != note


def test_witness_refuses_a_rolled_back_or_forked_log(net: LocalConsortium, tmp_path: Path) -> None:
    report(net.client("bank-a"), "L-1")
    state = tmp_path / "w.json"
    w = witness_of(net, "regulator", state)
    run(net, w)
    saved = json.loads(state.read_text())
    # The witness once saw a bigger tree: the log now looks rolled back.
    state.write_text(json.dumps({**saved, "tree_size": saved["tree_size"] + 5}))
    before = state.read_text()
    with pytest.raises(InconsistentCheckpointError, match="rolled back"):
        run(net, w)
    assert state.read_text() == before  # a refusal leaves the state alone
    # Another root at the same size: two histories.
    state.write_text(json.dumps({**saved, "root": "00" * 32}))
    with pytest.raises(InconsistentCheckpointError, match="two histories"):
        run(net, w)
    # A saved root that the new tree does not extend: the consistency proof fails.
    report(net.client("bank-a"), "L-9")
    state.write_text(json.dumps({**saved, "root": "11" * 32}))
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        run(net, w)


def test_a_cosignature_by_a_key_that_is_not_the_witness_s_is_refused(net: LocalConsortium) -> None:
    report(net.client("bank-a"), "L-1")
    client = net.client("regulator")
    head = net.node.ledger.log.head()
    body, _ = split_note(head.checkpoint)
    stranger = CosignatureSigner("regulator", load_ed25519(net.pki.member("bank-a").signing_key))
    line = NoteSignature("regulator", stranger.key_id, stranger.sign_at(body, 1_790_000_000)).line()
    aio = client.aio
    with pytest.raises(Unauthenticated, match="not a cosignature key of regulator"):
        client._run(
            aio._call(
                aio._log.AddCosignature,
                spb.AddCosignatureRequest(tree_size=head.size, signature_line=line),
            )
        )
    assert net.node.storage.cosignature_lines(head.size) == []


def test_lenders_can_require_witnesses(net: LocalConsortium, tmp_path: Path) -> None:
    report(net.client("bank-a"), "L-1")
    policy = WitnessPolicy(required=[verifier(net, "regulator")])
    trust = Trust(net.verifier_key, witness_policy=policy)
    lender = net.client("bank-b", trust=trust)
    with pytest.raises(NotFound, match="no witness has cosigned"):
        lender.check(APPLICANT, consent_reference="APP-1")
    w = witness_of(net, "regulator", tmp_path / "w.json")
    run(net, w)
    result = lender.check(APPLICANT, consent_reference="APP-2")
    assert [str(r.ref) for r in result.records] == ["bank-a/L-1"]
    # Entries after the cosigned checkpoint are not shown until witnesses catch up ...
    report(net.client("bank-a"), "L-2")
    assert len(lender.check(APPLICANT, consent_reference="APP-3").records) == 1
    # ... and the receipt's newer checkpoint did not make the older witnessed one unacceptable.
    run(net, w)
    assert len(lender.check(APPLICANT, consent_reference="APP-4").records) == 2
    # A policy that two banks must cosign is not met by the regulator alone.
    strict = WitnessPolicy(any_of=[verifier(net, "bank-a"), verifier(net, "bank-b")], threshold=2)
    other = net.client("bank-a", trust=Trust(net.verifier_key, witness_policy=strict))
    with pytest.raises(VerificationError, match="cosigned by 0 of bank-a, bank-b"):
        other.check(APPLICANT, consent_reference="APP-5")


def test_a_restarted_lender_still_refuses_answers_older_than_what_it_saw_cosigned(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """The largest cosigned checkpoint a lender accepted is kept in its state file: after a
    restart, a real older cosigned checkpoint (from before a report) is still refused as an
    answer, as it would leave that report out."""
    from tests.integration.test_sdk_answers import answer_at_an_old_tree

    policy = WitnessPolicy(required=[verifier(net, "regulator")])
    state = tmp_path / "bank-b.json"
    w = witness_of(net, "regulator", tmp_path / "w.json")
    report(net.client("bank-a"), "R-1")
    run(net, w)
    old_size = net.node.ledger.log.head().size
    old_note = net.node.cosigned_note(spb.LOG_NAME_LEDGER, old_size)
    report(net.client("bank-a"), "R-2")
    run(net, w)
    first = net.client(
        "bank-b", trust=Trust(net.verifier_key, state_file=state, witness_policy=policy)
    )
    assert {str(r.ref) for r in first.check(APPLICANT, consent_reference="A-1").records} >= {
        "bank-a/R-2"
    }
    restarted = net.client(
        "bank-b", trust=Trust(net.verifier_key, state_file=state, witness_policy=policy)
    )

    answer_at_an_old_tree(restarted, old_note, old_size)
    with pytest.raises(InconsistentCheckpointError, match=f"tree size {old_size}, older than"):
        restarted.check(APPLICANT, consent_reference="A-2")


def test_subject_report_lists_records_and_who_looked(net: LocalConsortium, tmp_path: Path) -> None:
    a, b = net.client("bank-a"), net.client("bank-b")
    report(a, "L-1")
    report(b, "L-2")
    b.settle("L-2", date(2026, 11, 20))
    b.check(APPLICANT, consent_reference="APP-77")
    a.check(APPLICANT, purpose=pb.PURPOSE_ACCOUNT_REVIEW, consent_reference="REV-1")
    op = net.client("operator")
    rep = op.subject_report(APPLICANT, request_reference="REQ-2026-0031")
    records = {str(r.ref): (r, until) for r, until in rep.records}
    assert set(records) == {"bank-a/L-1", "bank-b/L-2"}
    assert records["bank-a/L-1"][1] is None  # served while the default lasts
    assert records["bank-b/L-2"][1] == date(2031, 11, 20)  # five years after settlement
    who = [(q.member_id, q.purpose, q.consent_reference) for q in rep.inquiries]
    assert ("bank-b", pb.PURPOSE_LOAN_ORIGINATION, "APP-77") in who
    assert ("bank-a", pb.PURPOSE_ACCOUNT_REVIEW, "REV-1") in who
    # The operator's own request is on the record too (the next report will list it).
    again = op.subject_report(APPLICANT, request_reference="REQ-2026-0032")
    assert ("operator", pb.PURPOSE_SUBJECT_REQUEST, "REQ-2026-0031") in [
        (q.member_id, q.purpose, q.consent_reference) for q in again.inquiries
    ]
    page = render(rep, subject_label="resident_id:***002X", request_reference="REQ-2026-0031")
    assert "bank-b/L-2" in page and "until 2031-11-20" in page and "APP-77" in page
    assert APPLICANT not in page


def test_only_the_operator_makes_subject_reports(net: LocalConsortium) -> None:
    from arrears.client.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="ROLE_OPERATOR"):
        net.client("bank-a").subject_report(APPLICANT, request_reference="REQ-1")


def test_witnessing_the_inquiry_log(net: LocalConsortium, tmp_path: Path) -> None:
    report(net.client("bank-a"), "L-1")
    net.client("bank-b").check(APPLICANT, consent_reference="APP-1")
    client = net.client("regulator")
    key = load_ed25519(net.pki.member("regulator").signing_key)
    w = Witness(client.aio, key, tmp_path / "wi.json", log=spb.LOG_NAME_INQUIRIES)
    result = client._run(w.cycle())
    assert result.checkpoint.origin == "arrears.test/ledger/inquiries"
    assert net.node.inquiry_storage.cosignature_lines(result.checkpoint.size)


def test_one_witness_state_file_serves_one_log(net: LocalConsortium, tmp_path: Path) -> None:
    """The ledger's state, used for the inquiry log, is refused for what it is, not taken
    for a rolled-back log; nothing is cosigned and the file is left as it was."""
    from arrears.ledger.errors import InputError

    report(net.client("bank-a"), "L-1")
    net.client("bank-b").check(APPLICANT, consent_reference="APP-1")
    client = net.client("regulator")
    key = load_ed25519(net.pki.member("regulator").signing_key)
    state = tmp_path / "w.json"
    client._run(Witness(client.aio, key, state).cycle())
    before = state.read_text()
    inquiries = Witness(client.aio, key, state, log=spb.LOG_NAME_INQUIRIES)
    with pytest.raises(InputError, match=r"witness state of 'arrears\.test/ledger', not of"):
        client._run(inquiries.cycle())
    assert state.read_text() == before
    assert not net.node.inquiry_storage.cosignature_lines(net.node.inquiries.head().size)
