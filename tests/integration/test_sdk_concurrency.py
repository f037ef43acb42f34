"""One client used from many threads: answers finish out of order and must all verify."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from typing import Any

import pytest
from prometheus_client import REGISTRY

from arrears.client import CheckResult, InvalidArgument
from arrears.client.testing import LocalConsortium
from arrears.ledger.leaf import Leaf
from arrears.ledger.note import parse_verifier_key
from arrears.ledger.tlogproof import TlogProof
from arrears.server.service import LookupServicer
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2_grpc as sgrpc


def resident_id(n: int) -> str:
    """The n-th of a thousand distinct valid resident IDs (GB 11643, MOD 11-2 check)."""
    body = f"11010519500101{n:03d}"
    total = sum(
        int(c) * w
        for c, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    return body + "10X98765432"[total % 11]


DEFAULT: dict[str, Any] = {  # a report's fields: a loan 40 days past due, the borrower notified
    "principal_minor": 1000,
    "outstanding_minor": 900,
    "days_past_due": 40,
    "first_missed_payment": date(2026, 9, 1),
    "borrower_notified_on": date(2026, 10, 1),
}


def test_concurrent_reports_and_checks_from_one_client() -> None:
    with LocalConsortium() as net:
        net.clock.set(date(2026, 11, 20))
        bank = net.client("bank-a")
        lender = net.client("bank-b")
        receipts, errors = [], []

        def work(k: int) -> None:
            try:
                for i in range(5):
                    receipts.append(bank.report("11010519491231002X", f"L-{k}-{i}", **DEFAULT))
                    lender.check("11010519491231002X", consent_reference=f"APP-{k}-{i}")
            except Exception as e:  # every failure is reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(receipts) == 40
        verifier = parse_verifier_key(net.verifier_key)
        for r in receipts:
            TlogProof.parse(r.tlog_proof).verify(r.leaf, [verifier])
        assert bank.trust.size == max(r.tree_size for r in receipts)


def test_concurrent_checks_are_each_recorded_as_their_own_inquiry() -> None:
    """Lookups that arrive together are answered together; each keeps its own asker, purpose,
    consent and answer."""
    subjects = ["11010519491231002X", "510107195001090005"]
    with LocalConsortium(["bank-a", "bank-b", "bank-c"]) as net:
        net.clock.set(date(2026, 11, 20))
        net.client("bank-a").report(subjects[0], "L-1", **DEFAULT)
        purposes = (pb.PURPOSE_LOAN_ORIGINATION, pb.PURPOSE_ACCOUNT_REVIEW)

        async def ask_all() -> list[tuple[str, int, str, int, CheckResult]]:
            async with (
                net.async_client("bank-b") as b,
                net.async_client("bank-c") as c,
            ):
                asks = [
                    (who, k % 2, purposes[k % 2], f"APP-{who.identity.member_id}-{k}")
                    for k in range(24)
                    for who in (b, c)
                ]
                got = await asyncio.gather(
                    *(
                        who.check(subjects[s], purpose=p, consent_reference=ref)
                        for who, s, p, ref in asks
                    )
                )
            return [
                (who.identity.member_id, s, ref, p, r)
                for (who, s, p, ref), r in zip(asks, got, strict=True)
            ]

        answers = asyncio.run(ask_all())
        leaves = net.node.inquiry_storage.read_leaves_at([r.inquiry_id for *_, r in answers])
        assert len(leaves) == len(answers) == 48
        for member_id, s, ref, purpose, r in answers:
            assert [x.ref.record_id for x in r.records] == (["L-1"] if s == 0 else [])
            inquiry = pb.Inquiry.FromString(Leaf.decode(leaves[r.inquiry_id]).payload)
            assert (inquiry.member_id, inquiry.purpose, inquiry.consent_reference) == (
                member_id,
                purpose,
                ref,
            )


def _calls(method: str) -> float:
    return REGISTRY.get_sample_value("arrears_call_seconds_count", {"method": method}) or 0.0


def test_concurrent_checks_share_round_trips_and_fail_alone() -> None:
    """check() calls made at the same time travel together: one Evaluate for the pseudonyms
    not yet known, one CheckMany for the lookups; a refused lookup fails only its caller."""
    subjects = [resident_id(n) for n in range(40)]
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(date(2026, 11, 20))
        net.client("bank-a").report(subjects[0], "L-1", **DEFAULT)

        async def ask_all() -> list[Any]:
            async with net.async_client("bank-b") as b:
                await b.checkpoint()
                await b.oprf_key()
                evaluations, lookups = _calls("Evaluate"), _calls("CheckMany")
                got = await asyncio.gather(
                    *(
                        b.check(s, consent_reference="" if k == 5 else f"APP-{k}")
                        for k, s in enumerate(subjects)
                    ),
                    return_exceptions=True,
                )
                trips = (_calls("Evaluate") - evaluations, _calls("CheckMany") - lookups)
            return [got, trips]

        asked = net.node.inquiries.head().size
        got, (evaluations, lookups) = asyncio.run(ask_all())
        # Two lanes: the first caller's trip goes at once, the others gather behind it.
        assert 1 <= evaluations <= 4 and 1 <= lookups <= 4
        err = got[5]
        assert isinstance(err, InvalidArgument) and err.field == "consent_reference"
        assert str(err).startswith("consent_reference: required")
        answers = [r for k, r in enumerate(got) if k != 5]
        assert all(isinstance(r, CheckResult) for r in answers)
        assert [x.ref.record_id for x in answers[0].records] == ["L-1"]
        assert not any(r.records for r in answers[1:])
        assert net.node.inquiries.head().size == asked + 39
        assert len({r.inquiry_id for r in answers}) == 39


def test_checks_against_a_server_without_check_many_go_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server from before CheckMany answers UNIMPLEMENTED; the SDK then asks with one Check
    call per lookup, and every answer is verified as before."""
    monkeypatch.setattr(LookupServicer, "CheckMany", sgrpc.LookupServicer.CheckMany)
    subjects = [resident_id(n) for n in range(6)]
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(date(2026, 11, 20))
        net.client("bank-a").report(subjects[0], "L-1", **DEFAULT)

        async def ask_all() -> tuple[list[CheckResult], float]:
            async with net.async_client("bank-b") as b:
                singles = _calls("Check")
                got = [
                    *await asyncio.gather(
                        *(b.check(s, consent_reference=f"APP-{k}") for k, s in enumerate(subjects))
                    ),
                    await b.check(subjects[0], consent_reference="APP-again"),
                ]
                return got, _calls("Check") - singles

        got, singles = asyncio.run(ask_all())
        assert singles == 7
        assert [[x.ref.record_id for x in r.records] for r in got] == [["L-1"]] + [[]] * 5 + [
            ["L-1"]
        ]
        assert len({r.inquiry_id for r in got}) == 7
