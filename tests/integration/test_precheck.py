"""Bulk uploads checked by worker processes: the rows they pass are the rows the server's own
checks pass, and every other row is refused exactly as the server itself refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from arrears.client.testing import LocalConsortium
from arrears.ledger.envelope import Envelope
from arrears.ledger.errors import ArrearsError
from arrears.ledger.ledger import RECORD_EVENTS
from arrears.ledger.records import Member
from arrears.server.config import Limits
from arrears.server.precheck import CheckPool
from arrears.server.service import CHECK_POOL_MIN, Services, SubmitCore
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb

SUBJECTS = ["11010519491231002X", "510107195001090005", "44030519500108000X"]
FIELDS: dict[str, Any] = {
    "principal_minor": 1000,
    "outstanding_minor": 900,
    "days_past_due": 40,
    "first_missed_payment": date(2026, 9, 1),
    "borrower_notified_on": date(2026, 10, 1),
}


@pytest.fixture(scope="module")
def net() -> Iterator[LocalConsortium]:
    with LocalConsortium(["bank-a", "bank-b"]) as consortium:
        consortium.clock.set(date(2026, 11, 20))
        yield consortium


# The faulty rows of _requests, in order: each refused by a check that needs no ledger state,
# but for the unknown key, which the workers cannot know either.
FAULTS = ["bad-signature", "other-member", "s", "no-opening", "unknown-key", "extra"]


def _request(env: Envelope, opening: pb.SubjectOpening | None, ref: str) -> spb.SubmitRequest:
    r = spb.SubmitRequest(client_ref=ref)
    r.envelope.key_id, r.envelope.payload, r.envelope.signature = (
        env.key_id,
        env.payload,
        env.signature,
    )
    if opening is not None:
        r.opening.CopyFrom(opening)
    return r


def _requests(net: LocalConsortium) -> list[spb.SubmitRequest]:
    """80 good reports by bank-a, and among them every kind of fault a stateless check finds
    (and one it cannot: an unknown key)."""
    a, b = net.client("bank-a"), net.client("bank-b")
    good = [
        _request(*a.prepare_report(SUBJECTS[i % 3], f"PC-{i:03d}", **FIELDS), f"good-{i}")
        for i in range(80)
    ]
    env, opening = a.prepare_report(SUBJECTS[0], "PC-bad", **FIELDS)
    bad_sig = _request(Envelope(env.key_id, env.payload, bytes(64)), opening, "bad-signature")
    other = _request(*b.prepare_report(SUBJECTS[1], "PC-b", **FIELDS), "other-member")
    wrong_salt = _request(env, pb.SubjectOpening(pseudonym=opening.pseudonym, salt=bytes(32)), "s")
    no_opening = _request(env, None, "no-opening")
    unknown = _request(Envelope(bytes(32), env.payload, env.signature), opening, "unknown-key")
    noncanonical = _request(
        Envelope(env.key_id, env.payload + b"\xf8\x07\x01", env.signature), opening, "extra"
    )
    no_envelope = spb.SubmitRequest(client_ref="no-envelope")
    faults = [bad_sig, other, wrong_salt, no_opening, unknown, noncanonical, no_envelope]
    out = list(good)
    for k, f in enumerate(faults):
        out.insert(10 * k + 5, f)
    return out


def _outcome(x: Any) -> Any:
    if isinstance(x, ArrearsError):
        return (type(x).__name__, str(x))
    return (x.envelope, x.submission.SerializeToString(deterministic=True), x.opening, x.public_key)


def test_worker_checks_accept_and_refuse_exactly_what_the_server_does(
    net: LocalConsortium,
) -> None:
    reqs = _requests(net)
    assert len(reqs) >= CHECK_POOL_MIN
    member = net.node.ledger.registry.members["bank-a"]
    assert isinstance(member, Member)
    here = Services(net.node, Limits())
    pooled = Services(net.node, Limits(), check_processes=2)
    try:
        expected = SubmitCore(here).prepare_many(member, reqs, RECORD_EVENTS)
        got = SubmitCore(pooled).prepare_many(member, reqs, RECORD_EVENTS)
    finally:
        here.close()
        pooled.close()
    assert [_outcome(x) for x in got] == [_outcome(x) for x in expected]
    refused = [r.client_ref for r, x in zip(reqs, got, strict=True) if isinstance(x, ArrearsError)]
    assert refused == [*FAULTS, "no-envelope"]


def test_the_workers_verdicts_row_by_row(net: LocalConsortium) -> None:
    reqs = [r for r in _requests(net) if r.HasField("envelope")]
    keys = net.node.ledger.registry.keys
    rows = []
    for r in reqs:
        key = keys.get(r.envelope.key_id)
        opened = r.HasField("opening")
        rows.append(
            (
                r.envelope.key_id,
                r.envelope.payload,
                r.envelope.signature,
                r.opening.pseudonym if opened else None,
                r.opening.salt if opened else None,
                b"" if key is None else key.public_key,
            )
        )
    pool = CheckPool(1)
    try:
        verdicts = pool.passes(net.node.ledger.origin, "bank-a", RECORD_EVENTS, rows)
    finally:
        pool.close()
    assert verdicts is not None
    assert [r.client_ref for r, ok in zip(reqs, verdicts, strict=True) if not ok] == FAULTS


def test_a_stream_checked_by_workers_commits_the_good_rows_and_refuses_the_rest(
    net: LocalConsortium,
) -> None:
    reqs = _requests(net)
    a = net.client("bank-a")
    before = a.checkpoint().size
    rows = [
        (
            r.client_ref,
            Envelope(r.envelope.key_id, r.envelope.payload, r.envelope.signature),
            r.opening if r.HasField("opening") else None,
        )
        for r in reqs
        if r.HasField("envelope")
    ]
    results = list(a.submit_stream(rows, batch=len(rows)))
    refused = {r.client_ref: type(r.error).__name__ for r in results if r.receipt is None}
    assert refused == {
        "bad-signature": "Unauthenticated",
        "other-member": "PermissionDenied",
        "s": "InvalidArgument",
        "no-opening": "InvalidArgument",
        "unknown-key": "PermissionDenied",
        "extra": "InvalidArgument",
    }
    assert [r.receipt.index for r in results if r.receipt is not None] == list(
        range(before, before + 80)
    )
    running = net._running
    assert running is not None
    checks = running.services.checks
    assert checks is not None and not checks.failed and checks._workers  # the worker ran


def test_workers_that_fail_leave_the_checks_to_the_server(
    net: LocalConsortium, caplog: pytest.LogCaptureFixture
) -> None:
    pool = CheckPool(1)
    unpicklable: Any = (lambda: None,) * 6  # cannot be sent to a worker
    try:
        assert pool.passes(net.node.ledger.origin, "bank-a", RECORD_EVENTS, [unpicklable]) is None
        assert pool.failed
        assert "the server checks uploads itself" in caplog.text
        # From then on, no more attempts: every message is checked by the server.
        assert pool.passes(net.node.ledger.origin, "bank-a", RECORD_EVENTS, [unpicklable]) is None
    finally:
        pool.close()


def test_a_worker_killed_between_messages_leaves_the_checks_to_the_server(
    net: LocalConsortium,
) -> None:
    reqs = [r for r in _requests(net) if r.client_ref.startswith("good-")][:10]
    keys = net.node.ledger.registry.keys
    rows: list[Any] = [
        (
            r.envelope.key_id,
            r.envelope.payload,
            r.envelope.signature,
            r.opening.pseudonym,
            r.opening.salt,
            keys[r.envelope.key_id].public_key,
        )
        for r in reqs
    ]
    pool = CheckPool(1)
    origin = net.node.ledger.origin
    try:
        assert pool.passes(origin, "bank-a", RECORD_EVENTS, rows) == [True] * 10
        (worker,) = pool._workers
        worker.proc.kill()
        worker.proc.wait()
        assert pool.passes(origin, "bank-a", RECORD_EVENTS, rows) is None
        assert pool.failed and not pool._workers
    finally:
        pool.close()
