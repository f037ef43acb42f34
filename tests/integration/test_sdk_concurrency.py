"""One client used from many threads: answers finish out of order and must all verify."""

from __future__ import annotations

import threading
from datetime import date

from arrears.client.testing import LocalConsortium
from arrears.ledger.note import parse_verifier_key
from arrears.ledger.tlogproof import TlogProof


def test_concurrent_reports_and_checks_from_one_client() -> None:
    with LocalConsortium() as net:
        net.clock.set(date(2026, 11, 20))
        bank = net.client("bank-a")
        lender = net.client("bank-b")
        receipts, errors = [], []

        def work(k: int) -> None:
            try:
                for i in range(5):
                    receipts.append(
                        bank.report(
                            "11010519491231002X",
                            f"L-{k}-{i}",
                            principal_minor=1000,
                            outstanding_minor=900,
                            days_past_due=40,
                            first_missed_payment=date(2026, 9, 1),
                            borrower_notified_on=date(2026, 10, 1),
                        )
                    )
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
