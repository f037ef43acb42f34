"""Regulators' and borrowers' figures: a witness cycle on a large log, and a subject report.

The log is grown to size with filler leaves appended by the storage layer directly (the
ledger's rules are bypassed for them: a witness cycle reads only checkpoints and proofs, and a
subject report only its subject's entries), after a real consortium has reported records
about one subject and looked it up through the service.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from arrears.client.testing import LocalConsortium
from arrears.client.witness import Witness
from arrears.ledger.log import Entry, PlainEntries
from arrears.server.pki import load_ed25519
from arrears.v1 import events_pb2 as pb
from bench import report

SUBJECT = "11010519491231002X"


def _default(principal: int, outstanding: int) -> dict[str, Any]:
    """A report's fields: a loan 40 days past due, first missed on 2026-09-01, notified."""
    return {
        "principal_minor": principal,
        "outstanding_minor": outstanding,
        "days_past_due": 40,
        "first_missed_payment": date(2026, 9, 1),
        "borrower_notified_on": date(2026, 10, 1),
    }


def _quick() -> bool:
    return os.environ.get("ARREARS_BENCH_QUICK", "") not in ("", "0")


def main() -> None:
    size = 100_000 if _quick() else 1_000_000
    report.section(f"Witness cycle and subject report, at {size:,} entries (SQLite)")
    members = {
        "bank-a": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
        "bank-b": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
        "regulator": (pb.ROLE_REGULATOR,),
    }
    with (
        tempfile.TemporaryDirectory(prefix="arrears-bench-") as tmp,
        LocalConsortium(members, directory=Path(tmp)) as net,
    ):
        net.clock.set(date(2026, 11, 20))
        a, b, op = net.client("bank-a"), net.client("bank-b"), net.client("operator")
        for bank, prefix in ((a, "A"), (b, "B")):
            for i in range(5):
                bank.report(SUBJECT, f"{prefix}-{i}", **_default(100_000, 90_000))
        for i in range(40):
            b.check(SUBJECT, consent_reference=f"APP-{i}")
        log = net.node.ledger.log
        real = log.sequencer
        log.sequencer = PlainEntries()
        t0 = time.perf_counter()
        while log.head().size < size:
            n = min(10_000, size - log.head().size)
            log.append_batch(
                [Entry(os.urandom(32), os.urandom(150), os.urandom(64)) for _ in range(n)]
            )
        log.sequencer = real
        print(
            f"  .. filled to {log.head().size:,} entries in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

        regulator = net.client("regulator")
        key = load_ed25519(net.pki.member("regulator").signing_key)
        w = Witness(regulator.aio, key, Path(tmp) / "witness.json")
        regulator._run(w.cycle())  # the witness's first look
        cycles = []
        for i in range(20):
            a.report(SUBJECT, f"A-x{i}", **_default(1000, 900))
            t = time.perf_counter()
            regulator._run(w.cycle())
            cycles.append(time.perf_counter() - t)
        p99 = report.percentile(cycles, 99)
        report.figure(
            f"witness cycle (fetch, prove, cosign, submit) at {size:,}",
            p99 * 1000,
            "ms p99",
            "≤ 1,000 ms",
            p99 <= 1.0,
        )
        print(
            f"  [info]   median {statistics.median(cycles) * 1000:.1f} ms, {len(cycles)} cycles",
            flush=True,
        )

        op.subject_report(SUBJECT, request_reference="warm-up")
        times = []
        for i in range(50):
            t = time.perf_counter()
            rep = op.subject_report(SUBJECT, request_reference=f"REQ-{i}")
            times.append(time.perf_counter() - t)
        p99 = report.percentile(times, 99)
        report.figure(
            f"subject report ({len(rep.records)} records, {len(rep.inquiries)} lookups), verified",
            p99 * 1000,
            "ms p99",
            "≤ 100 ms",
            p99 <= 0.1,
        )
        print(f"  [info]   median {statistics.median(times) * 1000:.1f} ms", flush=True)
