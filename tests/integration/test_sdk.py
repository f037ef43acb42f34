"""The SDK end to end against a real server (LocalConsortium: gRPC over mutual TLS on
127.0.0.1, SQLite in a temporary directory, a settable clock): origination checks with a
policy, batch pre-screening, retention, disputes, watch alerts and their replay, bulk upload
with idempotent retries, offline receipts, persisted trust and erasure."""

from __future__ import annotations

import asyncio
import gc
import json
import queue
import threading
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from arrears.client import (
    Alert,
    Client,
    FailedPrecondition,
    Policy,
    RecordRef,
    SubjectKind,
    parse_subject,
)
from arrears.client.testing import LocalConsortium
from arrears.ledger import events as ev
from arrears.ledger.errors import (
    InconsistentCheckpointError,
    InputError,
    ProofError,
    SignatureError,
)
from arrears.ledger.leaf import Leaf
from arrears.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from arrears.ledger.note import Ed25519Signer, parse_verifier_key
from arrears.ledger.records import Status, decode_submission
from arrears.ledger.tlogproof import TlogProof
from arrears.v1 import events_pb2 as pb

DAY = date(2026, 6, 15)  # the consortium's "today" unless a test moves the clock
BANKS = ["bank-a", "bank-b", "bank-c", "bank-d"]
CONSENT = "consent-2026-0001"

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # GB 11643: 7 9 10 5 8 4 2 1 6 3 ...
_CHECK = "10X98765432"


def resident_id(n: int, area: str = "110105") -> str:
    """The ``n``-th valid resident ID: area code, a 1980s birth date, sequence, check char."""
    born = date(1980, 1, 1) + timedelta(days=n // 1000)
    body = f"{area}{born:%Y%m%d}{n % 1000:03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def default(
    first_missed: date, days_past_due: int = 45, outstanding: int = 800_000
) -> dict[str, Any]:
    """The fields of a report: a personal loan of 10,000.00 CNY in default."""
    return {
        "principal_minor": 1_000_000,
        "outstanding_minor": outstanding,
        "days_past_due": days_past_due,
        "first_missed_payment": first_missed,
        "borrower_notified_on": first_missed + timedelta(days=days_past_due // 2),
    }


RECENT = default(date(2026, 4, 1))


@pytest.fixture
def net() -> Iterator[LocalConsortium]:
    consortium = LocalConsortium(BANKS)
    consortium.clock.set(DAY)  # before start: even the admissions happen on DAY
    with consortium:
        yield consortium


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def watching(net: LocalConsortium, member_id: str) -> Callable[[], bool]:
    return lambda: bool(net.node.watch.subscribers.get(member_id))


def test_resident_id_helper_makes_valid_ids() -> None:
    assert resident_id(2, "110105")[:14] == "11010519800101"
    for n in (0, 1, 999, 1000, 12_345):
        sid = resident_id(n)
        assert parse_subject(SubjectKind.RESIDENT_ID, sid).value == sid
    # the check character of a published example
    body = "11010519491231002"
    assert body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11] == (
        "11010519491231002X"
    )


# --- origination -------------------------------------------------------------------------------


def test_three_defaults_at_three_banks_decline_the_application_at_a_fourth(
    net: LocalConsortium,
) -> None:
    applicant = resident_id(1)
    net.client("bank-a").report(applicant, "a-2024-17", **default(date(2024, 11, 1), 30))
    net.client("bank-a").report(applicant, "a-2025-88", **default(date(2025, 8, 1), 95))
    net.client("bank-b").report(applicant, "b-card-3", **default(date(2026, 1, 5), 45, 200_000))
    net.client("bank-d").report(applicant, "d-auto-1", **default(date(2026, 1, 20), 120))

    result = net.client("bank-c").check(applicant, consent_reference=CONSENT)

    assert result.as_of == DAY
    assert {r.ref for r in result.records} == {
        RecordRef("bank-a", "a-2024-17"),
        RecordRef("bank-a", "a-2025-88"),
        RecordRef("bank-b", "b-card-3"),
        RecordRef("bank-d", "d-auto-1"),
    }
    s = result.summary
    assert s.defaults_12m == 3
    assert s.defaults_24m == 4
    assert s.active == 4 and s.settled == 0
    assert s.worst_dpd_bucket == 4  # 95 and 120 days past due: bucket 4 (91-120 days)
    assert s.outstanding == {"CNY": 3 * 800_000 + 200_000}
    assert s.reporting_members == ("bank-a", "bank-b", "bank-d")
    assert not s.open_dispute

    decision = Policy.default().decide(s)
    assert decision.outcome == "decline"
    assert decision.reasons == (
        "3 or more defaults in the last 12 months (defaults_12m = 3)",
        "a default more than 90 days past due (worst_dpd_bucket = 4)",
        "an active default (active = 4)",
    )
    assert result.checkpoint.size == net.node.ledger.log.head().size


def test_an_unknown_subject_has_no_records(net: LocalConsortium) -> None:
    net.client("bank-a").report(resident_id(1), "a-1", **RECENT)
    result = net.client("bank-c").check(resident_id(2), consent_reference=CONSENT)
    assert result.records == ()
    assert result.summary.defaults_60m == 0 and result.summary.active == 0
    assert Policy.default().decide(result.summary).outcome == "approve"


def test_batch_prescreening_of_50_subjects_answers_in_order(net: LocalConsortium) -> None:
    subjects = [resident_id(100 + i) for i in range(50)]
    a, b = net.client("bank-a"), net.client("bank-b")
    for i in (3, 17, 42):
        a.report(subjects[i], f"a-{i}", **RECENT)
    b.report(subjects[17], "b-17", **RECENT)
    expected = {
        3: {RecordRef("bank-a", "a-3")},
        17: {RecordRef("bank-a", "a-17"), RecordRef("bank-b", "b-17")},
        42: {RecordRef("bank-a", "a-42")},
    }

    async def prescreen() -> tuple[list[bytes], list[Any]]:
        async with net.async_client("bank-c") as c:
            results = await c.check_batch(
                subjects, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
            )
            return await c.pseudonyms(subjects), results

    pseudonyms, results = asyncio.run(prescreen())
    assert len(results) == 50
    assert [r.pseudonym for r in results] == pseudonyms
    assert len(set(pseudonyms)) == 50
    for i, r in enumerate(results):
        assert {x.ref for x in r.records} == expected.get(i, set()), i
        assert r.summary.defaults_12m == len(expected.get(i, ()))
    inquiries = [r.inquiry_id for r in results]
    assert inquiries == sorted(set(inquiries))  # one recorded inquiry per subject, in order


# --- retention and disputes --------------------------------------------------------------------


def test_a_settled_record_is_served_for_five_years_after_settlement(
    net: LocalConsortium,
) -> None:
    borrower = resident_id(5)
    a = net.client("bank-a")
    a.report(borrower, "a-1", **default(date(2026, 2, 1)))
    a.settle("a-1", DAY)
    lender = net.client("bank-c")

    today = lender.check(borrower, consent_reference=CONSENT)
    (rec,) = today.records
    assert rec.status is Status.SETTLED and rec.settled_on == DAY
    assert (today.summary.active, today.summary.settled) == (0, 1)

    net.clock.set(date(2031, 6, 14))  # the last day of the five years
    last_day = lender.check(borrower, consent_reference=CONSENT)
    assert [r.ref for r in last_day.records] == [RecordRef("bank-a", "a-1")]
    assert last_day.summary.settled == 1
    assert last_day.summary.defaults_60m == 0  # the first missed payment is 64 months back

    net.clock.set(date(2031, 6, 15))  # five years after the settlement: no longer served
    expired = lender.check(borrower, consent_reference=CONSENT)
    assert expired.records == ()
    assert expired.summary.settled == 0
    assert expired.inquiry_id > last_day.inquiry_id  # every lookup is an inquiry on record


def test_a_dispute_is_flagged_to_every_querier_until_resolved(net: LocalConsortium) -> None:
    borrower = resident_id(6)
    a, op = net.client("bank-a"), net.client("operator")
    a.report(borrower, "a-1", **RECENT)
    ref = a.ref("a-1")
    op.open_dispute(ref, "d-1", DAY, "the borrower says the loan was repaid")

    queriers = [net.client(m) for m in ("bank-b", "bank-c", "bank-d", "bank-a")]
    for q in queriers:
        (rec,) = q.check(borrower, consent_reference=CONSENT).records
        assert rec.open_dispute is not None and rec.open_dispute.dispute_id == "d-1"
    seen = queriers[0].check(borrower, consent_reference=CONSENT).summary
    assert seen.open_dispute and not seen.overdue_dispute
    decision = Policy.default().decide(seen)
    assert decision.outcome == "refer"
    assert "a record is under dispute (open_dispute = True)" in decision.reasons

    net.clock.set(DAY + timedelta(days=21))  # unanswered beyond the 20-day deadline
    assert queriers[1].check(borrower, consent_reference=CONSENT).summary.overdue_dispute

    a.resolve_dispute(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, DAY + timedelta(days=21))
    for q in queriers:
        (rec,) = q.check(borrower, consent_reference=CONSENT).records
        assert rec.open_dispute is None
        assert rec.status is Status.ACTIVE
        assert [d.outcome for d in rec.disputes] == [pb.DISPUTE_OUTCOME_REJECTED]
    after = queriers[2].check(borrower, consent_reference=CONSENT).summary
    assert not after.open_dispute and not after.overdue_dispute and after.active == 1

    op.open_dispute(ref, "d-2", DAY + timedelta(days=21), "new evidence of repayment")
    op.resolve_dispute(ref, "d-2", pb.DISPUTE_OUTCOME_WITHDRAWN, DAY + timedelta(days=21))
    for q in queriers:
        assert q.check(borrower, consent_reference=CONSENT).records == ()


# --- watching ----------------------------------------------------------------------------------


def test_a_watch_alert_reaches_the_existing_lender_when_another_bank_reports(
    net: LocalConsortium,
) -> None:
    borrower, stranger = resident_id(7), resident_id(8)
    lender, other = net.client("bank-a"), net.client("bank-b")
    assert lender.register([(borrower, "loan-ref")]) == 1

    watcher = net.client("bank-a")  # the stream has a connection of its own
    alerts: queue.Queue[Alert | BaseException] = queue.Queue()

    def watch() -> None:
        try:
            for alert in watcher.watch():
                alerts.put(alert)
        except BaseException as e:  # the stream ends when the watcher is closed
            alerts.put(e)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    wait_until(watching(net, "bank-a"))

    started = time.monotonic()
    reported = other.report(borrower, "b-1", **RECENT)
    alert = alerts.get(timeout=5)
    assert isinstance(alert, Alert), alert
    assert time.monotonic() - started < 5
    assert alert.relationship_reference == "loan-ref"
    assert alert.record == RecordRef("bank-b", "b-1")
    assert alert.event == "record_reported"
    assert alert.index == alert.cursor == reported.index
    assert alert.pseudonym == lender.pseudonym(borrower)
    assert alert.checkpoint.size > reported.index

    # the lender's own reports and updates, and reports about others, raise no alert: the
    # next alert is bank-b's update (alerts arrive in ledger order)
    lender.report(borrower, "a-1", **RECENT)
    lender.update("a-1", days_past_due=75)
    other.report(stranger, "b-2", **RECENT)
    updated = other.update("b-1", days_past_due=80)
    alert = alerts.get(timeout=5)
    assert isinstance(alert, Alert), alert
    assert (alert.index, alert.event) == (updated.index, "record_updated")
    assert alert.record == RecordRef("bank-b", "b-1")

    watcher.close()  # ends the stream the thread is blocked on, instead of hanging it
    thread.join(5)
    assert not thread.is_alive()
    ends = [alerts.get_nowait() for _ in range(alerts.qsize())]
    assert len(ends) == 1 and not isinstance(ends[0], Alert), ends


def test_a_resumed_watch_replays_the_alerts_missed_while_disconnected(
    net: LocalConsortium,
) -> None:
    borrower, stranger = resident_id(9), resident_id(10)

    async def next_alert(stream: AsyncIterator[Alert]) -> Alert:
        return await asyncio.wait_for(anext(stream), 5)

    async def until_watching() -> None:
        for _ in range(500):
            if watching(net, "bank-a")():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the watch stream did not start")

    async def scenario() -> None:
        bank_b = net.async_client("bank-b")
        trust = net.trust()
        async with net.async_client("bank-a", trust=trust) as a:
            assert await a.register([(borrower, "loan-77")]) == 1
            stream = cast(AsyncGenerator[Alert, None], a.watch())
            pending = asyncio.ensure_future(next_alert(stream))
            await until_watching()
            first = await bank_b.report(borrower, "b-1", **RECENT)
            seen = await pending
            assert seen.index == first.index
            await stream.aclose()
        # disconnected: these happen while nobody at bank-a is listening
        missed = [
            await bank_b.update("b-1", days_past_due=60),
            await bank_b.report(borrower, "b-2", **RECENT),
        ]
        await bank_b.report(stranger, "b-3", **RECENT)
        async with net.async_client("bank-a", trust=trust) as a:
            stream = cast(AsyncGenerator[Alert, None], a.watch(cursor=seen.cursor))
            replayed = [await next_alert(stream), await next_alert(stream)]
            assert [x.index for x in replayed] == [r.index for r in missed]
            assert [x.event for x in replayed] == ["record_updated", "record_reported"]
            assert {x.relationship_reference for x in replayed} == {"loan-77"}
            assert [x.record.record_id for x in replayed] == ["b-1", "b-2"]
            live = asyncio.ensure_future(next_alert(stream))
            settled = await bank_b.settle("b-1", DAY)
            alert = await live
            assert (alert.index, alert.event) == (settled.index, "record_settled")
            await stream.aclose()
        await bank_b.close()

    asyncio.run(scenario())


# --- submissions -------------------------------------------------------------------------------


def test_a_bulk_upload_of_300_reports_and_its_retry(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    subjects = [resident_id(2000 + i) for i in range(300)]
    pseudonyms = a.pseudonyms(subjects)
    rows = []
    for i, (s, p) in enumerate(zip(subjects, pseudonyms, strict=True)):
        env, opening = a.prepare_report(s, f"bulk-{i}", pseudonym=p, **RECENT)
        rows.append((f"row-{i}", env, opening))
    before = a.checkpoint().size

    results = list(a.submit_stream(rows, batch=100))
    assert [r.client_ref for r in results] == [f"row-{i}" for i in range(300)]
    assert all(r.error is None for r in results), [r.error for r in results if r.error][:3]
    receipts = [r.receipt for r in results if r.receipt is not None]
    assert len(receipts) == 300
    indexes = [r.index for r in receipts]
    assert indexes == list(range(before, before + 300))  # in upload order, no gaps
    assert not any(r.replayed for r in receipts)
    after = a.checkpoint().size
    assert after == before + 300

    again = list(a.submit_stream(rows, batch=100))
    assert [r.client_ref for r in again] == [f"row-{i}" for i in range(300)]
    assert all(r.receipt is not None and r.receipt.replayed for r in again)
    assert [r.receipt.index for r in again if r.receipt] == indexes
    assert a.checkpoint().size == after  # nothing added
    for bad in (0, 1001):
        with pytest.raises(InputError, match="batch"):
            list(a.submit_stream(rows, batch=bad))
    assert a.checkpoint().size == after

    checks = net.client("bank-c").check_batch(subjects[::100], consent_reference=CONSENT)
    assert [[r.ref.record_id for r in c.records] for c in checks] == [
        ["bulk-0"],
        ["bulk-100"],
        ["bulk-200"],
    ]


def test_a_receipts_tlog_proof_verifies_offline(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    receipt = a.report(resident_id(11), "a-1", **RECENT)
    leaf = a.inclusion_proof(receipt.index, receipt.tree_size).leaf
    assert leaf_hash(leaf) == receipt.leaf_hash
    sub = decode_submission(Leaf.decode(leaf).payload)
    assert sub.member_id == "bank-a" and sub.record_reported.record_id == "a-1"

    verifier = parse_verifier_key(net.verifier_key)
    proof = TlogProof.parse(receipt.tlog_proof)
    cp = proof.verify(leaf, [verifier])
    assert cp == receipt.checkpoint
    assert proof.index == receipt.index

    # still good later: the newer checkpoint extends the one in the receipt
    for i in range(3):
        a.report(resident_id(12 + i), f"a-{2 + i}", **RECENT)
    latest = a.checkpoint()
    verify_consistency(
        cp.size,
        latest.size,
        cp.root,
        latest.root,
        a.consistency_proof(cp.size, latest.size),
    )
    fresh = a.inclusion_proof(receipt.index, latest.size)
    verify_inclusion(receipt.index, latest.size, receipt.leaf_hash, fresh.hashes, latest.root)

    moved = receipt.tlog_proof.replace(f"index {receipt.index}\n", f"index {receipt.index - 1}\n")
    with pytest.raises(ProofError):
        TlogProof.parse(moved).verify(leaf, [verifier])
    with pytest.raises(ProofError):
        proof.verify(leaf[:-1] + bytes([leaf[-1] ^ 1]), [verifier])
    stranger = Ed25519Signer.generate(cp.origin).verifier_key
    with pytest.raises(SignatureError):
        proof.verify(leaf, [parse_verifier_key(stranger)])


def test_trust_persisted_in_a_file_moves_forward_across_clients(
    net: LocalConsortium, tmp_path: Path
) -> None:
    state = tmp_path / "trust" / "bank-c.json"
    borrower = resident_id(20)
    a = net.client("bank-a")
    a.report(borrower, "a-1", **RECENT)

    first = net.client("bank-c", trust=net.trust(state))
    seen = first.check(borrower, consent_reference=CONSENT)
    size1 = seen.checkpoint.size
    assert first.trust.size == size1
    assert json.loads(state.read_text())["tree_size"] == size1
    first.close()

    a.report(borrower, "a-2", **RECENT)
    a.update("a-1", days_past_due=90)

    second = net.client("bank-c", trust=net.trust(state))
    assert second.trust.size == size1  # picked up where the first client left off
    later = second.check(borrower, consent_reference=CONSENT)
    assert later.checkpoint.size > size1
    assert {r.ref.record_id: r.days_past_due for r in later.records} == {"a-1": 90, "a-2": 45}
    assert json.loads(state.read_text())["tree_size"] == later.checkpoint.size == second.trust.size

    # a third start is not shown the history the first one saw as the latest
    old_note = net.node.storage.checkpoint_at(size1)
    assert old_note is not None
    with pytest.raises(InconsistentCheckpointError, match="rolled back"):
        net.trust(state).accept(old_note)


def test_erasure_makes_the_record_disappear_from_checks(net: LocalConsortium) -> None:
    borrower = resident_id(30)
    a, b, op = net.client("bank-a"), net.client("bank-b"), net.client("operator")
    reported = a.report(borrower, "a-1", **RECENT)
    b.report(borrower, "b-1", **RECENT)
    lender = net.client("bank-c")
    assert len(lender.check(borrower, consent_reference=CONSENT).records) == 2

    with pytest.raises(FailedPrecondition):  # retention has not ended: only a lawful request
        op.submit(ev.record_erased(a.ref("a-1"), pb.ERASURE_REASON_RETENTION_ENDED))
    erased = op.submit(ev.record_erased(a.ref("a-1"), pb.ERASURE_REASON_LAWFUL_REQUEST))

    for q in (lender, a, b):
        after = q.check(borrower, consent_reference=CONSENT)
        assert [r.ref for r in after.records] == [RecordRef("bank-b", "b-1")]
        assert after.summary.reporting_members == ("bank-b",)
    # the ledger still proves the erased report and its erasure; a lender gets the hashes of
    # other members' entries, never the entries
    for index in (reported.index, erased.index):
        p = lender.inclusion_proof(index)
        assert p.leaf == b""
        latest = lender.checkpoint()
        verify_inclusion(index, p.tree_size, p.leaf_hash, p.hashes, latest.root)
    own = a.inclusion_proof(reported.index)
    assert own.leaf and leaf_hash(own.leaf) == own.leaf_hash


def test_closed_clients_and_consortium_release_their_event_loops() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with LocalConsortium(["bank-a"]) as net:
            with Client(net.target, net.identity("bank-a"), net.trust()) as c:
                assert c.checkpoint().size == net.node.ledger.log.head().size
            net.client("bank-a").checkpoint()
            del c
        del net
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
