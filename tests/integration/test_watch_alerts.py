"""Watch alerts are bound to the entry they prove. A server that tampers with an alert (its
event, record, cursor, the entry cited as evidence, or the borrower it names) is caught by the
SDK with a VerificationError; an honest alert built from the same ledger passes.

The alerts are made here from the real ledger (leaf, inclusion proof and checkpoint as the
server makes them) and handed to the SDK in place of the server's stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from arrears.client import Alert, Client
from arrears.client.testing import LocalConsortium
from arrears.ledger.errors import VerificationError
from arrears.ledger.leaf import Leaf
from arrears.ledger.records import decode_submission
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb
from tests.integration.test_sdk import RECENT, resident_id
from tests.integration.test_sdk_answers import StreamCall

DAY = date(2026, 6, 15)
REL = "loan-77"


@dataclass
class World:
    net: LocalConsortium
    pseudonym: bytes
    b1: int  # bank-b's report about the borrower
    b2: int  # bank-b's second report about the borrower
    own: int  # bank-a's own report about the borrower

    def alert(self, index: int, **change: Any) -> spb.Alert:
        """The alert the server sends bank-a for entry ``index``, with ``change`` applied."""
        net = self.net
        size = net.node.ledger.log.head().size
        record = {self.b1: ("bank-b", "b-1"), self.b2: ("bank-b", "b-2")}.get(
            index, ("bank-a", "a-1")
        )
        entry = spb.RecordEntry(
            index=index,
            leaf=net.node.storage.read_leaves(index, index + 1)[0],
            inclusion_proof=net.node.ledger.log.inclusion_proof(index, size),
        )
        report = decode_submission(Leaf.decode(entry.leaf).payload).record_reported
        salts = net.node.storage.salts_for_commitments([report.subject_commitment])
        fields: dict[str, Any] = {
            "cursor": index,
            "pseudonym": self.pseudonym,
            "relationship_reference": REL,
            "record": pb.RecordRef(member_id=record[0], record_id=record[1]),
            "event": "record_reported",
            "entry": entry,
            "checkpoint": net.node.storage.checkpoint_at(size),
            "tree_size": size,
            "report": entry,  # a report alert: the entry is the record's report
            "salt": salts.get(report.subject_commitment, b""),
        }
        fields.update(change)
        return spb.Alert(**fields)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    net = LocalConsortium(["bank-a", "bank-b"], check_processes=0)
    net.clock.set(DAY)
    with net:
        borrower = resident_id(77)
        a, b = net.client("bank-a"), net.client("bank-b")
        assert a.register([(borrower, REL)]) == 1
        b1 = b.report(borrower, "b-1", **RECENT).index
        b2 = b.report(borrower, "b-2", **RECENT).index
        own = a.report(borrower, "a-1", **RECENT).index
        yield World(net, a.pseudonym(borrower), b1, b2, own)


def served(world: World, alerts: list[spb.Alert]) -> Client:
    """A bank-a client whose watch stream sends ``alerts`` (and then waits)."""
    c = world.net.client("bank-a")

    def Stream(request: spb.WatchRequest, timeout: float | None = None) -> StreamCall:
        async def gen() -> AsyncIterator[spb.Alert]:
            for al in alerts:
                yield al

        return StreamCall(gen())

    real = c.aio._watch

    class Tampered:
        def __getattr__(self, name: str) -> Any:
            return Stream if name == "Stream" else getattr(real, name)

    c.aio._watch = Tampered()
    return c


def take(c: Client, n: int, **kw: Any) -> list[Alert]:
    out = []
    stream = c.watch(**kw)
    for _ in range(n):
        out.append(next(stream))
    return out


Forgery = Callable[[World], spb.Alert]

FORGED: dict[str, tuple[Forgery, str]] = {
    # the entry is bank-b's report; the alert claims a settlement of it
    "another event": (lambda w: w.alert(w.b1, event="record_settled"), "the entry is a"),
    # the entry is bank-b's report of b-1; the alert names a record that does not exist
    "another record": (
        lambda w: w.alert(w.b1, record=pb.RecordRef(member_id="bank-c", record_id="ghost")),
        "the entry is about bank-b/b-1",
    ),
    # the evidence is an entry admitting a member, which raises no alert
    "a membership entry": (lambda w: w.alert(1, event="member_admitted"), "raises no alert"),
    "a membership entry named a report": (lambda w: w.alert(1), "raises no alert"),
    # the cursor is not the entry's index
    "a cursor beyond its entry": (lambda w: w.alert(w.b1, cursor=w.b1 + 1000), "but the entry"),
    # bank-a's own report (the server never alerts a lender about its own records)
    "an own record": (lambda w: w.alert(w.own), "own records"),
    "another tree size": (lambda w: w.alert(w.b1, tree_size=w.b1 + 1), "tree_size"),
    # the record is real, but the salt given does not open its commitment with the pseudonym
    "another subject": (lambda w: w.alert(w.b1, salt=bytes(32)), "about another subject"),
    # the report cited is another record's (bank-b's b-2 for b-1)
    "another record's report": (
        lambda w: w.alert(w.b1, report=w.alert(w.b2).entry),
        "is not the report of bank-b/b-1",
    ),
}


@pytest.mark.parametrize("name", list(FORGED))
def test_an_alert_not_bound_to_its_entry_is_refused(world: World, name: str) -> None:
    forge, message = FORGED[name]
    c = served(world, [forge(world)])
    with pytest.raises(VerificationError, match=message):
        take(c, 1)


def test_the_honest_alerts_pass(world: World) -> None:
    c = served(world, [world.alert(world.b1), world.alert(world.b2)])
    got = take(c, 2, borrowers={world.pseudonym: REL})
    assert [(a.cursor, a.record.record_id, a.event) for a in got] == [
        (world.b1, "b-1", "record_reported"),
        (world.b2, "b-2", "record_reported"),
    ]


@pytest.mark.parametrize(
    "order", [("b1", "b1"), ("b2", "b1")], ids=["replayed", "cursor going backwards"]
)
def test_an_alert_not_beyond_the_last_one_is_refused(world: World, order: tuple[str, str]) -> None:
    first, second = (getattr(world, name) for name in order)
    c = served(world, [world.alert(first), world.alert(second)])
    stream = c.watch()
    assert next(stream).cursor == first
    with pytest.raises(VerificationError, match="not beyond"):
        next(stream)


def test_an_alert_at_or_before_the_resume_cursor_is_refused(world: World) -> None:
    c = served(world, [world.alert(world.b1)])
    with pytest.raises(VerificationError, match="not beyond"):
        take(c, 1, cursor=world.b1)


@pytest.mark.parametrize(
    "change",
    [{"pseudonym": bytes(36)}, {"relationship_reference": "loan-of-someone-else"}],
    ids=["another pseudonym", "another relationship"],
)
def test_an_alert_for_a_borrower_not_registered_is_refused(
    world: World, change: dict[str, Any]
) -> None:
    c = served(world, [world.alert(world.b1, **change)])
    with pytest.raises(VerificationError, match="did not register"):
        take(c, 1, borrowers={world.pseudonym: REL})


@pytest.mark.timeout(60)  # a watch that misses an alert waits for it
def test_a_watch_resumed_later_replays_reports_made_while_nobody_watched() -> None:
    """No watch stream is open at all while another bank reports about a registered borrower:
    a stream resumed from an earlier cursor still replays those reports (and no report of a
    record erased since, which names no one any more)."""
    from arrears.ledger import events as ev
    from arrears.ledger.records import RecordRef

    borrower = resident_id(4242)
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(DAY)
        lender, reporter = net.client("bank-a"), net.client("bank-b")
        assert lender.register([(borrower, REL)]) == 1
        start = net.node.ledger.log.head().size
        kept = reporter.report(borrower, "r-1", **RECENT)
        erased = reporter.report(borrower, "r-2", **RECENT)
        updated = reporter.update("r-1", days_past_due=75)
        net.client("operator").submit(
            ev.record_erased(RecordRef("bank-b", "r-2"), pb.ERASURE_REASON_LAWFUL_REQUEST)
        )
        assert not net.node.watch.subscribers.get("bank-a")  # nobody was listening
        got: list[Alert] = []
        for alert in lender.watch(start - 1):
            got.append(alert)
            if len(got) == 2:
                break
        assert [(a.index, a.event) for a in got] == [
            (kept.index, "record_reported"),
            (updated.index, "record_updated"),
        ]
        assert erased.index not in [a.index for a in got]


@pytest.mark.timeout(60)
def test_a_blocking_watch_left_early_closes_its_stream() -> None:
    """`break` out of the blocking client's watch closes the call there and then: the
    server's subscription ends, with nothing left to the garbage collector."""
    import time

    borrower = resident_id(4343)
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(DAY)
        lender, reporter = net.client("bank-a"), net.client("bank-b")
        lender.register([(borrower, REL)])
        start = net.node.ledger.log.head().size
        reporter.report(borrower, "r-1", **RECENT)
        alerts = lender.watch(start - 1)
        assert next(alerts).index == start
        assert net.node.watch.subscribers.get("bank-a")
        alerts.close()  # what `break` does to the loop's iterator
        deadline = time.monotonic() + 5
        while net.node.watch.subscribers.get("bank-a") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not net.node.watch.subscribers.get("bank-a")


@pytest.mark.timeout(60)
def test_a_watch_that_falls_a_full_queue_behind_catches_up_from_the_ledger() -> None:
    """A watch stream holds a bounded queue of live alerts (four here). A batch of 30 reports
    about registered borrowers raises more alerts than fit: the rest are dropped from the
    queue and replayed from the ledger, so the watcher gets every alert once, in order."""
    from arrears.server import metrics

    borrowers = [resident_id(4500 + i) for i in range(31)]
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(DAY)
        net.node.watch_queue = 4
        lender, reporter = net.client("bank-a"), net.client("bank-b")
        assert lender.register([(b, REL) for b in borrowers]) == 31
        first = reporter.report(borrowers[0], "r-0", **RECENT)
        alerts = lender.watch(first.index - 1)
        assert next(alerts).index == first.index  # the stream is open
        (sub,) = net.node.watch.subscribers["bank-a"]
        assert sub.queue.maxsize == 4
        catchups = metrics.WATCH_CATCHUPS._value.get()

        pseudonyms = reporter.pseudonyms(borrowers[1:])
        rows = [
            (f"row-{i}", *reporter.prepare_report(b, f"r-{i}", pseudonym=p, **RECENT))
            for i, (b, p) in enumerate(zip(borrowers[1:], pseudonyms, strict=True), 1)
        ]
        results = list(reporter.submit_stream(rows, batch=len(rows)))  # one batch
        sent = [r.receipt.index for r in results if r.receipt is not None]
        assert len(sent) == 30

        got = [next(alerts) for _ in sent]
        assert [a.index for a in got] == sent
        assert {a.record.record_id for a in got} == {f"r-{i}" for i in range(1, 31)}
        assert metrics.WATCH_CATCHUPS._value.get() == catchups + 1
        assert not sub.behind and sub.queue.empty()


@pytest.mark.timeout(60)
def test_a_report_committed_while_a_stream_subscribes_reaches_it() -> None:
    """A stream from now: a report committed after the stream read the ledger's size but
    before it subscribed is neither queued nor before its time; it comes from the ledger."""
    from arrears.ledger.ledger import Opening

    borrower = resident_id(4600)
    with LocalConsortium(["bank-a", "bank-b"]) as net:
        net.clock.set(DAY)
        lender, reporter = net.client("bank-a"), net.client("bank-b")
        lender.register([(borrower, REL)])
        env, opening = reporter.prepare_report(borrower, "r-race", **RECENT)
        real = net.node.subscribe

        def subscribe(*args: Any, **kwargs: Any) -> Any:
            net.node.ledger.append(env, Opening(opening.pseudonym, opening.salt))
            return real(*args, **kwargs)

        net.node.subscribe = subscribe  # type: ignore[method-assign]
        first = next(lender.watch())
        assert (first.record.record_id, first.event) == ("r-race", "record_reported")
