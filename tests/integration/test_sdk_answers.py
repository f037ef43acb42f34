"""The SDK against a server that lies: answers taken from the real in-process server over mTLS
and altered on their way to the client (as a compromised operator, who holds the log key and
its old signed notes, could). Each must be refused with a typed error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import grpc
import pytest

from arrears.client.testing import ORIGIN, LocalConsortium
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InconsistentCheckpointError, StorageError, VerificationError
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import Ed25519Signer, sign_note
from arrears.server.pki import load_ed25519
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb

DAY = date(2026, 6, 15)
CONSENT = "consent-ans-1"
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def resident_id(n: int) -> str:
    body = f"110105{date(1980, 1, 1) + timedelta(days=n):%Y%m%d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def default(first_missed: date = date(2026, 4, 1), dpd: int = 45) -> dict[str, Any]:
    return {
        "principal_minor": 1_000_000,
        "outstanding_minor": 800_000,
        "days_past_due": dpd,
        "first_missed_payment": first_missed,
        "borrower_notified_on": first_missed + timedelta(days=20),
    }


class StreamCall:
    """A response stream as gRPC's aio calls give one: iterated, and cancelled when its reader
    leaves early (``inner``: the real call it reads from, cancelled with it)."""

    def __init__(self, stream: AsyncIterator[Any], inner: Any = None) -> None:
        self._stream, self._inner, self.cancelled = stream, inner, False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._stream.__aiter__()

    def cancel(self) -> bool:
        self.cancelled = True
        return bool(self._inner.cancel()) if self._inner is not None else True


class Tampered:
    """A stub whose named methods are replaced; the rest go to the real one."""

    def __init__(self, stub: Any, **methods: Any) -> None:
        self._stub, self._methods = stub, methods

    def __getattr__(self, name: str) -> Any:
        return self._methods.get(name) or getattr(self._stub, name)


@pytest.fixture(scope="module")
def net() -> Iterator[LocalConsortium]:
    consortium = LocalConsortium(["bank-a", "bank-b", "bank-c"], check_processes=0)
    consortium.clock.set(DAY)
    with consortium:
        yield consortium


# --- lookups ---------------------------------------------------------------------------------


def _alter_check_many(client: Any, alter: Callable[[Any, Any], None]) -> None:
    real = client.aio._lookup

    async def CheckMany(req: spb.CheckManyRequest, timeout: Any = None) -> Any:
        resp = await real.CheckMany(req, timeout=timeout)
        alter(req, resp)
        return resp

    client.aio._lookup = Tampered(real, CheckMany=CheckMany)


def _answer_as_of(client: Any, day: date) -> None:
    """Every lookup answer the client gets says it is as of ``day``."""

    def as_of(_: Any, resp: Any) -> None:
        for r in resp.results:
            r.answer.as_of.CopyFrom(pb.Date(year=day.year, month=day.month, day=day.day))

    _alter_check_many(client, as_of)


@pytest.mark.parametrize("day", [date(2026, 1, 1), DAY + timedelta(days=2), date(2040, 1, 1)])
def test_an_answer_as_of_another_day_is_refused(net: LocalConsortium, day: date) -> None:
    """A server that picks the day could hide records (a day before them) or age them out."""
    applicant = resident_id(1)
    net.client("bank-a").report(applicant, f"day-{day}", **default(date(2026, 2, 1), 95))
    c = net.client("bank-c")
    _answer_as_of(c, day)
    with pytest.raises(VerificationError, match=f"answered as of {day}, but today is {DAY}"):
        c.check(applicant, consent_reference=CONSENT)


def test_an_answer_from_the_day_before_or_after_is_believed(net: LocalConsortium) -> None:
    """Clocks either side of midnight: the server's day may be one off the client's."""
    applicant = resident_id(2)
    net.client("bank-a").report(applicant, "midnight-1", **default())
    c = net.client("bank-c")
    tomorrow = DAY + timedelta(days=1)
    _answer_as_of(c, tomorrow)
    result = c.check(applicant, consent_reference=CONSENT)
    assert result.as_of == tomorrow and len(result.records) == 1


def test_an_answer_at_an_older_tree_than_the_client_trusts_is_refused(
    net: LocalConsortium,
) -> None:
    """A real old checkpoint, from before the subject's report, proven a prefix of the trusted
    tree: every record the log held when the client asked could be left out."""
    applicant = resident_id(3)
    first = net.client("bank-a").report(applicant, "stale-1", **default())
    before = first.index  # the tree just before the report
    stale = net.node.storage.checkpoint_at(before)
    c = net.client("bank-c")
    c.checkpoint()  # trusts the latest tree, with the report in it
    asked = answer_at_an_old_tree(c, stale, before)
    with pytest.raises(InconsistentCheckpointError, match=f"tree size {before}, older than"):
        c.check(applicant, consent_reference=CONSENT)
    assert asked and all(known > before for known in asked)


def answer_at_an_old_tree(client: Any, note: bytes, size: int) -> list[int]:
    """Every lookup answer the client gets is at the old tree of ``size`` (signed ``note``),
    with no records; returns the sizes the client said it trusted, as it asks."""
    asked: list[int] = []

    def old_tree(req: Any, resp: Any) -> None:
        asked.append(req.known_tree_size)
        resp.checkpoint, resp.tree_size = note, size
        del resp.consistency_proof[:]
        for r in resp.results:
            r.answer.tree_size = size
            del r.answer.records[:]

    _alter_check_many(client, old_tree)
    return asked


# --- bulk uploads ----------------------------------------------------------------------------


def _alter_stream(client: Any, alter: Callable[[Any], None]) -> None:
    real = client.aio._submissions

    def SubmitStream(batches: Any, timeout: Any = None) -> Any:
        call = real.SubmitStream(batches)

        async def results() -> Any:
            async for msg in call:
                alter(msg)
                yield msg

        return StreamCall(results(), call)

    client.aio._submissions = Tampered(real, SubmitStream=SubmitStream)


def _rows(client: Any, start: int, count: int, ref: Callable[[int], str]) -> list[Any]:
    rows = []
    for i in range(count):
        env, opening = client.prepare_report(
            resident_id(start + i), f"bulk-{start + i}", **default()
        )
        rows.append((ref(i), env, opening))
    return rows


def test_stream_results_that_name_other_requests_are_refused(net: LocalConsortium) -> None:
    """A result for a ref we did not send, carrying a receipt for another member's entry."""
    foreign = net.client("bank-b").report(resident_id(100), "b-foreign", **default())
    a = net.client("bank-a")

    def swap_in_foreign(msg: Any) -> None:
        r0 = msg.results[0]
        r0.client_ref = "not-one-of-mine"
        r0.receipt.index = foreign.index
        r0.receipt.leaf = net.node.storage.read_leaves(foreign.index, foreign.index + 1)[0]
        r0.receipt.leaf_hash = leaf_hash(r0.receipt.leaf)
        del r0.receipt.inclusion_proof[:]
        proof = net.node.ledger.log.inclusion_proof(foreign.index, r0.receipt.tree_size)
        r0.receipt.inclusion_proof.extend(proof)

    _alter_stream(a, swap_in_foreign)
    with pytest.raises(VerificationError, match="names 'not-one-of-mine', not 'row-0'"):
        list(a.submit_stream(_rows(a, 110, 3, lambda i: f"row-{i}")))


def test_a_stream_that_drops_a_result_is_refused(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    _alter_stream(a, lambda msg: msg.results.pop())
    got = []
    with pytest.raises(VerificationError, match="ended after 2 of 3 results; no result for 'r-2'"):
        for res in a.submit_stream(_rows(a, 120, 3, lambda i: f"r-{i}")):
            got.append(res.client_ref)
    assert got == ["r-0", "r-1"]


def test_one_receipt_for_two_requests_of_the_same_ref_is_refused(net: LocalConsortium) -> None:
    """Two different envelopes sent under one ref: each must get a receipt for itself."""
    a = net.client("bank-a")

    def both_get_the_second(msg: Any) -> None:
        msg.results[0].receipt.CopyFrom(msg.results[1].receipt)

    _alter_stream(a, both_get_the_second)
    with pytest.raises(VerificationError, match="another payload than the one we signed"):
        list(a.submit_stream(_rows(a, 130, 2, lambda i: "dup")))


# --- subject reports -------------------------------------------------------------------------


def _signed_checkpoint(net: LocalConsortium, origin: str, size: int, root: bytes) -> bytes:
    """A checkpoint signed with the log's own key, as a compromised operator could sign one."""
    signer = Ed25519Signer(origin, load_ed25519(net.pki.log_key))
    return sign_note(Checkpoint(origin, size, root).body(), [signer])


def _alter_report(client: Any, alter: Callable[[Any], None]) -> None:
    real = client.aio._lookup

    async def SubjectReport(req: spb.SubjectReportRequest, timeout: Any = None) -> Any:
        resp = await real.SubjectReport(req, timeout=timeout)
        alter(resp)
        return resp

    client.aio._lookup = Tampered(real, SubjectReport=SubjectReport)


@pytest.fixture
def reported(net: LocalConsortium) -> tuple[str, Any]:
    """A borrower with a record and two lookups, and an operator client that has seen the
    borrower's report once (so it trusts an inquiry checkpoint)."""
    subject = resident_id(300 + len(net._clients))
    net.client("bank-a").report(subject, f"rep-{subject}", **default())
    c = net.client("bank-c")
    c.check(subject, consent_reference=CONSENT)
    c.check(subject, consent_reference=CONSENT)
    op = net.client("operator")
    first = op.subject_report(subject, request_reference="req-1")
    assert len(first.inquiries) >= 2
    return subject, op


@pytest.mark.parametrize("how", ["fork at the same size", "rolled back to empty"])
def test_a_report_whose_inquiry_log_forks_or_rolls_back_is_refused(
    net: LocalConsortium, reported: tuple[str, Any], how: str
) -> None:
    """Either would hide lookups of the borrower from the borrower's own report."""
    subject, op = reported
    trusted = op.aio.inquiry_trust.size
    origin = f"{ORIGIN}/inquiries"

    def lie(resp: Any) -> None:
        size = trusted if how.startswith("fork") else 0
        resp.inquiry_checkpoint = _signed_checkpoint(net, origin, size, sha256(b"lie").digest())
        resp.inquiry_tree_size = size
        del resp.inquiries[:]
        del resp.inquiry_consistency_proof[:]

    _alter_report(op, lie)
    with pytest.raises(InconsistentCheckpointError):
        op.subject_report(subject, request_reference="req-2")


def test_the_inquiry_log_trusted_survives_a_restart(net: LocalConsortium, tmp_path: Path) -> None:
    """Kept beside the ledger's state file: a new client refuses the rolled-back log too."""
    subject = resident_id(400)
    net.client("bank-a").report(subject, "restart-1", **default())
    net.client("bank-c").check(subject, consent_reference=CONSENT)
    state = tmp_path / "operator-trusted.json"
    first = net.client("operator", trust=net.trust(state)).subject_report(
        subject, request_reference="req-1"
    )
    assert (tmp_path / "operator-trusted-inquiries.json").exists()
    again = net.client("operator", trust=net.trust(state))
    assert again.aio.inquiry_trust.size == first.inquiry_checkpoint.size
    origin = f"{ORIGIN}/inquiries"

    def empty(resp: Any) -> None:
        resp.inquiry_checkpoint = _signed_checkpoint(net, origin, 0, sha256(b"").digest())
        resp.inquiry_tree_size = 0
        del resp.inquiries[:]

    _alter_report(again, empty)
    with pytest.raises(InconsistentCheckpointError, match="older than the trusted size"):
        again.subject_report(subject, request_reference="req-2")


@pytest.mark.parametrize("how", ["record twice", "inquiry twice", "no day", "short salt"])
def test_a_malformed_report_is_a_verification_error(reported: tuple[str, Any], how: str) -> None:
    subject, op = reported

    def spoil(resp: Any) -> None:
        if how == "record twice":
            resp.records.add().CopyFrom(resp.records[0])
        elif how == "inquiry twice":
            resp.inquiries.add().CopyFrom(resp.inquiries[0])
        elif how == "no day":
            resp.as_of.year, resp.as_of.month, resp.as_of.day = 0, 0, 0
        else:
            resp.inquiries[0].salt = b"short"

    _alter_report(op, spoil)
    with pytest.raises(VerificationError):
        op.subject_report(subject, request_reference="req-2")


def test_a_known_inquiry_size_beyond_the_log_is_refused_before_it_is_recorded(
    net: LocalConsortium, reported: tuple[str, Any]
) -> None:
    subject, op = reported
    size = net.node.inquiries.head().size
    request = spb.SubjectReportRequest(
        pseudonym=op.pseudonym(subject),
        request_reference="req-3",
        known_inquiry_tree_size=size + 1,
    )

    async def ask() -> Any:
        return await op.aio._lookup.SubjectReport(request)

    with pytest.raises(grpc.RpcError) as info:
        op._run(ask())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "known_inquiry_tree_size" in str(info.value.details())
    assert net.node.inquiries.head().size == size  # no inquiry was recorded


# --- pseudonyms ------------------------------------------------------------------------------


def _key_for_the_next_epoch(client: Any) -> None:
    """The server's key, said to be for the epoch after its own."""
    real = client.aio._pseudonyms

    async def GetKey(req: Any, timeout: Any = None) -> Any:
        got = await real.GetKey(req, timeout=timeout)
        got.epoch += 1
        return got

    client.aio._pseudonyms = Tampered(real, GetKey=GetKey)


def test_a_key_for_another_epoch_than_the_pinned_one_is_refused(net: LocalConsortium) -> None:
    """The epoch goes into every pseudonym: another one finds no record about anyone."""
    key = net.node.oprf.public_key
    c = net.client("bank-c", oprf_public_key=key, oprf_epoch=net.node.oprf_epoch)
    assert c._run(c.aio.oprf_key()) == (net.node.oprf_epoch, key)
    c = net.client("bank-c", oprf_public_key=key, oprf_epoch=net.node.oprf_epoch)
    _key_for_the_next_epoch(c)
    with pytest.raises(VerificationError, match="not the pinned 1"):
        c.check(resident_id(500), consent_reference=CONSENT)


def test_operators_sharing_a_state_file_keep_making_subject_reports(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Another client moved the shared inquiry checkpoint on: the proof to it is fetched."""
    subject = resident_id(600)
    net.client("bank-a").report(subject, "share-1", **default())
    state = tmp_path / "operator-trusted.json"
    a = net.client("operator", trust=net.trust(state))
    b = net.client("operator", trust=net.trust(state))
    a.subject_report(subject, request_reference="r-1")
    b.subject_report(subject, request_reference="r-2")
    net.client("bank-c").check(subject, consent_reference=CONSENT)
    again = a.subject_report(subject, request_reference="r-3")
    assert [q.consent_reference for q in again.inquiries] == ["r-1", "r-2", CONSENT, "r-3"]


def test_a_subject_report_after_the_ledger_grew(net: LocalConsortium) -> None:
    """An honest answer at a larger ledger than the operator trusts: the consistency proof is
    fetched (the answer carries none), not taken as empty and called a fork."""
    subject = resident_id(650)
    net.client("bank-a").report(subject, "grew-1", **default())
    op = net.client("operator")
    first = op.subject_report(subject, request_reference="g-1")
    net.client("bank-a").report(subject, "grew-2", **default())
    again = op.subject_report(subject, request_reference="g-2")
    assert again.checkpoint.size > first.checkpoint.size
    assert {r.ref.record_id for r, _ in again.records} == {"grew-1", "grew-2"}


def test_the_oprf_key_first_seen_is_kept_and_pinned(net: LocalConsortium, tmp_path: Path) -> None:
    pin = tmp_path / "bank-c-oprf.json"
    first = net.client("bank-c", oprf_state_file=pin)
    first.check(resident_id(700), consent_reference=CONSENT)
    kept = json.loads(pin.read_text())
    assert (bytes.fromhex(kept["public_key"]), kept["epoch"]) == (
        net.node.oprf.public_key,
        net.node.oprf_epoch,
    )
    later = net.client("bank-c", oprf_state_file=pin)
    _key_for_the_next_epoch(later)
    with pytest.raises(VerificationError, match="not the pinned"):
        later.check(resident_id(701), consent_reference=CONSENT)
    pin.write_text("{")
    with pytest.raises(StorageError, match="not an OPRF pin file"):
        net.client("bank-c", oprf_state_file=pin)


def _say_epoch(client: Any, say: dict[str, int]) -> None:
    """The server's key and evaluations claim epoch ``say["epoch"]``."""
    real = client.aio._pseudonyms

    async def GetKey(req: Any, timeout: Any = None) -> Any:
        got = await real.GetKey(req, timeout=timeout)
        got.epoch = say["epoch"]
        return got

    async def Evaluate(req: Any, timeout: Any = None) -> Any:
        got = await real.Evaluate(req, timeout=timeout)
        got.epoch = say["epoch"]
        return got

    client.aio._pseudonyms = Tampered(real, GetKey=GetKey, Evaluate=Evaluate)


def test_an_oprf_epoch_of_zero_is_pinned_like_any_other(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Epoch 0 first seen is pinned: the server cannot move the client to another one."""
    pin = tmp_path / "bank-c-oprf.json"
    c = net.client("bank-c", oprf_state_file=pin)
    say = {"epoch": 0}
    _say_epoch(c, say)
    c.pseudonym(resident_id(710))
    assert json.loads(pin.read_text())["epoch"] == 0
    say["epoch"] = net.node.oprf_epoch
    with pytest.raises(VerificationError, match="epoch 1, not 0"):
        c.pseudonym(resident_id(711))


@pytest.mark.parametrize(
    "change",
    ["one element too many", "no proof", "a 31-byte element", "a 31-byte key"],
)
def test_a_malformed_oprf_answer_is_an_oprf_error(net: LocalConsortium, change: str) -> None:
    from arrears.ledger.errors import OprfError

    c = net.client("bank-c")
    real = c.aio._pseudonyms

    async def GetKey(req: Any, timeout: Any = None) -> Any:
        got = await real.GetKey(req, timeout=timeout)
        if change == "a 31-byte key":
            got.public_key = got.public_key[:31]
        return got

    async def Evaluate(req: Any, timeout: Any = None) -> Any:
        got = await real.Evaluate(req, timeout=timeout)
        if change == "one element too many":
            got.evaluated_elements.append(got.evaluated_elements[0])
        elif change == "no proof":
            got.proof = b""
        elif change == "a 31-byte element":
            got.evaluated_elements[0] = got.evaluated_elements[0][:31]
        return got

    c.aio._pseudonyms = Tampered(real, GetKey=GetKey, Evaluate=Evaluate)
    with pytest.raises(OprfError):
        c.pseudonyms([resident_id(720), resident_id(721)])


def test_a_consistency_proof_with_a_short_hash_is_a_fork_not_bad_input(
    net: LocalConsortium,
) -> None:
    c = net.client("bank-c")
    c.checkpoint()
    net.client("bank-a").report(resident_id(730), "short-1", **default())

    def short(_: Any, resp: Any) -> None:
        resp.consistency_proof[0] = resp.consistency_proof[0][:31]

    _alter_check_many(c, short)
    with pytest.raises(InconsistentCheckpointError, match="31"):
        c.check(resident_id(730), consent_reference=CONSENT)


def test_a_required_state_requires_the_inquiry_logs_too(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Otherwise the first subject report under require_state would take any inquiry log on
    first use (one forked to list none of the borrower's lookups)."""
    from arrears.client.trust import Trust

    state = tmp_path / "operator.json"
    net.client("operator", trust=Trust(net.verifier_key, state_file=state)).checkpoint()
    required = net.client(
        "operator", trust=Trust(net.verifier_key, state_file=state, require_state=True)
    )
    with pytest.raises(StorageError, match=r"operator-inquiries\.json does not exist"):
        required.subject_report(resident_id(740), request_reference="req-740")
    # Seeded by a report without requiring it, then required.
    seed = net.client("operator", trust=Trust(net.verifier_key, state_file=state))
    seed.subject_report(resident_id(740), request_reference="req-741")
    again = net.client(
        "operator", trust=Trust(net.verifier_key, state_file=state, require_state=True)
    )
    assert again.subject_report(resident_id(740), request_reference="req-742").inquiries


def test_a_stream_whose_server_stops_answering_times_out(net: LocalConsortium) -> None:
    """No deadline for a whole upload, but each message's results must come in time."""
    from arrears.client.errors import DeadlineExceeded

    a = net.client("bank-a", timeout=1.0)
    real = a.aio._submissions

    def SubmitStream(batches: Any, timeout: Any = None) -> Any:
        async def silent() -> Any:
            await asyncio.sleep(3600)
            yield None

        return StreamCall(silent())

    a.aio._submissions = Tampered(real, SubmitStream=SubmitStream)
    with pytest.raises(DeadlineExceeded, match="no result from the server for 1 s"):
        list(a.submit_stream(_rows(a, 750, 1, lambda i: f"row-{i}")))
