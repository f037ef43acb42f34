"""The bad-input catalogue, end to end over mutual TLS against a real server.

Every refusal must arrive as the precise gRPC status (the SDK's typed error and its ``code``),
with a message naming the field or the problem, the rule where the server sets one, and must
leave the ledger byte-for-byte as it was: leaves, head (root and signed checkpoint) and the
whole projection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from arrears.client import errors as ce
from arrears.client.errors import from_grpc
from arrears.client.sdk import Client
from arrears.client.testing import LocalConsortium
from arrears.client.verify import verify_receipt
from arrears.ledger import events as ev
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.envelope import Envelope
from arrears.ledger.errors import IdentifierError
from arrears.ledger.leaf import Leaf
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import open_note, parse_verifier_key
from arrears.ledger.oprf import Mode
from arrears.ledger.oprf import blind as oprf_blind
from arrears.ledger.records import MemoryState, RecordRef
from arrears.ledger.storage import Head
from arrears.ledger.tlogproof import TlogProof
from arrears.server.config import Limits
from arrears.server.pki import create_dev_pki
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb
from arrears.v1 import service_pb2_grpc as sgrpc
from tests.integration.test_sdk import resident_id

SUBJECT = "11010519491231002X"
CONSENT = "consent-2026-0001"
REPORTER_LENDER = (pb.ROLE_REPORTER, pb.ROLE_LENDER)
MEMBERS = {
    "bank-a": REPORTER_LENDER,
    "bank-b": REPORTER_LENDER,
    "regulator": (pb.ROLE_REGULATOR,),
    "reporter-only": (pb.ROLE_REPORTER,),
    "lender-only": (pb.ROLE_LENDER,),
}
E = TypeVar("E", bound=ce.RpcError)


# --- the ledger, before and after ----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    leaves: list[bytes]
    head: Head
    projection: MemoryState


def snapshot(net: LocalConsortium) -> Snapshot:
    st = net.node.storage
    return Snapshot(st.read_leaves(0, 10**9), st.head(), st.load_projection())


@contextmanager
def unchanged(net: LocalConsortium) -> Iterator[Snapshot]:
    """Assert that the ledger is byte-for-byte the same when the block ends."""
    before = snapshot(net)
    yield before
    after = snapshot(net)
    assert after.leaves == before.leaves
    assert after.head == before.head
    assert after.projection == before.projection


def inquiries(net: LocalConsortium) -> int:
    return net.node.inquiries.head().size


def oprf_evaluations(member_id: str) -> float:
    return REGISTRY.get_sample_value("arrears_oprf_evaluations_total", {"member": member_id}) or 0.0


def unary_calls() -> float:
    """Unary calls the in-process servers have answered (refused ones included)."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "arrears_call_seconds"
        for s in metric.samples
        if s.name == "arrears_call_seconds_count"
    )


def refused(
    err: ce.RpcError,
    cls: type[ce.RpcError],
    code: grpc.StatusCode,
    *names: str,
    rule: str | None = None,
) -> None:
    """The typed error, its status code, the words its message must contain, and the rule."""
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert err.code == code
    for name in names:
        assert name in str(err), f"{name!r} not in {str(err)!r}"
    if rule is not None:
        assert err.rule == rule


# --- channels and calls --------------------------------------------------------------------


def credentials(net: LocalConsortium, member_id: str) -> grpc.ChannelCredentials:
    files = net.pki.member(member_id)
    return grpc.ssl_channel_credentials(
        net.pki.ca.read_bytes(), files.key.read_bytes(), files.cert.read_bytes()
    )


@contextmanager
def channel(target: str, creds: grpc.ChannelCredentials) -> Iterator[grpc.Channel]:
    with grpc.secure_channel(
        target, creds, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as ch:
        yield ch


@contextmanager
def member_channel(net: LocalConsortium, member_id: str) -> Iterator[grpc.Channel]:
    with channel(net.target, credentials(net, member_id)) as ch:
        yield ch


def raw(method: Callable[..., Any], request: Message, timeout: float = 10.0) -> Any:
    """A raw stub call; a refusal becomes the SDK's typed error."""
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as e:
        raise from_grpc(e) from None


def raises(cls: type[E], fn: Callable[[], object]) -> E:
    with pytest.raises(cls) as info:
        fn()
    return info.value


# --- events --------------------------------------------------------------------------------


def report_fields(net: LocalConsortium) -> dict[str, Any]:
    today = net.node.today()
    return {
        "principal_minor": 2_000_000,
        "outstanding_minor": 1_500_000,
        "days_past_due": 45,
        "first_missed_payment": today - timedelta(days=75),
        "borrower_notified_on": today - timedelta(days=10),
    }


def envelope_pb(env: Envelope) -> pb.SignedEnvelope:
    return pb.SignedEnvelope(key_id=env.key_id, payload=env.payload, signature=env.signature)


def signer(client: Client) -> ev.Member:
    assert client.aio.member is not None
    return client.aio.member


# --- consortia -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net() -> Iterator[LocalConsortium]:
    """One consortium for the tests that change no membership and share no limits."""
    with LocalConsortium(MEMBERS) as n:
        n.client("bank-a").report(SUBJECT, "shared-1", **report_fields(n))
        yield n


@pytest.fixture
def fresh() -> Iterator[Callable[..., LocalConsortium]]:
    """Own consortia for tests that suspend, revoke or set tight limits."""
    started: list[LocalConsortium] = []

    def make(limits: Limits | None = None) -> LocalConsortium:
        n = LocalConsortium(MEMBERS, limits=limits)
        n.start()
        started.append(n)
        return n

    yield make
    for n in started:
        n.stop()


# --- 1, 2: transport -----------------------------------------------------------------------


def test_no_client_certificate_is_refused_at_the_handshake(net: LocalConsortium) -> None:
    # The server is built with require_client_auth=True: TLS refuses a client without a
    # certificate during the handshake, before any RPC exists, so no application status (and
    # no message naming a field) is possible; the client sees the connection fail.
    creds = grpc.ssl_channel_credentials(net.pki.ca.read_bytes())
    with unchanged(net), channel(net.target, creds) as ch:
        err = raises(
            ce.Unavailable,
            lambda: raw(sgrpc.LogStub(ch).GetCheckpoint, spb.GetCheckpointRequest(), 5),
        )
    refused(err, ce.Unavailable, grpc.StatusCode.UNAVAILABLE, "failed to connect")
    assert err.rule == ""
    # The same call with a member's certificate is served: only the missing one was at fault.
    with member_channel(net, "bank-a") as ch:
        assert raw(sgrpc.LogStub(ch).GetCheckpoint, spb.GetCheckpointRequest()).tree_size


def test_certificate_from_another_ca_is_refused_at_the_handshake(
    net: LocalConsortium, tmp_path: Path
) -> None:
    # Same as above: the certificate does not chain to the consortium CA, so the handshake
    # fails and no RPC is ever dispatched. The client trusts the real server (net's CA), so the
    # client certificate is the only fault.
    other = create_dev_pki(tmp_path / "other-pki", ["bank-a"]).member("bank-a")
    creds = grpc.ssl_channel_credentials(
        net.pki.ca.read_bytes(), other.key.read_bytes(), other.cert.read_bytes()
    )
    env = envelope_pb(
        signer(net.client("bank-a")).sign(
            ev.record_withdrawn(RecordRef("bank-a", "shared-1"), "error")
        )
    )
    with unchanged(net), channel(net.target, creds) as ch:
        err = raises(
            ce.Unavailable,
            lambda: raw(sgrpc.SubmissionsStub(ch).Submit, spb.SubmitRequest(envelope=env), 5),
        )
    refused(err, ce.Unavailable, grpc.StatusCode.UNAVAILABLE, "failed to connect")
    assert err.rule == ""


# --- 3, 4: who the caller is ---------------------------------------------------------------


def test_valid_certificate_of_an_unknown_member(net: LocalConsortium) -> None:
    create_dev_pki(net.pki.root, ["stranger"])
    stranger = net.client("stranger")
    event = ev.record_updated(RecordRef("stranger", "x-1"), days_past_due=60)
    with unchanged(net):
        before = inquiries(net)
        for call in (
            stranger.checkpoint,
            lambda: stranger.check(SUBJECT, consent_reference=CONSENT),
            lambda: stranger.submit(event),
        ):
            err = raises(ce.Unauthenticated, call)
            refused(err, ce.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "certificate")
            assert "stranger" in str(err)
        assert inquiries(net) == before


def test_suspended_member_is_refused_until_reinstated(
    fresh: Callable[..., LocalConsortium],
) -> None:
    n = fresh()
    b = n.client("bank-b")
    env, opening = b.prepare_report(SUBJECT, "b-1", **report_fields(n))
    op = n.client("operator")
    op.admin(ev.member_suspended("bank-b", "unpaid membership fees"))
    with unchanged(n):
        before = inquiries(n)
        for call in (
            lambda: b.submit_envelope(env, opening),
            lambda: b.check(SUBJECT, consent_reference=CONSENT),
        ):
            err = raises(ce.PermissionDenied, call)
            refused(
                err,
                ce.PermissionDenied,
                grpc.StatusCode.PERMISSION_DENIED,
                "bank-b",
                "suspended",
                rule="suspended_member",
            )
        assert inquiries(n) == before
    op.admin(ev.member_reinstated("bank-b", "fees paid"))
    size = n.node.storage.head().size
    receipt = b.submit_envelope(env, opening)
    assert receipt.index == size and not receipt.replayed
    assert b.check(SUBJECT, consent_reference=CONSENT)


# --- 5: roles ------------------------------------------------------------------------------


def _regulator_submits(net: LocalConsortium) -> object:
    event = ev.record_updated(RecordRef("bank-a", "shared-1"), days_past_due=60)
    return net.client("regulator").submit(event)


def _reporter_checks(net: LocalConsortium) -> object:
    return net.client("reporter-only").check(SUBJECT, consent_reference=CONSENT)


def _lender_streams_the_ledger(net: LocalConsortium) -> object:
    return list(net.client("lender-only").entries())


def _lender_proves_the_inquiry_log(net: LocalConsortium) -> object:
    c = net.client("lender-only")
    return c._run(c.aio.consistency_proof(1, 2, log=spb.LOG_NAME_INQUIRIES))


def _member_admits(net: LocalConsortium) -> object:
    event = ev.member_admitted("newcomer", "Newcomer", [pb.ROLE_LENDER], [bytes(range(32))])
    return net.client("bank-a").admin(event)


@pytest.mark.parametrize(
    ("call", "who", "wanted"),
    [
        (_regulator_submits, "regulator", "ROLE_REPORTER"),
        (_reporter_checks, "reporter-only", "ROLE_LENDER"),
        (_lender_streams_the_ledger, "lender-only", "ROLE_REGULATOR"),
        (_lender_proves_the_inquiry_log, "lender-only", "ROLE_REGULATOR or ROLE_OPERATOR"),
        (_member_admits, "bank-a", "ROLE_OPERATOR"),
    ],
    ids=[
        "regulator-Submit",
        "reporter-Check",
        "lender-GetEntries",
        "lender-inquiry-GetConsistencyProof",
        "member-AdmitMember",
    ],
)
def test_wrong_role_for_the_call(
    net: LocalConsortium, call: Callable[[LocalConsortium], object], who: str, wanted: str
) -> None:
    with unchanged(net):
        before = inquiries(net)
        err = raises(ce.PermissionDenied, lambda: call(net))
        assert inquiries(net) == before
    refused(err, ce.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, who, wanted, rule="role")


# --- 6, 7: signatures and keys -------------------------------------------------------------


def test_bad_signature(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    env, opening = a.prepare_report(SUBJECT, "sig-1", **report_fields(net))
    sig = bytearray(env.signature)
    sig[17] ^= 0x04
    bad = Envelope(env.key_id, env.payload, bytes(sig))
    with unchanged(net):
        err = raises(ce.Unauthenticated, lambda: a.submit_envelope(bad, opening))
    refused(err, ce.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "envelope.signature")
    # The untouched envelope is accepted: the flipped bit was the only fault.
    assert a.submit_envelope(env, opening).index == len(snapshot(net).leaves) - 1


def test_signature_by_a_revoked_key(fresh: Callable[..., LocalConsortium]) -> None:
    n = fresh()
    a = n.client("bank-a")
    key_id = signer(a).signer.key_id
    n.client("operator").admin(ev.key_revoked("bank-a", key_id, "key compromised"))
    with unchanged(n):
        err = raises(
            ce.PermissionDenied, lambda: a.report(SUBJECT, "revoked-1", **report_fields(n))
        )
    refused(
        err,
        ce.PermissionDenied,
        grpc.StatusCode.PERMISSION_DENIED,
        "envelope.key_id",
        key_id.hex()[:16],
        rule="revoked_key",
    )


# --- 8: idempotency ------------------------------------------------------------------------


def test_replayed_submission_id(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    env, opening = a.prepare_report(
        SUBJECT, "replay-1", submission_id="sub-replay-1", **report_fields(net)
    )
    first = a.submit_envelope(env, opening)
    assert not first.replayed
    with unchanged(net):
        again = a.submit_envelope(env, opening)
    assert again.replayed
    assert (again.index, again.leaf_hash) == (first.index, first.leaf_hash)

    other, other_opening = a.prepare_report(
        SUBJECT, "replay-2", submission_id="sub-replay-1", **report_fields(net)
    )
    with unchanged(net):
        err = raises(ce.AlreadyExists, lambda: a.submit_envelope(other, other_opening))
    refused(
        err,
        ce.AlreadyExists,
        grpc.StatusCode.ALREADY_EXISTS,
        "submission.submission_id",
        f"index {first.index}",
        rule="submission_reused",
    )


def test_a_stream_leaves_the_tlog_proof_texts_out_only_when_asked(net: LocalConsortium) -> None:
    a = net.client("bank-a")

    def stream(record_id: str, omit: bool) -> spb.Receipt:
        env, opening = a.prepare_report(SUBJECT, record_id, **report_fields(net))
        batch = spb.SubmitBatch(omit_tlog_proof=omit)
        batch.requests.add(envelope=envelope_pb(env), opening=opening, client_ref=record_id)
        with member_channel(net, "bank-a") as ch:
            (results,) = list(sgrpc.SubmissionsStub(ch).SubmitStream(iter([batch]), timeout=10))
        (result,) = results.results
        assert result.HasField("receipt"), result.error_message
        return result.receipt

    full = stream("texts-1", omit=False)
    assert (
        full.tlog_proof
        == TlogProof(full.index, tuple(full.inclusion_proof), full.checkpoint).text()
    )
    bare = stream("texts-2", omit=True)
    assert bare.tlog_proof == ""
    # What the SDK keeps is made from the verified receipt, and verifies offline.
    verifier = parse_verifier_key(net.verifier_key)
    kept = verify_receipt(bare, Checkpoint.parse(open_note(bare.checkpoint, [verifier]).body))
    assert TlogProof.parse(kept.tlog_proof).verify(bare.leaf, [verifier]) == kept.checkpoint


# --- 9, 10: identifiers and blinded elements -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("110105194912310021", "resident_id"),  # wrong check digit (it is X)
        ("11010519491231002", "resident_id"),  # 17 digits
        ("91350100M000100Y44", "credit_code"),  # wrong check character (it is 3)
    ],
    ids=["check-digit", "17-digits", "credit-code"],
)
def test_invalid_identifier_never_leaves_the_sdk(
    net: LocalConsortium, value: str, kind: str
) -> None:
    client = net.client("bank-a")
    calls, evaluations, asked = unary_calls(), oprf_evaluations("bank-a"), inquiries(net)
    with unchanged(net), pytest.raises(IdentifierError) as info:
        client.check(value, consent_reference=CONSENT, kind=kind)
    assert not isinstance(info.value, ce.RpcError)
    assert info.value.kind == kind
    assert unary_calls() == calls  # not even GetKey
    assert oprf_evaluations("bank-a") == evaluations
    assert inquiries(net) == asked


@pytest.mark.parametrize(
    ("elements", "field"),
    [
        ([b"\x01" * 31], "blinded_elements[0]"),
        ([b"\xff" * 32], "blinded_elements[0]"),  # not a canonical ristretto255 encoding
        ([oprf_blind(b"x", Mode.VOPRF)[1], b"\xff" * 32], "blinded_elements[1]"),
    ],
    ids=["31-bytes", "not-a-point", "second-not-a-point"],
)
def test_malformed_blinded_element(net: LocalConsortium, elements: list[bytes], field: str) -> None:
    evaluations = oprf_evaluations("bank-a")
    with unchanged(net), member_channel(net, "bank-a") as ch:
        err = raises(
            ce.InvalidArgument,
            lambda: raw(
                sgrpc.PseudonymsStub(ch).Evaluate,
                spb.EvaluateRequest(blinded_elements=elements),
            ),
        )
    refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, field)
    assert err.field == field
    assert oprf_evaluations("bank-a") == evaluations


# --- 11: message size ----------------------------------------------------------------------


def test_oversize_message(fresh: Callable[..., LocalConsortium]) -> None:
    n = fresh(
        Limits(
            lookups_per_second=1e6,
            lookup_burst=1e6,
            oprf_per_second=1e6,
            oprf_burst=1e6,
            max_message_bytes=64 * 1024,
        )
    )
    a = n.client("bank-a")
    env = signer(a).sign(ev.record_withdrawn(RecordRef("bank-a", "big-1"), "x" * 100_000))
    with unchanged(n):
        err = raises(ce.ResourceExhausted, lambda: a.submit_envelope(env))
    refused(
        err, ce.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max", "65536"
    )
    assert err.retry_after is None
    # The server is fine for messages under the limit.
    assert a.report(SUBJECT, "small-1", **report_fields(n)).index == n.node.storage.head().size - 1


# --- 12, 13: record lifecycle --------------------------------------------------------------


def test_update_of_another_members_record(net: LocalConsortium) -> None:
    b = net.client("bank-b")
    event = ev.record_updated(RecordRef("bank-a", "shared-1"), days_past_due=75)
    env = signer(b).sign(event)
    assert pb.Submission.FromString(env.payload).member_id == "bank-b"
    with unchanged(net):
        err = raises(ce.PermissionDenied, lambda: b.submit_envelope(env))
    refused(
        err,
        ce.PermissionDenied,
        grpc.StatusCode.PERMISSION_DENIED,
        "record_updated.record",
        "bank-a",
        rule="not_reporter",
    )


def test_update_after_settlement(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    a.report(SUBJECT, "settled-1", **report_fields(net))
    a.settle("settled-1", net.node.today())
    with unchanged(net):
        err = raises(ce.FailedPrecondition, lambda: a.update("settled-1", days_past_due=90))
    refused(
        err,
        ce.FailedPrecondition,
        grpc.StatusCode.FAILED_PRECONDITION,
        "record_updated.record",
        "settled",
        rule="update_after_settled",
    )


# --- 14, 15: lookups -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "consent", "field"),
    [
        (pb.PURPOSE_UNSPECIFIED, CONSENT, "purpose"),
        (99, CONSENT, "purpose"),  # not a Purpose at all
        (pb.PURPOSE_LOAN_ORIGINATION, "", "consent_reference"),
        (pb.PURPOSE_LOAN_ORIGINATION, "   ", "consent_reference"),
    ],
    ids=["no-purpose", "unknown-purpose", "no-consent", "blank-consent"],
)
def test_lookup_without_purpose_or_consent(
    net: LocalConsortium, purpose: int, consent: str, field: str
) -> None:
    a = net.client("bank-a")
    pseudonym = a.pseudonym(SUBJECT)
    asked = inquiries(net)
    with unchanged(net):
        err = raises(
            ce.InvalidArgument,
            lambda: a.check(SUBJECT, purpose=purpose, consent_reference=consent),
        )
        with member_channel(net, "bank-a") as ch:
            raw_err = raises(
                ce.InvalidArgument,
                lambda: raw(
                    sgrpc.LookupStub(ch).Check,
                    spb.CheckRequest(
                        pseudonym=pseudonym,
                        purpose=purpose,  # type: ignore[arg-type]
                        consent_reference=consent,
                    ),
                ),
            )
    for e in (err, raw_err):
        refused(e, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, field)
        assert e.field == field
    assert inquiries(net) == asked


def test_rate_limit(fresh: Callable[..., LocalConsortium]) -> None:
    n = fresh(Limits(lookups_per_second=1, lookup_burst=2))
    a = n.client("bank-a")
    a.pseudonym(SUBJECT)  # the OPRF evaluation is counted apart from lookups
    a.check(SUBJECT, consent_reference=CONSENT)
    a.check(SUBJECT, consent_reference=CONSENT)
    asked = inquiries(n)
    with unchanged(n):
        err = raises(ce.ResourceExhausted, lambda: a.check(SUBJECT, consent_reference=CONSENT))
    refused(err, ce.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, "lookups", "rate limit")
    assert err.retry_after is not None and 0 < err.retry_after <= 1.0
    assert inquiries(n) == asked  # the refused lookup is not recorded
    # Another member has its own bucket.
    assert n.client("bank-b").check(SUBJECT, consent_reference=CONSENT)


def test_bulk_pseudonyms_keep_within_the_oprf_rate_limit(
    fresh: Callable[..., LocalConsortium],
) -> None:
    """A bulk upload's pseudonyms: a call larger than the burst is split, and the rate limit
    is waited out as the server says, instead of failing the upload."""
    n = fresh(
        Limits(oprf_per_second=4000, oprf_burst=500, lookups_per_second=1e6, lookup_burst=1e6)
    )
    subjects = [resident_id(7000 + i) for i in range(1200)]
    pseudonyms = n.client("bank-a").pseudonyms(subjects)
    assert len(set(pseudonyms)) == 1200
    assert n.client("bank-b").pseudonyms(subjects[-3:]) == pseudonyms[-3:]


# --- 16, 17: what a submission may carry ---------------------------------------------------


def test_submission_for_another_member(net: LocalConsortium) -> None:
    env = signer(net.client("bank-a")).sign(
        ev.record_updated(RecordRef("bank-a", "shared-1"), days_past_due=61)
    )
    b = net.client("bank-b")
    with unchanged(net):
        err = raises(ce.PermissionDenied, lambda: b.submit_envelope(env))
    refused(
        err,
        ce.PermissionDenied,
        grpc.StatusCode.PERMISSION_DENIED,
        "submission.member_id",
        "bank-a",
        "bank-b",
        rule="member_mismatch",
    )


def test_membership_event_sent_to_submit(net: LocalConsortium) -> None:
    op = net.client("operator")
    with unchanged(net):
        err = raises(
            ce.InvalidArgument,
            lambda: op.submit(ev.member_suspended("bank-b", "sent to the wrong service")),
        )
    refused(
        err,
        ce.InvalidArgument,
        grpc.StatusCode.INVALID_ARGUMENT,
        "submission.event",
        "member_suspended",
    )
    assert err.field == "submission.event"
    assert not snapshot(net).projection.members["bank-b"].suspended


# --- 18: pseudonyms ------------------------------------------------------------------------


def _refused_lookup(
    net: LocalConsortium, method: str, request: Message, field: str, problem: str
) -> None:
    """A lookup with a bad pseudonym: INVALID_ARGUMENT naming the field, and no inquiry."""
    asked = inquiries(net)
    with unchanged(net), member_channel(net, "bank-a") as ch:
        err = raises(
            ce.InvalidArgument, lambda: raw(getattr(sgrpc.LookupStub(ch), method), request)
        )
    refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, field, problem)
    assert err.field == field
    assert inquiries(net) == asked


@pytest.mark.parametrize(
    ("pseudonym", "problem"),
    [
        ((1).to_bytes(4, "big") + bytes(31), "36 bytes, got 35"),
        ((1).to_bytes(4, "big") + bytes(33), "36 bytes, got 37"),
        (b"", "36 bytes, got 0"),
        ((2).to_bytes(4, "big") + os.urandom(32), "epoch 2"),
        ((0).to_bytes(4, "big") + os.urandom(32), "epoch 0"),
    ],
    ids=["35-bytes", "37-bytes", "empty", "epoch-2", "epoch-0"],
)
def test_bad_pseudonym_in_check(net: LocalConsortium, pseudonym: bytes, problem: str) -> None:
    request = spb.CheckRequest(
        pseudonym=pseudonym, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
    )
    _refused_lookup(net, "Check", request, "pseudonym", problem)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ((1).to_bytes(4, "big") + bytes(31), "36 bytes, got 35"),
        ((2).to_bytes(4, "big") + os.urandom(32), "epoch 2"),
    ],
    ids=["35-bytes", "epoch-2"],
)
def test_bad_pseudonym_in_check_batch_is_named_by_position(
    net: LocalConsortium, bad: bytes, problem: str
) -> None:
    good = [(1).to_bytes(4, "big") + os.urandom(32) for _ in range(5)]
    request = spb.CheckBatchRequest(
        pseudonyms=[*good[:3], bad, *good[3:]],
        purpose=pb.PURPOSE_LOAN_ORIGINATION,
        consent_reference=CONSENT,
    )
    _refused_lookup(net, "CheckBatch", request, "pseudonyms[3]", problem)


# --- 19: several lookups in one call ---------------------------------------------------------


def check_many(ch: grpc.Channel, checks: list[spb.CheckRequest]) -> spb.CheckManyResponse:
    return raw(sgrpc.LookupStub(ch).CheckMany, spb.CheckManyRequest(checks=checks))


def test_check_many_refuses_each_bad_lookup_on_its_own(net: LocalConsortium) -> None:
    pseudonym = net.client("bank-a").pseudonym(SUBJECT)
    good = spb.CheckRequest(
        pseudonym=pseudonym, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
    )
    checks = [
        good,
        spb.CheckRequest(pseudonym=pseudonym, consent_reference=CONSENT),
        spb.CheckRequest(pseudonym=pseudonym, purpose=pb.PURPOSE_ACCOUNT_REVIEW),
        spb.CheckRequest(
            pseudonym=pseudonym[:35], purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference="x"
        ),
        good,
    ]
    asked = inquiries(net)
    with unchanged(net), member_channel(net, "bank-b") as ch:
        answer = check_many(ch, checks)
    codes = [r.error_code for r in answer.results]
    invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert codes == [0, invalid, invalid, invalid, 0]
    messages = [r.error_message for r in answer.results]
    assert messages[1].startswith("checks[1].purpose: required")
    assert messages[2].startswith("checks[2].consent_reference: required")
    assert messages[3].startswith("checks[3].pseudonym: a pseudonym is 36 bytes, got 35")
    # The two good lookups are answered, each its own inquiry, against one checkpoint.
    assert inquiries(net) == asked + 2
    answered = [answer.results[i].answer for i in (0, 4)]
    assert [a.records[0].record.record_id for a in answered] == ["shared-1", "shared-1"]
    assert answered[0].inquiry_id != answered[1].inquiry_id
    assert answer.tree_size == net.node.ledger.log.head().size and answer.checkpoint


def test_check_many_with_every_lookup_refused_records_nothing(net: LocalConsortium) -> None:
    asked = inquiries(net)
    with unchanged(net), member_channel(net, "bank-b") as ch:
        answer = check_many(ch, [spb.CheckRequest(purpose=pb.PURPOSE_LOAN_ORIGINATION)])
    assert answer.results[0].error_message.startswith("checks[0].consent_reference: required")
    assert not answer.checkpoint and not answer.tree_size
    assert inquiries(net) == asked


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "checks: at least one"), (1001, "checks: 1001, at most 1000 per call")],
    ids=["none", "too-many"],
)
def test_check_many_size_limits(net: LocalConsortium, count: int, words: str) -> None:
    epoch = net.node.oprf_epoch.to_bytes(4, "big")
    check = spb.CheckRequest(
        pseudonym=epoch + bytes(32), purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
    )
    asked = inquiries(net)
    with unchanged(net), member_channel(net, "bank-b") as ch:
        err = raises(ce.InvalidArgument, lambda: check_many(ch, [check] * count))
    refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, words)
    assert err.field == "checks"
    assert inquiries(net) == asked


def test_check_many_needs_the_lender_role(net: LocalConsortium) -> None:
    with unchanged(net), member_channel(net, "reporter-only") as ch:
        err = raises(ce.PermissionDenied, lambda: check_many(ch, [spb.CheckRequest()]))
    refused(err, ce.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "ROLE_LENDER")


def test_check_many_counts_every_lookup_against_the_rate_limit(
    fresh: Callable[..., LocalConsortium],
) -> None:
    n = fresh(Limits(lookups_per_second=1, lookup_burst=3))
    pseudonym = n.client("bank-a").pseudonym(SUBJECT)
    check = spb.CheckRequest(
        pseudonym=pseudonym, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
    )
    asked = inquiries(n)
    with unchanged(n), member_channel(n, "bank-a") as ch:
        err = raises(ce.ResourceExhausted, lambda: check_many(ch, [check] * 4))
    refused(err, ce.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, "4 at once", "3")
    assert inquiries(n) == asked


# --- deadlines -----------------------------------------------------------------------------


def test_deadline_is_honoured(fresh: Callable[..., LocalConsortium]) -> None:
    n = fresh()
    epoch = n.node.oprf_epoch.to_bytes(4, "big")
    request = spb.CheckBatchRequest(
        pseudonyms=[epoch + os.urandom(32) for _ in range(1000)],
        purpose=pb.PURPOSE_LOAN_ORIGINATION,
        consent_reference=CONSENT,
    )
    with member_channel(n, "bank-a") as ch:
        raw(sgrpc.LogStub(ch).GetCheckpoint, spb.GetCheckpointRequest())  # connected
        with unchanged(n):
            err = raises(
                ce.DeadlineExceeded, lambda: raw(sgrpc.LookupStub(ch).CheckBatch, request, 0.005)
            )
        refused(err, ce.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline")
        # The server stays healthy: the same channel and a new client are both served.
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        answer = raw(sgrpc.LookupStub(ch).CheckBatch, request)
        assert len(answer.results) == 1000
    assert not n.client("bank-b").check(SUBJECT, consent_reference=CONSENT).records


def test_a_borrower_registered_twice_in_one_call(net: LocalConsortium) -> None:
    """The same registration twice counts once; the same borrower with two references is
    refused, naming the second, and registers nothing."""
    lender = net.client("lender-only")
    borrower, other = resident_id(9101), resident_id(9102)
    watches = net.node.storage.load_watches
    before = watches()
    err = raises(
        ce.InvalidArgument,
        lambda: lender.register([(other, "loan-1"), (borrower, "loan-2"), (borrower, "loan-3")]),
    )
    refused(
        err,
        ce.InvalidArgument,
        grpc.StatusCode.INVALID_ARGUMENT,
        "registrations[2].relationship_reference",
        "registrations[1]",
    )
    assert watches() == before
    assert lender.register([(borrower, "loan-2"), (borrower, "loan-2")]) == 1
    assert [r for r in watches() if r not in before] == [
        ("lender-only", lender.pseudonym(borrower), "loan-2")
    ]


# --- 20: values at their limits, and what a role may ask for --------------------------------


def report_event(
    net: LocalConsortium, client: Client, record_id: str, change: Callable[[Any], None]
) -> tuple[Envelope, pb.SubjectOpening]:
    """A report about SUBJECT signed by ``client``, its event altered by ``change``."""
    from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment

    p, salt = client.pseudonym(SUBJECT), new_salt()
    event = ev.record_reported(
        record_id, subject_commitment(salt, Pseudonym.from_bytes(p)), **report_fields(net)
    )
    change(event)
    return signer(client).sign(event), pb.SubjectOpening(pseudonym=p, salt=salt)


def _set(path: str, value: Any) -> Callable[[Any], None]:
    def change(event: Any) -> None:
        *parents, name = path.split(".")
        for part in parents:
            event = getattr(event, part)
        setattr(event, name, value)

    return change


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("dpd_bucket", 99, "record_reported.dpd_bucket", "99, not a bucket"),
        ("principal.currency", "CNY\n", "record_reported.principal.currency", "ISO 4217"),
        (
            "outstanding.minor_units",
            10**15 + 1,
            "record_reported.outstanding.minor_units",
            "at most 1,000,000,000,000,000",
        ),
    ],
    ids=["dpd-bucket-not-a-bucket", "currency-with-newline", "amount-too-large"],
)
def test_a_report_with_a_value_out_of_range(
    net: LocalConsortium, path: str, value: Any, field: str, words: str
) -> None:
    a = net.client("bank-a")
    env, opening = report_event(net, a, "range-1", _set(path, value))
    with unchanged(net):
        err = raises(ce.InvalidArgument, lambda: a.submit_envelope(env, opening))
    refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, field, words)
    assert err.field == field


def test_a_bad_row_in_a_stream_is_refused_alone(net: LocalConsortium) -> None:
    """A value no rule expected (a bucket outside the enum) refuses its row only: the stream
    goes on, and the message's good row is committed."""
    a = net.client("bank-a")
    good = report_event(net, a, "stream-good", lambda e: None)
    bad = report_event(net, a, "stream-bad", _set("dpd_bucket", 99))
    before = len(snapshot(net).leaves)
    batch = spb.SubmitBatch()
    for ref, (env, opening) in (("good", good), ("bad", bad)):
        batch.requests.add(envelope=envelope_pb(env), opening=opening, client_ref=ref)
    with member_channel(net, "bank-a") as ch:
        (results,) = list(sgrpc.SubmissionsStub(ch).SubmitStream(iter([batch]), timeout=10))
    ok, refused_row = results.results
    assert ok.HasField("receipt") and ok.receipt.index == before
    assert refused_row.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert refused_row.error_message.startswith("record_reported.dpd_bucket: ")
    assert len(snapshot(net).leaves) == before + 1


def test_a_report_opened_with_a_pseudonym_of_another_epoch(net: LocalConsortium) -> None:
    """No lookup could ever find a record whose subject is a pseudonym of another OPRF key."""
    from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment

    a = net.client("bank-a")
    p, salt = (7).to_bytes(4, "big") + os.urandom(32), new_salt()
    event = ev.record_reported(
        "epoch-7", subject_commitment(salt, Pseudonym.from_bytes(p)), **report_fields(net)
    )
    env = signer(a).sign(event)
    with unchanged(net):
        err = raises(
            ce.InvalidArgument,
            lambda: a.submit_envelope(env, pb.SubjectOpening(pseudonym=p, salt=salt)),
        )
    refused(
        err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "opening.pseudonym", "epoch 7"
    )


def test_an_update_as_of_a_future_day(net: LocalConsortium) -> None:
    a = net.client("bank-a")
    event = ev.record_updated(RecordRef("bank-a", "shared-1"), days_past_due=80)
    event.as_of.year, event.as_of.month, event.as_of.day = 9999, 12, 31
    with unchanged(net):
        err = raises(ce.InvalidArgument, lambda: a.submit_envelope(signer(a).sign(event)))
    refused(
        err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "record_updated.as_of", "future"
    )


@pytest.mark.parametrize(
    ("name", "key", "field"),
    [
        ("Bank M", b"\xff" * 32, "member_admitted.public_keys[0]"),
        ("Bank M", bytes(32), "member_admitted.public_keys[0]"),  # a point of small order
        ("   ", None, "member_admitted.name"),
        ("Bank\nM\x07", None, "member_admitted.name"),
    ],
    ids=["key-not-a-point", "key-small-order", "blank-name", "name-with-controls"],
)
def test_an_admission_no_member_could_use(
    net: LocalConsortium, name: str, key: bytes | None, field: str
) -> None:
    from arrears.ledger.envelope import MemberSigner

    op = net.client("operator")
    event = ev.member_admitted(
        "bank-m", name, [pb.ROLE_LENDER], [key or MemberSigner.generate().public_key]
    )
    with unchanged(net):
        err = raises(ce.InvalidArgument, lambda: op.admin(event))
    refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, field)
    assert err.field == field


@pytest.mark.parametrize("method", ["Check", "CheckBatch", "CheckMany"])
def test_a_lookup_trusting_a_size_beyond_the_log(net: LocalConsortium, method: str) -> None:
    size = snapshot(net).head.size
    pseudonym = net.client("bank-a").pseudonym(SUBJECT)
    one = spb.CheckRequest(
        pseudonym=pseudonym, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference=CONSENT
    )
    request: Message
    if method == "Check":
        one.known_tree_size = size + 1
        request = one
    elif method == "CheckBatch":
        request = spb.CheckBatchRequest(
            pseudonyms=[pseudonym],
            purpose=one.purpose,
            consent_reference=CONSENT,
            known_tree_size=size + 1,
        )
    else:
        request = spb.CheckManyRequest(checks=[one], known_tree_size=2**64 - 1)
    _refused_lookup(net, method, request, "known_tree_size", "beyond the log's size")


@pytest.mark.parametrize(
    ("purpose", "roles"),
    [
        (pb.PURPOSE_SUBJECT_REQUEST, "ROLE_OPERATOR"),
        (pb.PURPOSE_DISPUTE, "ROLE_OPERATOR or ROLE_REPORTER"),
    ],
    ids=["subject-request", "dispute"],
)
def test_a_purpose_the_callers_roles_do_not_give(
    net: LocalConsortium, purpose: int, roles: str
) -> None:
    request = spb.CheckRequest(
        pseudonym=net.client("bank-a").pseudonym(SUBJECT),
        purpose=purpose,  # type: ignore[arg-type]
        consent_reference=CONSENT,
    )
    asked = inquiries(net)
    with unchanged(net), member_channel(net, "lender-only") as ch:
        err = raises(ce.PermissionDenied, lambda: raw(sgrpc.LookupStub(ch).Check, request))
    refused(err, ce.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "purpose", roles)
    assert inquiries(net) == asked
    with member_channel(net, "bank-a") as ch:  # a reporter may look up for a dispute
        if purpose == pb.PURPOSE_DISPUTE:
            assert raw(sgrpc.LookupStub(ch).Check, request).records


def test_a_cosigned_lookup_refused_fails_no_other_lookup(net: LocalConsortium) -> None:
    """Nothing is cosigned yet: lookups asking for a cosigned checkpoint are refused, and the
    plain lookups answered in the same group are answered all the same."""
    import asyncio

    async def run() -> list[str]:
        creds = credentials(net, "bank-a")
        options = [("grpc.ssl_target_name_override", "localhost")]
        async with grpc.aio.secure_channel(net.target, creds, options=options) as ch:
            stub = sgrpc.LookupStub(ch)

            async def one(cosigned: bool) -> str:
                request = spb.CheckRequest(
                    pseudonym=(1).to_bytes(4, "big") + os.urandom(32),
                    purpose=pb.PURPOSE_LOAN_ORIGINATION,
                    consent_reference=CONSENT,
                    cosigned=cosigned,
                )
                try:
                    await stub.Check(request, timeout=30)
                    return f"{cosigned}:OK"
                except grpc.aio.AioRpcError as e:
                    return f"{cosigned}:{e.code().name}"

            return await asyncio.gather(*(one(i % 2 == 1) for i in range(100)))

    asked = inquiries(net)
    got = asyncio.run(run())
    assert sorted(set(got)) == ["False:OK", "True:NOT_FOUND"]
    assert inquiries(net) == asked + 50  # the refused ones are not recorded


def test_a_refused_call_spends_no_quota(fresh: Callable[..., LocalConsortium]) -> None:
    """Tokens taken for a call that is then refused are given back."""
    n = fresh(Limits(lookups_per_second=0.01, lookup_burst=1, oprf_per_second=0.01, oprf_burst=2))
    pseudonym = n.client("bank-b").pseudonym(SUBJECT)  # from bank-b's quota
    point = oprf_blind(SUBJECT.encode(), Mode.VOPRF)[1]
    with member_channel(n, "bank-a") as ch:
        oprf, lookups = sgrpc.PseudonymsStub(ch), sgrpc.LookupStub(ch)
        bad = spb.EvaluateRequest(blinded_elements=[point, b"\xff" * 32])
        err = raises(ce.InvalidArgument, lambda: raw(oprf.Evaluate, bad))
        refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "blinded_elements[1]")
        # the whole burst of two is still there
        assert (
            len(
                raw(
                    oprf.Evaluate, spb.EvaluateRequest(blinded_elements=[point, point])
                ).evaluated_elements
            )
            == 2
        )
        lookup = spb.CheckRequest(
            pseudonym=pseudonym,
            purpose=pb.PURPOSE_LOAN_ORIGINATION,
            consent_reference=CONSENT,
            cosigned=True,
        )
        for _ in range(2):  # nothing is cosigned yet: refused twice, with a burst of one
            err = raises(ce.NotFound, lambda: raw(lookups.Check, lookup))
            refused(err, ce.NotFound, grpc.StatusCode.NOT_FOUND, "cosigned")
        lookup.cosigned = False
        assert raw(lookups.Check, lookup).tree_size  # the burst's one lookup is still there


def test_a_watch_resumed_beyond_the_ledger(net: LocalConsortium) -> None:
    last = snapshot(net).head.size - 1
    with member_channel(net, "bank-a") as ch:
        stream = sgrpc.WatchStub(ch).Stream(spb.WatchRequest(cursor=last + 1), timeout=10)
        err = raises(ce.InvalidArgument, lambda: next(iter(_errors(stream))))
    refused(
        err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "cursor", f"last entry, {last}"
    )


def _errors(stream: Any) -> Iterator[Any]:
    try:
        yield from stream
    except grpc.RpcError as e:
        raise from_grpc(e) from None


def test_unregister_checks_its_pseudonyms(net: LocalConsortium) -> None:
    with member_channel(net, "bank-a") as ch:
        watch = sgrpc.WatchStub(ch)
        err = raises(ce.InvalidArgument, lambda: raw(watch.Unregister, spb.UnregisterRequest()))
        refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "pseudonyms")
        epoch_9 = (9).to_bytes(4, "big") + bytes(32)
        request = spb.UnregisterRequest(pseudonyms=[epoch_9, b""])
        err = raises(ce.InvalidArgument, lambda: raw(watch.Unregister, request))
        refused(err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "pseudonyms[1]", "got 0")


def test_registrations_of_an_earlier_oprf_epoch_can_be_removed(
    fresh: Callable[..., LocalConsortium],
) -> None:
    """After the consortium moves to a new OPRF key, a lender still unregisters the borrowers
    it registered under the old one (their references are its data)."""
    n = fresh()
    lender = n.client("bank-a")
    old = lender.pseudonym(SUBJECT)
    assert lender.register([(SUBJECT, "loan-1")]) == 1
    n.node.oprf_epoch += 1  # as a server restarted with the next epoch sees the request
    with member_channel(n, "bank-a") as ch:
        gone = raw(sgrpc.WatchStub(ch).Unregister, spb.UnregisterRequest(pseudonyms=[old]))
    assert gone.registered == 1
    assert not [w for w in n.node.storage.load_watches() if w[1] == old]


@pytest.mark.parametrize("log", [2, -1])
def test_a_log_that_does_not_exist(net: LocalConsortium, log: int) -> None:
    with member_channel(net, "regulator") as ch:
        stub = sgrpc.LogStub(ch)
        for method, request in [
            (stub.GetCheckpoint, spb.GetCheckpointRequest(log=log)),  # type: ignore[arg-type]
            (stub.GetConsistencyProof, spb.ConsistencyProofRequest(from_size=1, log=log)),  # type: ignore[arg-type]
        ]:
            err = raises(ce.InvalidArgument, lambda: raw(method, request))  # noqa: B023
            refused(
                err, ce.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "log", "names no log"
            )


@pytest.mark.parametrize("size", [2**63, 2**64 - 1])
def test_a_cosignature_for_a_size_beyond_any_integer_column(
    net: LocalConsortium, size: int
) -> None:
    with member_channel(net, "regulator") as ch:
        request = spb.AddCosignatureRequest(tree_size=size, signature_line="— regulator x\n")
        err = raises(ce.NotFound, lambda: raw(sgrpc.LogStub(ch).AddCosignature, request))
    refused(err, ce.NotFound, grpc.StatusCode.NOT_FOUND, "tree_size", str(size))


def test_an_entry_is_read_only_by_its_submitter_the_operator_and_regulators(
    net: LocalConsortium,
) -> None:
    """Inclusion proofs are for anyone; the entry itself is not (only regulators read the
    ledger in bulk, and one index at a time would be bulk too)."""
    index = net.client("bank-a").report(SUBJECT, "read-1", **report_fields(net)).index
    leaf = snapshot(net).leaves[index]
    for member_id, gets_leaf in [
        ("bank-a", True),
        ("regulator", True),
        ("operator", True),
        ("bank-b", False),
        ("lender-only", False),
    ]:
        p = net.client(member_id).inclusion_proof(index)
        assert p.leaf == (leaf if gets_leaf else b""), member_id
        assert p.leaf_hash == leaf_hash(leaf)


def test_catalogue_left_no_trace_in_the_shared_ledger(net: LocalConsortium) -> None:
    """Only the accepted submissions of this module are in the ledger, each once."""
    subs = [pb.Submission.FromString(Leaf.decode(leaf).payload) for leaf in snapshot(net).leaves]
    ids = [(s.member_id, s.submission_id) for s in subs]
    assert len(ids) == len(set(ids))
    kinds = [s.WhichOneof("event") for s in subs]
    assert "member_suspended" not in kinds
    assert "record_withdrawn" not in kinds
    assert not any(s.member_id in ("stranger", "regulator", "reporter-only") for s in subs)
