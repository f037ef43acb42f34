"""The lifecycle rules of ``records.apply``, run on a MemoryState; what is served, as of a time;
the JSON codec of the projection's state columns."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger import events as ev
from arrears.ledger.envelope import MemberSigner
from arrears.ledger.errors import ArrearsError, InputError
from arrears.ledger.records import (
    DEFAULT_RULES,
    MAX_MINOR,
    RECORD_STATE_FORMAT,
    AlreadyExists,
    Changes,
    Context,
    Dispute,
    Member,
    MemoryState,
    NotPermitted,
    RecordRef,
    RecordState,
    Rules,
    RuleViolation,
    Status,
    Summary,
    _status_on,
    add_years,
    apply,
    authorise_key,
    decode_submission,
    dispute_overdue,
    member_from_json,
    member_to_json,
    months_before,
    record_from_json,
    record_to_json,
    retention_ended,
    serve_until,
    served,
    summarise,
)
from arrears.v1 import events_pb2 as pb
from tests.consortium import ORIGIN, TODAY, Clock
from tests.record_formats import FORMAT_1, FORMAT_1_STATE, FORMAT_2

SETTINGS = settings(max_examples=60, deadline=None)

BANKS = ("bank-a", "bank-b", "bank-c")


class Harness:
    """The state machine alone: each run authorises the key (as the ledger and the replay do),
    applies the submission at the next index and keeps the changes."""

    def __init__(self, rules: Rules = DEFAULT_RULES, day: date = TODAY) -> None:
        self.rules = rules
        self.state = MemoryState()
        self.clock = Clock(day)
        self.index = 0
        self.signers: dict[str, MemberSigner] = {}

    @property
    def today(self) -> date:
        return Context(self.index, self.clock()).today

    def run(
        self,
        member_id: str,
        event: Message,
        *,
        key: MemberSigner | None = None,
        submission_id: str | None = None,
    ) -> Changes:
        signer = key or self.signers[member_id]
        sub = ev.Member(member_id, signer, ORIGIN).submission(event, submission_id=submission_id)
        sub = decode_submission(sub.SerializeToString(deterministic=True))
        if self.index > 0:
            authorise_key(self.state, signer.key_id, member_id, self.index)
        ch = apply(
            self.state,
            sub,
            Context(self.index, self.clock(), self.rules),
            genesis_key=signer.public_key,
        )
        self.state.apply_changes(ch)
        self.index += 1
        return ch

    def admit(self, member_id: str, roles: list[pb.Role]) -> MemberSigner:
        key = MemberSigner.generate()
        self.signers[member_id] = key
        self.run(
            "operator", ev.member_admitted(member_id, member_id.title(), roles, [key.public_key])
        )
        return key

    def report(self, member_id: str, record_id: str, **kw: object) -> RecordRef:
        self.run(member_id, reported(record_id, **kw))
        return RecordRef(member_id, record_id)

    def record(self, ref: RecordRef) -> RecordState:
        rec = self.state.record(ref)
        assert rec is not None
        return rec


def reported(record_id: str, **kw: object) -> pb.RecordReported:
    args: dict[str, object] = {
        "principal_minor": 1_000_000,
        "outstanding_minor": 400_000,
        "days_past_due": 45,
        "first_missed_payment": date(2026, 9, 1),
        "borrower_notified_on": date(2026, 10, 1),
    }
    args.update(kw)
    return ev.record_reported(record_id, os.urandom(32), **args)  # type: ignore[arg-type]


def genesis(h: Harness) -> MemberSigner:
    key = MemberSigner.generate()
    h.signers["operator"] = key
    h.run(
        "operator",
        ev.member_admitted("operator", "Operator", [pb.ROLE_OPERATOR], [key.public_key]),
    )
    return key


def consortium(rules: Rules = DEFAULT_RULES) -> Harness:
    h = Harness(rules)
    genesis(h)
    for mid in BANKS:
        h.admit(mid, [pb.ROLE_REPORTER, pb.ROLE_LENDER])
    h.admit("regulator", [pb.ROLE_REGULATOR])
    h.admit("lender", [pb.ROLE_LENDER])
    return h


@pytest.fixture
def h() -> Harness:
    return consortium()


def refused(
    h: Harness,
    error: type[ArrearsError],
    rule: str | None,
    field: str | tuple[str, ...],
    member_id: str,
    event: Message,
    *,
    key: MemberSigner | None = None,
) -> ArrearsError:
    """Run a submission that must be refused: exact class, rule, field named (one of ``field``
    if several names would do), nothing kept."""
    before, index = copy.deepcopy(h.state), h.index
    with pytest.raises(ArrearsError) as info:
        h.run(member_id, event, key=key)
    e = info.value
    assert type(e) is error, f"{type(e).__name__}: {e}"
    if rule is not None:
        assert getattr(e, "rule", None) == rule, str(e)
    names = (field,) if isinstance(field, str) else field
    assert any(name in str(e) for name in names), str(e)
    assert h.state == before
    assert h.index == index
    return e


# --- genesis and the registry ------------------------------------------------------------------


def test_genesis_admits_the_operator_with_the_key_that_signs_it() -> None:
    h = Harness()
    key = genesis(h)
    op = h.state.member("operator")
    assert op is not None
    assert op.roles == frozenset({pb.ROLE_OPERATOR})
    assert (op.admitted_at, op.suspended) == (0, False)
    registered = h.state.key(key.key_id)
    assert registered is not None
    assert (registered.member_id, registered.public_key) == ("operator", key.public_key)
    assert registered.added_at == 0
    assert registered.revoked_at is None
    assert h.state.submission("operator", next(iter(h.state.submissions))[1]) == 0


def test_genesis_must_be_a_member_admission() -> None:
    h = Harness()
    key = MemberSigner.generate()
    h.signers["operator"] = key
    refused(
        h,
        RuleViolation,
        "genesis",
        ("submission.event", "key_added"),
        "operator",
        ev.key_added("operator", key.public_key),
    )


def test_genesis_must_admit_its_own_submitter() -> None:
    h = Harness()
    key = MemberSigner.generate()
    h.signers["operator"] = key
    event = ev.member_admitted("someone", "Someone", [pb.ROLE_OPERATOR], [key.public_key])
    refused(h, RuleViolation, "genesis", "member_admitted.member_id", "operator", event)


def test_genesis_must_admit_an_operator() -> None:
    h = Harness()
    key = MemberSigner.generate()
    h.signers["operator"] = key
    event = ev.member_admitted("operator", "Operator", [pb.ROLE_REPORTER], [key.public_key])
    refused(h, RuleViolation, "genesis", "member_admitted.roles", "operator", event)


def test_genesis_must_be_signed_by_a_key_it_registers() -> None:
    h = Harness()
    key, other = MemberSigner.generate(), MemberSigner.generate()
    h.signers["operator"] = key
    event = ev.member_admitted("operator", "Operator", [pb.ROLE_OPERATOR], [other.public_key])
    refused(
        h,
        RuleViolation,
        "genesis",
        ("member_admitted.public_keys", "envelope.key_id"),
        "operator",
        event,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda k: ev.member_admitted("bank-x", "Bank X", [pb.ROLE_REPORTER], [k.public_key]),
        lambda k: ev.member_suspended("bank-b", "audit"),
        lambda k: ev.member_reinstated("bank-b", "audit"),
        lambda k: ev.key_added("bank-b", k.public_key),
    ],
    ids=["admit", "suspend", "reinstate", "add_key"],
)
def test_only_the_operator_manages_members_and_keys(
    h: Harness, make: Callable[[MemberSigner], Message]
) -> None:
    refused(
        h, NotPermitted, "role", "submission.member_id", "bank-a", make(MemberSigner.generate())
    )


def test_operator_admits_suspends_reinstates_and_adds_keys(h: Harness) -> None:
    extra = MemberSigner.generate()
    h.run("operator", ev.key_added("bank-b", extra.public_key))
    added = h.state.key(extra.key_id)
    assert added is not None
    assert (added.member_id, added.added_at) == ("bank-b", h.index - 1)
    h.run("operator", ev.member_suspended("bank-b", "audit"))
    assert h.state.members["bank-b"].suspended
    h.run("operator", ev.member_reinstated("bank-b", "audit done"))
    assert not h.state.members["bank-b"].suspended


def test_operator_cannot_suspend_itself(h: Harness) -> None:
    event = ev.member_suspended("operator", "oops")
    refused(h, RuleViolation, "suspend_self", "member_suspended.member_id", "operator", event)


def test_suspend_twice_and_reinstate_an_active_member(h: Harness) -> None:
    h.run("operator", ev.member_suspended("bank-b", "audit"))
    again = ev.member_suspended("bank-b", "again")
    refused(h, RuleViolation, "already_suspended", "member_suspended.member_id", "operator", again)
    active = ev.member_reinstated("bank-c", "never suspended")
    refused(h, RuleViolation, "not_suspended", "member_reinstated.member_id", "operator", active)


def test_suspend_an_unknown_member(h: Harness) -> None:
    event = ev.member_suspended("bank-z", "who?")
    refused(h, RuleViolation, "unknown_member", "member_suspended.member_id", "operator", event)


def test_admit_an_existing_member(h: Harness) -> None:
    event = ev.member_admitted("bank-a", "Again", [pb.ROLE_LENDER], [])
    refused(h, AlreadyExists, "member_exists", "member_admitted.member_id", "operator", event)


def test_register_a_key_twice(h: Harness) -> None:
    event = ev.key_added("bank-b", h.signers["bank-a"].public_key)
    refused(h, AlreadyExists, "key_registered", "key_added.public_key", "operator", event)


def test_register_a_key_of_the_wrong_size(h: Harness) -> None:
    refused(h, InputError, None, "key_added.public_key", "operator", ev.key_added("bank-b", b"k"))


def test_member_revokes_its_own_key(h: Harness) -> None:
    second = MemberSigner.generate()
    h.run("operator", ev.key_added("bank-a", second.public_key))
    h.run("bank-a", ev.key_revoked("bank-a", h.signers["bank-a"].key_id, "lost laptop"), key=second)
    revoked = h.state.key(h.signers["bank-a"].key_id)
    assert revoked is not None
    assert revoked.revoked_at == h.index - 1


def test_member_cannot_revoke_another_members_key(h: Harness) -> None:
    event = ev.key_revoked("bank-b", h.signers["bank-b"].key_id, "hostile")
    refused(h, NotPermitted, "role", "submission.member_id", "bank-a", event)


def test_member_cannot_revoke_another_members_key_by_claiming_it(h: Harness) -> None:
    event = ev.key_revoked("bank-a", h.signers["bank-b"].key_id, "hostile")
    refused(h, RuleViolation, "unknown_key", "key_revoked.key_id", "bank-a", event)


def test_operator_revokes_a_members_key(h: Harness) -> None:
    h.run("operator", ev.key_revoked("bank-b", h.signers["bank-b"].key_id, "compromised"))
    key = h.state.key(h.signers["bank-b"].key_id)
    assert key is not None
    assert key.revoked_at is not None


def test_revoke_a_key_twice(h: Harness) -> None:
    kid = h.signers["bank-b"].key_id
    h.run("operator", ev.key_revoked("bank-b", kid, "compromised"))
    event = ev.key_revoked("bank-b", kid, "again")
    refused(h, RuleViolation, "already_revoked", "key_revoked.key_id", "operator", event)


def test_suspended_member_cannot_submit_until_reinstated(h: Harness) -> None:
    h.run("operator", ev.member_suspended("bank-a", "audit"))
    refused(
        h, NotPermitted, "suspended_member", "submission.member_id", "bank-a", reported("loan-1")
    )
    h.run("operator", ev.member_reinstated("bank-a", "audit done"))
    h.report("bank-a", "loan-1")
    assert h.record(RecordRef("bank-a", "loan-1")).status is Status.ACTIVE


def test_revoked_key_cannot_submit_while_the_members_other_key_can(h: Harness) -> None:
    old, new = h.signers["bank-a"], MemberSigner.generate()
    h.run("operator", ev.key_added("bank-a", new.public_key))
    h.run("operator", ev.key_revoked("bank-a", old.key_id, "rotated"))
    refused(
        h, NotPermitted, "revoked_key", "envelope.key_id", "bank-a", reported("loan-1"), key=old
    )
    h.run("bank-a", reported("loan-1"), key=new)
    assert h.state.record(RecordRef("bank-a", "loan-1")) is not None


def test_unknown_key(h: Harness) -> None:
    stranger = MemberSigner.generate()
    refused(
        h, NotPermitted, "unknown_key", "envelope.key_id", "bank-a", reported("r"), key=stranger
    )


def test_key_of_another_member(h: Harness) -> None:
    key = h.signers["bank-b"]
    refused(h, NotPermitted, "key_owner", "submission.member_id", "bank-a", reported("r"), key=key)


def test_key_validity_by_index(h: Harness) -> None:
    key = h.state.key(h.signers["bank-a"].key_id)
    assert key is not None
    assert not key.valid_at(key.added_at)
    assert key.valid_at(key.added_at + 1)
    revoked = replace(key, revoked_at=key.added_at + 5)
    assert revoked.valid_at(key.added_at + 4)
    assert not revoked.valid_at(key.added_at + 5)


# --- reports -----------------------------------------------------------------------------------


def test_report_keeps_every_field(h: Harness) -> None:
    event = reported(
        "loan-1",
        loan_type=pb.LOAN_TYPE_MORTGAGE,
        currency="USD",
        principal_minor=900,
        outstanding_minor=700,
        days_past_due=95,
        collection_stage=pb.COLLECTION_STAGE_PHONE,
    )
    h.run("bank-a", event)
    rec = h.record(RecordRef("bank-a", "loan-1"))
    assert rec.subject_commitment == event.subject_commitment
    assert (rec.currency, rec.principal_minor, rec.outstanding_minor) == ("USD", 900, 700)
    assert (rec.days_past_due, rec.dpd_bucket) == (95, pb.DPD_BUCKET_91_120)
    assert rec.loan_type == pb.LOAN_TYPE_MORTGAGE
    assert rec.collection_stage == pb.COLLECTION_STAGE_PHONE
    assert rec.first_missed_payment == date(2026, 9, 1)
    assert rec.borrower_notified_on == date(2026, 10, 1)
    assert (rec.reported_on, rec.reported_at) == (TODAY, h.index - 1)
    assert rec.status is Status.ACTIVE
    assert rec.entries == (h.index - 1,)


def test_report_needs_the_reporter_role(h: Harness) -> None:
    refused(h, NotPermitted, "role", "submission.member_id", "lender", reported("loan-1"))
    refused(h, NotPermitted, "role", "submission.member_id", "regulator", reported("loan-1"))


def test_report_without_notice(h: Harness) -> None:
    event = reported("loan-1", borrower_notified_on=None)
    refused(
        h,
        RuleViolation,
        "notice_before_reporting",
        "record_reported.borrower_notified_on",
        "bank-a",
        event,
    )


def test_report_notified_after_today(h: Harness) -> None:
    event = reported("loan-1", borrower_notified_on=TODAY + timedelta(days=1))
    refused(
        h,
        RuleViolation,
        "notice_before_reporting",
        "record_reported.borrower_notified_on",
        "bank-a",
        event,
    )


def test_report_notified_today_with_no_minimum_notice(h: Harness) -> None:
    h.report("bank-a", "loan-1", borrower_notified_on=TODAY)


def test_minimum_notice_days() -> None:
    h = consortium(Rules(min_notice_days=30))
    event = reported("loan-1", borrower_notified_on=TODAY - timedelta(days=29))
    e = refused(
        h,
        RuleViolation,
        "notice_before_reporting",
        "record_reported.borrower_notified_on",
        "bank-a",
        event,
    )
    assert "30 days" in str(e)
    h.report("bank-a", "loan-1", borrower_notified_on=TODAY - timedelta(days=30))


def test_report_notice_that_is_not_a_date(h: Harness) -> None:
    event = reported("loan-1")
    event.borrower_notified_on.CopyFrom(pb.Date(year=2026, month=2, day=30))
    refused(h, InputError, None, "record_reported.borrower_notified_on", "bank-a", event)


def test_report_dpd_bucket_must_match(h: Harness) -> None:
    event = reported("loan-1", days_past_due=45)
    event.dpd_bucket = pb.DPD_BUCKET_61_90
    e = refused(h, InputError, None, "record_reported.dpd_bucket", "bank-a", event)
    assert "DPD_BUCKET_31_60" in str(e)


def test_report_zero_days_past_due(h: Harness) -> None:
    event = reported("loan-1", days_past_due=0)
    refused(h, InputError, None, "record_reported.days_past_due", "bank-a", event)


@pytest.mark.parametrize("currency", ["", "cny", "CN", "YUAN", "C1Y"])
def test_report_bad_currency(h: Harness, currency: str) -> None:
    event = reported("loan-1", currency=currency)
    refused(h, InputError, None, "record_reported.principal.currency", "bank-a", event)


@pytest.mark.parametrize("which", ["principal", "outstanding"])
def test_report_negative_amounts(h: Harness, which: str) -> None:
    event = reported("loan-1", **{f"{which}_minor": -1})
    refused(h, InputError, None, f"record_reported.{which}.minor_units", "bank-a", event)


def test_report_currency_of_outstanding_differs_from_principal(h: Harness) -> None:
    event = reported("loan-1")
    event.outstanding.currency = "USD"
    e = refused(h, InputError, None, "record_reported.outstanding.currency", "bank-a", event)
    assert "CNY" in str(e)


def test_report_first_missed_payment_in_the_future(h: Harness) -> None:
    event = reported("loan-1", first_missed_payment=TODAY + timedelta(days=1))
    refused(h, InputError, None, "record_reported.first_missed_payment", "bank-a", event)


def test_report_needs_a_32_byte_commitment(h: Harness) -> None:
    event = reported("loan-1")
    event.subject_commitment = b"\x01" * 31
    refused(h, InputError, None, "record_reported.subject_commitment", "bank-a", event)


@pytest.mark.parametrize(
    ("name", "value"),
    [("subject_kind", 0), ("loan_type", 0), ("loan_type", 99), ("collection_stage", 0)],
)
def test_report_enums_are_required(h: Harness, name: str, value: int) -> None:
    event = reported("loan-1")
    setattr(event, name, value)
    refused(h, InputError, None, f"record_reported.{name}", "bank-a", event)


@pytest.mark.parametrize("record_id", ["", "-lead", "white space", "x" * 129, "é"])
def test_report_record_id_shape(h: Harness, record_id: str) -> None:
    refused(h, InputError, None, "record_reported.record_id", "bank-a", reported(record_id))


@pytest.mark.parametrize("record_id", ["loan-1\n", "loan-1\r\n"])
def test_report_record_id_with_a_trailing_line_break(h: Harness, record_id: str) -> None:
    # "loan-1\n" would be a second record that prints exactly like "loan-1".
    h.report("bank-a", "loan-1")
    refused(h, InputError, None, "record_reported.record_id", "bank-a", reported(record_id))


def test_report_duplicate_record_id(h: Harness) -> None:
    h.report("bank-a", "loan-1")
    e = refused(
        h, AlreadyExists, "record_exists", "record_reported.record_id", "bank-a", reported("loan-1")
    )
    assert "bank-a/loan-1" in str(e)


def test_same_record_id_at_two_members(h: Harness) -> None:
    h.report("bank-a", "loan-1")
    h.report("bank-b", "loan-1")
    assert {RecordRef("bank-a", "loan-1"), RecordRef("bank-b", "loan-1")} <= set(h.state.records)


# --- updates, settlement, withdrawal ------------------------------------------------------------


def test_update_changes_the_given_fields_only(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_updated(ref, days_past_due=75))
    rec = h.record(ref)
    assert (rec.days_past_due, rec.dpd_bucket) == (75, pb.DPD_BUCKET_61_90)
    assert rec.outstanding_minor == 400_000
    h.run("bank-a", ev.record_updated(ref, outstanding_minor=300_000))
    h.run("bank-a", ev.record_updated(ref, collection_stage=pb.COLLECTION_STAGE_LITIGATION))
    rec = h.record(ref)
    assert (rec.days_past_due, rec.outstanding_minor) == (75, 300_000)
    assert rec.collection_stage == pb.COLLECTION_STAGE_LITIGATION
    assert rec.entries == (rec.reported_at, h.index - 3, h.index - 2, h.index - 1)


def test_update_of_another_members_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.record_updated(ref, days_past_due=60)
    refused(h, NotPermitted, "not_reporter", "record_updated.record", "bank-b", event)
    refused(h, NotPermitted, "not_reporter", "record_updated.record", "operator", event)


def test_update_of_an_unknown_record(h: Harness) -> None:
    event = ev.record_updated(RecordRef("bank-a", "nope"), days_past_due=60)
    refused(h, RuleViolation, "unknown_record", "record_updated.record", "bank-a", event)


def test_update_after_settlement(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_settled(ref, TODAY))
    event = ev.record_updated(ref, days_past_due=60)
    refused(h, RuleViolation, "update_after_settled", "record_updated.record", "bank-a", event)


def test_update_after_withdrawal(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_withdrawn(ref, "wrong borrower"))
    event = ev.record_updated(ref, days_past_due=60)
    refused(h, RuleViolation, "update_after_withdrawn", "record_updated.record", "bank-a", event)


def test_update_that_changes_nothing(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    refused(h, InputError, None, "record_updated", "bank-a", ev.record_updated(ref))


def test_update_bucket_without_days(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.record_updated(ref)
    event.dpd_bucket = pb.DPD_BUCKET_31_60
    refused(h, InputError, None, "record_updated.dpd_bucket", "bank-a", event)


def test_update_with_bad_values(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    refused(
        h,
        InputError,
        None,
        "record_updated.days_past_due",
        "bank-a",
        ev.record_updated(ref, days_past_due=0),
    )
    refused(
        h,
        InputError,
        None,
        "record_updated.outstanding.currency",
        "bank-a",
        ev.record_updated(ref, outstanding_minor=5, currency="USD"),
    )
    refused(
        h,
        InputError,
        None,
        "record_updated.outstanding.minor_units",
        "bank-a",
        ev.record_updated(ref, outstanding_minor=-5),
    )


def test_update_as_of_must_be_a_date(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.record_updated(ref, days_past_due=60)
    event.as_of.CopyFrom(pb.Date(year=2026, month=2, day=30))
    refused(h, InputError, None, "record_updated.as_of", "bank-a", event)


def test_settle_in_full_and_negotiated(h: Harness) -> None:
    full = h.report("bank-a", "loan-1")
    part = h.report("bank-a", "loan-2")
    h.run("bank-a", ev.record_settled(full, TODAY, amount_paid_minor=400_000))
    h.run("bank-a", ev.record_settled(part, TODAY, kind=pb.SETTLEMENT_KIND_NEGOTIATED))
    assert h.record(full).status is Status.SETTLED
    assert (h.record(full).settled_on, h.record(full).outstanding_minor) == (TODAY, 0)
    assert h.record(part).outstanding_minor == 400_000
    assert h.record(part).settlement_kind == pb.SETTLEMENT_KIND_NEGOTIATED


def test_settle_twice(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_settled(ref, TODAY))
    event = ev.record_settled(ref, TODAY)
    refused(h, RuleViolation, "settlement_after_settled", "record_settled.record", "bank-a", event)


def test_settle_after_withdrawal(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_withdrawn(ref, "error"))
    event = ev.record_settled(ref, TODAY)
    refused(
        h, RuleViolation, "settlement_after_withdrawn", "record_settled.record", "bank-a", event
    )


def test_settle_dates(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    future = ev.record_settled(ref, TODAY + timedelta(days=1))
    refused(h, InputError, None, "record_settled.settled_on", "bank-a", future)
    early = ev.record_settled(ref, date(2026, 8, 31))
    refused(h, InputError, None, "record_settled.settled_on", "bank-a", early)
    unspecified = ev.record_settled(ref, TODAY, kind=pb.SETTLEMENT_KIND_UNSPECIFIED)
    refused(h, InputError, None, "record_settled.kind", "bank-a", unspecified)
    paid = ev.record_settled(ref, TODAY, currency="EUR", amount_paid_minor=1)
    refused(h, InputError, None, "record_settled.amount_paid.currency", "bank-a", paid)


def test_settle_another_members_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.record_settled(ref, TODAY)
    refused(h, NotPermitted, "not_reporter", "record_settled.record", "bank-b", event)


def test_withdraw(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_withdrawn(ref, "wrong borrower"))
    rec = h.record(ref)
    assert (rec.status, rec.withdrawn_reason) == (Status.WITHDRAWN, "wrong borrower")


def test_withdraw_twice(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_withdrawn(ref, "error"))
    event = ev.record_withdrawn(ref, "again")
    refused(h, RuleViolation, "already_withdrawn", "record_withdrawn.record", "bank-a", event)


def test_withdraw_needs_a_reason_and_the_reporter(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    refused(h, InputError, None, "record_withdrawn.reason", "bank-a", ev.record_withdrawn(ref, ""))
    event = ev.record_withdrawn(ref, "not yours")
    refused(h, NotPermitted, "not_reporter", "record_withdrawn.record", "bank-b", event)


# --- disputes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["operator", "bank-a"])
def test_dispute_opened_by_operator_or_reporter(h: Harness, opener: str) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run(opener, ev.dispute_opened(ref, "d-1", TODAY, "not my loan"))
    d = h.record(ref).open_dispute
    assert d is not None
    assert (d.dispute_id, d.opened_on, d.opened_at, d.reason) == (
        "d-1",
        TODAY,
        h.index - 1,
        "not my loan",
    )


def test_dispute_not_opened_by_another_bank(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.dispute_opened(ref, "d-1", TODAY, "competitor")
    refused(h, NotPermitted, "dispute_opener", "dispute_opened.record", "bank-b", event)


def test_second_open_dispute(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "first"))
    event = ev.dispute_opened(ref, "d-2", TODAY, "second")
    refused(h, RuleViolation, "dispute_open", "dispute_opened.record", "operator", event)


def test_dispute_id_is_not_reused(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "first"))
    h.run("bank-a", ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY))
    event = ev.dispute_opened(ref, "d-1", TODAY, "again")
    refused(h, AlreadyExists, "dispute_exists", "dispute_opened.dispute_id", "operator", event)


def test_dispute_on_a_withdrawn_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_withdrawn(ref, "error"))
    event = ev.dispute_opened(ref, "d-1", TODAY, "late")
    refused(h, RuleViolation, "dispute_withdrawn", "dispute_opened.record", "operator", event)


def test_dispute_opened_in_the_future(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.dispute_opened(ref, "d-1", TODAY + timedelta(days=1), "later")
    refused(h, InputError, None, "dispute_opened.opened_on", "operator", event)


def test_resolve_corrected_applies_the_correction(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "amount wrong"))
    correction = ev.record_updated(ref, days_past_due=20, outstanding_minor=100)
    h.run(
        "bank-a",
        ev.dispute_resolved(
            ref, "d-1", pb.DISPUTE_OUTCOME_CORRECTED, TODAY, "fixed", correction=correction
        ),
    )
    rec = h.record(ref)
    assert (rec.days_past_due, rec.dpd_bucket, rec.outstanding_minor) == (
        20,
        pb.DPD_BUCKET_1_30,
        100,
    )
    assert rec.status is Status.ACTIVE
    assert rec.open_dispute is None
    (d,) = rec.disputes
    assert (d.outcome, d.resolved_on, d.resolved_at) == (
        pb.DISPUTE_OUTCOME_CORRECTED,
        TODAY,
        h.index - 1,
    )


def test_resolve_withdrawn_withdraws_the_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "identity theft"))
    h.run("operator", ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_WITHDRAWN, TODAY))
    rec = h.record(ref)
    assert rec.status is Status.WITHDRAWN
    assert "d-1" in rec.withdrawn_reason
    assert not served(rec, TODAY, DEFAULT_RULES)


def test_resolve_rejected_keeps_the_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    before = h.record(ref)
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    h.run("bank-a", ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY))
    rec = h.record(ref)
    assert rec._replace(disputes=(), entries=()) == before._replace(entries=())
    assert rec.disputes[0].outcome == pb.DISPUTE_OUTCOME_REJECTED
    assert served(rec, TODAY, DEFAULT_RULES)


def test_resolve_a_wrong_dispute_id(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    event = ev.dispute_resolved(ref, "d-9", pb.DISPUTE_OUTCOME_REJECTED, TODAY)
    refused(h, RuleViolation, "no_open_dispute", "dispute_resolved.dispute_id", "bank-a", event)


def test_resolve_with_no_open_dispute(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    h.run("bank-a", ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY))
    event = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY)
    refused(h, RuleViolation, "no_open_dispute", "dispute_resolved.dispute_id", "bank-a", event)


def test_resolve_corrected_without_correction(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    event = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_CORRECTED, TODAY)
    refused(h, InputError, None, "dispute_resolved.correction", "bank-a", event)


def test_resolve_correction_with_another_outcome(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    correction = ev.record_updated(ref, days_past_due=20)
    event = ev.dispute_resolved(
        ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY, correction=correction
    )
    refused(h, InputError, None, "dispute_resolved.correction", "bank-a", event)


def test_resolve_by_another_bank(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    event = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY)
    refused(h, NotPermitted, "not_reporter", "dispute_resolved.record", "bank-b", event)


def test_resolve_dates_and_outcome(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "disagree"))
    early = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY - timedelta(1))
    refused(h, InputError, None, "dispute_resolved.resolved_on", "bank-a", early)
    late = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_REJECTED, TODAY + timedelta(1))
    refused(h, InputError, None, "dispute_resolved.resolved_on", "bank-a", late)
    none = ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_UNSPECIFIED, TODAY)
    refused(h, InputError, None, "dispute_resolved.outcome", "bank-a", none)


# --- suppression and erasure -------------------------------------------------------------------


def test_suppression_is_for_the_operator_and_hides_the_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    event = ev.record_suppressed(ref, "regulator's order")
    refused(h, NotPermitted, "role", "submission.member_id", "bank-a", event)
    assert served(h.record(ref), TODAY, DEFAULT_RULES)
    h.run("operator", event)
    rec = h.record(ref)
    assert rec.suppressed
    assert not served(rec, TODAY, DEFAULT_RULES)
    assert summarise([rec], TODAY).active == 0


def test_suppress_twice_and_without_reason(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    refused(
        h, InputError, None, "record_suppressed.reason", "operator", ev.record_suppressed(ref, "")
    )
    h.run("operator", ev.record_suppressed(ref, "order"))
    event = ev.record_suppressed(ref, "again")
    refused(h, RuleViolation, "already_suppressed", "record_suppressed.record", "operator", event)


def test_erasure_after_retention_ends() -> None:
    h = consortium()
    settled_on = date(2026, 10, 15)
    ref = h.report("bank-a", "loan-1")
    h.run("bank-a", ev.record_settled(ref, settled_on))
    commitment = h.record(ref).subject_commitment
    h.state.openings[commitment] = (b"p" * 36, b"s" * 32)
    event = ev.record_erased(ref, pb.ERASURE_REASON_RETENTION_ENDED)
    refused(h, RuleViolation, "retention_not_ended", "record_erased.record", "operator", event)
    h.clock.set(date(2031, 10, 14))  # the last day it is served
    refused(h, RuleViolation, "retention_not_ended", "record_erased.record", "operator", event)
    h.clock.set(date(2031, 10, 15))
    ch = h.run("operator", event)
    assert ch.erased == {commitment}
    assert h.record(ref).erased
    assert commitment not in h.state.openings
    assert not served(h.record(ref), date(2031, 10, 15), DEFAULT_RULES)


def test_erasure_of_an_active_record_for_retention(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.clock.set(date(2040, 1, 1))
    event = ev.record_erased(ref, pb.ERASURE_REASON_RETENTION_ENDED)
    refused(h, RuleViolation, "retention_not_ended", "record_erased.record", "operator", event)


def test_erasure_on_lawful_request_any_time(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.record_erased(ref, pb.ERASURE_REASON_LAWFUL_REQUEST))
    assert h.record(ref).erased


def test_erasure_rules(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    lawful = ev.record_erased(ref, pb.ERASURE_REASON_LAWFUL_REQUEST)
    refused(h, NotPermitted, "role", "submission.member_id", "bank-a", lawful)
    none = ev.record_erased(ref, pb.ERASURE_REASON_UNSPECIFIED)
    refused(h, InputError, None, "record_erased.reason", "operator", none)
    h.run("operator", lawful)
    refused(h, RuleViolation, "unknown_record", "record_erased.record", "operator", lawful)


def test_an_erased_record_cannot_be_changed_or_reported_again(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.record_erased(ref, pb.ERASURE_REASON_LAWFUL_REQUEST))
    event = ev.record_updated(ref, days_past_due=90)
    refused(h, RuleViolation, "unknown_record", "record_updated.record", "bank-a", event)
    refused(
        h, AlreadyExists, "record_exists", "record_reported.record_id", "bank-a", reported("loan-1")
    )


def test_submission_ids_are_recorded(h: Harness) -> None:
    h.run("bank-a", reported("loan-1"), submission_id="sub-1")
    assert h.state.submission("bank-a", "sub-1") == h.index - 1
    assert h.state.submission("bank-b", "sub-1") is None


def test_fresh_submission_ids_are_uuid7_and_sort_by_time(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for ms in (1_796_000_000_000, 1_796_000_000_000, 1_796_000_000_001, 1_796_000_086_400):
        monkeypatch.setattr(ev.time, "time_ns", lambda ms=ms: ms * 1_000_000 + 999_999)
        made.append(ev.new_submission_id())
    for sid in made:
        u = uuid.UUID(sid)
        assert len(sid) == 32 and sid == u.hex
        assert (u.version, u.variant) == (7, uuid.RFC_4122)
    assert [int(s[:12], 16) for s in made] == [
        1_796_000_000_000,
        1_796_000_000_000,
        1_796_000_000_001,
        1_796_000_086_400,
    ]
    assert made[0] != made[1]  # the same millisecond: 74 random bits apart
    assert made[1:] == sorted(made[1:]) and made[2] > made[0]
    signed = ev.Member("bank-a", MemberSigner.generate(), ORIGIN).submission(reported("loan-1"))
    assert uuid.UUID(signed.submission_id).version == 7


# --- what is served, as of a time --------------------------------------------------------------


def record(
    member_id: str = "bank-a",
    record_id: str = "loan-1",
    first_missed: date = date(2026, 9, 1),
    **kw: object,
) -> RecordState:
    base = RecordState(
        ref=RecordRef(member_id, record_id),
        subject_commitment=bytes(32),
        subject_kind=pb.SUBJECT_KIND_PERSON,
        loan_type=pb.LOAN_TYPE_PERSONAL,
        currency="CNY",
        principal_minor=1000,
        outstanding_minor=500,
        days_past_due=45,
        dpd_bucket=pb.DPD_BUCKET_31_60,
        first_missed_payment=first_missed,
        collection_stage=pb.COLLECTION_STAGE_REMINDER,
        borrower_notified_on=first_missed,
        reported_at=7,
        reported_on=first_missed,
    )
    return base._replace(**kw)


def test_add_years() -> None:
    assert add_years(date(2026, 3, 31), 5) == date(2031, 3, 31)
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert add_years(date(2023, 2, 28), 1) == date(2024, 2, 28)


def test_serve_until_five_years_after_settlement() -> None:
    active = record()
    assert serve_until(active, DEFAULT_RULES) is None
    assert served(active, date(2099, 1, 1), DEFAULT_RULES)
    assert not retention_ended(active, date(2099, 1, 1), DEFAULT_RULES)
    settled = record(status=Status.SETTLED, settled_on=date(2026, 11, 2))
    assert serve_until(settled, DEFAULT_RULES) == date(2031, 11, 2)
    assert served(settled, date(2031, 11, 1), DEFAULT_RULES)
    assert not retention_ended(settled, date(2031, 11, 1), DEFAULT_RULES)
    assert not served(settled, date(2031, 11, 2), DEFAULT_RULES)
    assert retention_ended(settled, date(2031, 11, 2), DEFAULT_RULES)


def test_serve_until_29_february() -> None:
    settled = record(status=Status.SETTLED, settled_on=date(2028, 2, 29))
    assert serve_until(settled, DEFAULT_RULES) == date(2033, 2, 28)
    assert served(settled, date(2033, 2, 27), DEFAULT_RULES)
    assert not served(settled, date(2033, 2, 28), DEFAULT_RULES)
    assert serve_until(settled, Rules(retention_years=4)) == date(2032, 2, 29)
    assert serve_until(settled, Rules(retention_years=7)) == date(2035, 2, 28)


def test_retention_is_configuration() -> None:
    settled = record(status=Status.SETTLED, settled_on=date(2026, 11, 2))
    six = Rules(retention_years=6)
    assert served(settled, date(2032, 11, 1), six)
    assert not served(settled, date(2032, 11, 2), six)


def test_withdrawn_suppressed_erased_are_not_served() -> None:
    day = date(2026, 11, 2)
    assert not served(record(status=Status.WITHDRAWN), day, DEFAULT_RULES)
    assert not served(record(suppressed=True), day, DEFAULT_RULES)
    assert not served(record(erased=True), day, DEFAULT_RULES)


def test_dispute_overdue_after_the_deadline() -> None:
    d = Dispute("d-1", date(2026, 11, 2), 9, "disagree")
    assert not dispute_overdue(d, date(2026, 11, 22), DEFAULT_RULES)
    assert dispute_overdue(d, date(2026, 11, 23), DEFAULT_RULES)
    resolved = replace(d, outcome=pb.DISPUTE_OUTCOME_REJECTED, resolved_on=date(2026, 12, 1))
    assert not dispute_overdue(resolved, date(2027, 1, 1), DEFAULT_RULES)
    five = Rules(dispute_deadline_days=5)
    assert not dispute_overdue(d, date(2026, 11, 7), five)
    assert dispute_overdue(d, date(2026, 11, 8), five)


def test_summarise_counts_by_first_missed_payment() -> None:
    as_of = date(2026, 11, 2)
    recs = [
        record(record_id="m1", first_missed=date(2026, 10, 1)),  # 1 month ago
        record(record_id="m11", first_missed=date(2025, 12, 2)),  # 11 months ago
        record(record_id="m12", first_missed=date(2025, 11, 2)),  # exactly 12 months ago
        record(record_id="m20", first_missed=date(2025, 3, 1)),
        record(record_id="m59", first_missed=date(2021, 12, 1)),
        record(record_id="m61", first_missed=date(2021, 10, 1)),
    ]
    s = summarise(recs, as_of)
    assert (s.defaults_12m, s.defaults_24m, s.defaults_60m) == (2, 4, 5)
    assert s.active == 6
    assert s.as_of == as_of
    # The same records, a year later: the window moves with as_of.
    later = summarise(recs, date(2027, 11, 2))
    assert (later.defaults_12m, later.defaults_24m, later.defaults_60m) == (0, 2, 4)


def test_summarise_worst_bucket_outstanding_and_members() -> None:
    as_of = date(2026, 11, 2)
    recs = [
        record("bank-b", "a", outstanding_minor=100, dpd_bucket=2),
        record("bank-a", "b", outstanding_minor=250, dpd_bucket=5),
        record("bank-c", "usd", currency="USD", outstanding_minor=7, dpd_bucket=1),
        record(
            "bank-c",
            "settled",
            status=Status.SETTLED,
            settled_on=date(2026, 10, 1),
            outstanding_minor=999,
            dpd_bucket=6,
        ),
        record("bank-d", "withdrawn", status=Status.WITHDRAWN, outstanding_minor=5, dpd_bucket=7),
        record("bank-e", "suppressed", suppressed=True, outstanding_minor=5, dpd_bucket=7),
    ]
    s = summarise(recs, as_of)
    assert s.worst_dpd_bucket == 6
    assert dict(s.outstanding) == {"CNY": 350, "USD": 7}
    assert (s.active, s.settled) == (3, 1)
    assert s.reporting_members == ("bank-a", "bank-b", "bank-c")
    assert (s.open_dispute, s.overdue_dispute) == (False, False)


def _summarise_reference(recs: list[RecordState], as_of: date, rules: Rules) -> Summary:
    """The summary spelled out one figure at a time, to hold the one-pass version to."""
    shown = [r for r in recs if served(r, as_of, rules)]
    if not shown:
        return Summary(as_of, 0, 0, 0, 0, 0, 0, {}, False, False, ())
    since = {n: months_before(as_of, n) for n in (12, 24, 60)}
    status = {r.ref: _status_on(r, as_of) for r in shown}
    outstanding: dict[str, int] = {}
    for r in shown:
        if status[r.ref] is Status.ACTIVE:
            outstanding[r.currency] = outstanding.get(r.currency, 0) + r.outstanding_minor
    return Summary(
        as_of=as_of,
        defaults_12m=sum(1 for r in shown if r.first_missed_payment > since[12]),
        defaults_24m=sum(1 for r in shown if r.first_missed_payment > since[24]),
        defaults_60m=sum(1 for r in shown if r.first_missed_payment > since[60]),
        active=sum(1 for r in shown if status[r.ref] is Status.ACTIVE),
        settled=sum(1 for r in shown if status[r.ref] is Status.SETTLED),
        worst_dpd_bucket=max((r.dpd_bucket for r in shown), default=0),
        outstanding=outstanding,
        open_dispute=any(r.open_dispute is not None for r in shown),
        overdue_dispute=any(
            d is not None and dispute_overdue(d, as_of, rules)
            for d in (r.open_dispute for r in shown)
        ),
        reporting_members=tuple(sorted({r.ref.member_id for r in shown})),
    )


_DAYS = st.dates(date(2019, 1, 1), date(2033, 12, 31))


@st.composite
def _summarised_record(draw: st.DrawFn) -> RecordState:
    missed = draw(_DAYS)
    status = draw(st.sampled_from(list(Status)))
    settled_on = draw(st.one_of(st.none(), _DAYS)) if status is Status.SETTLED else None
    disputes = tuple(
        Dispute(
            f"d-{i}",
            draw(_DAYS),
            i,
            "disagree",
            draw(st.sampled_from([pb.DISPUTE_OUTCOME_UNSPECIFIED, pb.DISPUTE_OUTCOME_REJECTED])),
        )
        for i in range(draw(st.integers(0, 2)))
    )
    return record(
        draw(st.sampled_from(["bank-a", "bank-b", "bank-c"])),
        draw(st.sampled_from(["r-1", "r-2", "r-3"])),  # the same ref twice now and then
        missed,
        reported_on=draw(st.sampled_from([missed, draw(_DAYS)])),
        status=status,
        settled_on=settled_on,
        currency=draw(st.sampled_from(["CNY", "USD"])),
        outstanding_minor=draw(st.integers(0, 10**9)),
        dpd_bucket=draw(st.integers(1, 7)),
        suppressed=draw(st.booleans()),
        erased=draw(st.booleans()) and draw(st.booleans()),
        disputes=disputes,
    )


@settings(max_examples=400, deadline=None)
@given(
    recs=st.lists(_summarised_record(), max_size=6),
    as_of=_DAYS,
    deadline_days=st.sampled_from([5, 20]),
)
def test_summarise_agrees_with_the_figures_spelled_out(
    recs: list[RecordState], as_of: date, deadline_days: int
) -> None:
    rules = Rules(dispute_deadline_days=deadline_days)
    got = summarise(recs, as_of, rules)
    want = _summarise_reference(recs, as_of, rules)
    assert got == want
    assert list(got.outstanding) == list(want.outstanding)  # the same order, too
    assert all(type(v) is int for v in (got.defaults_12m, got.active, got.worst_dpd_bucket))


def test_summarise_drops_records_past_retention() -> None:
    settled = record(status=Status.SETTLED, settled_on=date(2026, 11, 2), dpd_bucket=7)
    active = record(record_id="other", dpd_bucket=1)
    assert summarise([settled, active], date(2031, 11, 1)).worst_dpd_bucket == 7
    s = summarise([settled, active], date(2031, 11, 2))
    assert (s.settled, s.worst_dpd_bucket) == (0, 1)


def test_summarise_dispute_flags() -> None:
    opened = Dispute("d-1", date(2026, 11, 2), 9, "disagree")
    recs = [record(disputes=(opened,)), record(record_id="clean")]
    assert summarise(recs, date(2026, 11, 22)).open_dispute
    assert not summarise(recs, date(2026, 11, 22)).overdue_dispute
    assert summarise(recs, date(2026, 11, 23)).overdue_dispute
    assert summarise(recs, date(2026, 11, 8), Rules(dispute_deadline_days=5)).overdue_dispute
    closed = replace(opened, outcome=pb.DISPUTE_OUTCOME_REJECTED, resolved_on=date(2026, 11, 5))
    s = summarise([record(disputes=(closed,))], date(2027, 1, 1))
    assert (s.open_dispute, s.overdue_dispute) == (False, False)
    hidden = summarise([record(disputes=(opened,), suppressed=True)], date(2027, 1, 1))
    assert (hidden.open_dispute, hidden.overdue_dispute) == (False, False)


def test_summarise_nothing() -> None:
    s = summarise([], date(2026, 11, 2))
    assert (s.defaults_12m, s.active, s.worst_dpd_bucket) == (0, 0, 0)
    assert dict(s.outstanding) == {}
    assert s.reporting_members == ()


# --- the JSON codec ----------------------------------------------------------------------------


def test_codec_round_trip_of_a_lived_record(h: Harness) -> None:
    ref = h.report("bank-a", "loan-1")
    h.run("operator", ev.dispute_opened(ref, "d-1", TODAY, "amount wrong ✓"))
    correction = ev.record_updated(ref, outstanding_minor=10)
    h.run(
        "bank-a",
        ev.dispute_resolved(ref, "d-1", pb.DISPUTE_OUTCOME_CORRECTED, TODAY, correction=correction),
    )
    h.run("operator", ev.dispute_opened(ref, "d-2", TODAY, "still wrong"))
    h.run("bank-a", ev.record_settled(ref, TODAY, kind=pb.SETTLEMENT_KIND_NEGOTIATED))
    h.run("operator", ev.record_suppressed(ref, "order"))
    rec = h.record(ref)
    assert len(rec.disputes) == 2
    assert _read(record_to_json(rec), rec) == rec


def _read(text: str, rec: RecordState) -> RecordState:
    """``record_from_json`` with the row's columns as ``rec`` has them."""
    return record_from_json(text, rec.ref, rec.subject_commitment, rec.status.value)


def test_codec_round_trip_of_members(h: Harness) -> None:
    for m in h.state.members.values():
        assert member_from_json(m.member_id, member_to_json(m)) == m
    suspended = Member("x", "Name ✓", frozenset({1, 2, 4}), True, 12)
    assert member_from_json("x", member_to_json(suspended)) == suspended


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
indexes = st.integers(min_value=0, max_value=2**62)
disputes = st.builds(
    Dispute,
    dispute_id=st.text(min_size=1, max_size=20),
    opened_on=dates,
    opened_at=indexes,
    reason=st.text(max_size=40),
    outcome=st.sampled_from(sorted(pb.DisputeOutcome.values())),
    resolved_on=st.none() | dates,
    resolved_at=st.none() | indexes,
)
record_states = st.builds(
    RecordState,
    ref=st.builds(RecordRef, st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)),
    subject_commitment=st.binary(min_size=32, max_size=32),
    subject_kind=st.sampled_from(sorted(pb.SubjectKind.values())),
    loan_type=st.sampled_from(sorted(pb.LoanType.values())),
    currency=st.from_regex(r"\A[A-Z]{3}\Z"),
    principal_minor=st.integers(min_value=0, max_value=2**63 - 1),
    outstanding_minor=st.integers(min_value=0, max_value=2**63 - 1),
    days_past_due=st.integers(min_value=1, max_value=2**32 - 1),
    dpd_bucket=st.integers(min_value=0, max_value=7),
    first_missed_payment=dates,
    collection_stage=st.sampled_from(sorted(pb.CollectionStage.values())),
    borrower_notified_on=dates,
    reported_at=indexes,
    reported_on=dates,
    status=st.sampled_from(Status),
    settled_on=st.none() | dates,
    settlement_kind=st.sampled_from(sorted(pb.SettlementKind.values())),
    withdrawn_reason=st.text(max_size=40),
    suppressed=st.booleans(),
    erased=st.booleans(),
    disputes=st.lists(disputes, max_size=4).map(tuple),
    entries=st.lists(indexes, max_size=8).map(tuple),
)


@SETTINGS
@given(record_states)
def test_codec_round_trip(rec: RecordState) -> None:
    text = record_to_json(rec)
    assert _read(text, rec) == rec
    assert record_to_json(_read(text, rec)) == text
    assert text == json.dumps(json.loads(text), separators=(",", ":"))  # compact JSON
    assert json.loads(text)[0] == RECORD_STATE_FORMAT
    # The fields the row keeps in columns are not in the text.
    assert rec.subject_commitment.hex() not in text


def test_format_3_layout_rests_on_the_field_order() -> None:
    """Format 3 leaves out the first two fields and ``status`` by position."""
    assert RecordState._fields[:2] == ("ref", "subject_commitment")


@pytest.mark.parametrize("text", [FORMAT_1, FORMAT_2], ids=["format 1", "format 2"])
def test_codec_reads_earlier_formats(text: str) -> None:
    rec = _read(text, FORMAT_1_STATE)
    assert rec == FORMAT_1_STATE
    again = record_to_json(rec)  # rewritten as format 3, without the columns' fields
    assert json.loads(again)[0] == 3 and len(again) < len(FORMAT_2) - 90
    assert _read(again, rec) == rec


@pytest.mark.parametrize(
    "text", [FORMAT_1, FORMAT_2, record_to_json(FORMAT_1_STATE)], ids=["1", "2", "3"]
)
def test_codec_takes_key_commitment_and_status_from_the_columns(text: str) -> None:
    """Lookups find records by the row's columns, so every format reads them from there."""
    other = RecordRef("bank-b", "L-7"), b"\x07" * 32, "active"
    rec = record_from_json(text, *other)
    assert (rec.ref, rec.subject_commitment, rec.status.value) == other
    assert (
        rec._replace(
            ref=FORMAT_1_STATE.ref,
            subject_commitment=FORMAT_1_STATE.subject_commitment,
            status=FORMAT_1_STATE.status,
        )
        == FORMAT_1_STATE
    )


def test_codec_refuses_an_unknown_format() -> None:
    text = record_to_json(FORMAT_1_STATE)
    with pytest.raises(ValueError, match="unknown format 4 of 20 values"):
        _read("[4" + text[2:], FORMAT_1_STATE)
    with pytest.raises(ValueError, match="unknown format 3 of 19 values"):
        _read(json.dumps(json.loads(text)[:-1]), FORMAT_1_STATE)
    with pytest.raises(ValueError, match="unknown format 2 of 22 values"):
        _read(json.dumps(json.loads(FORMAT_2)[:-1]), FORMAT_1_STATE)


def test_the_legal_day_turns_at_local_midnight() -> None:
    cst = Rules()  # UTC+8
    before = int(datetime(2026, 1, 1, 16, tzinfo=UTC).timestamp()) * 10**6 - 1  # 23:59:59.999999
    assert cst.day(before) == date(2026, 1, 1)
    assert cst.day(before + 1) == date(2026, 1, 2)
    assert Rules(utc_offset_minutes=0).day(before + 1) == date(2026, 1, 1)
    assert Rules(utc_offset_minutes=-300).day(-1) == date(1969, 12, 31)


@given(st.integers(-(10**15), 4 * 10**15), st.sampled_from([480, 0, -300, 330, 840]))
def test_the_legal_day_matches_the_calendar(unix_us: int, offset: int) -> None:
    local = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=unix_us, minutes=offset)
    assert Rules(utc_offset_minutes=offset).day(unix_us) == local.date()


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda: ev.record_reported(
                "R-1",
                b"\0" * 32,
                principal_minor=2**70,
                outstanding_minor=1,
                days_past_due=40,
                first_missed_payment=TODAY,
                borrower_notified_on=TODAY,
            ),
            r"principal_minor: 1180591620717411303424 is out of range",
        ),
        (
            lambda: ev.record_reported(
                "R-1",
                b"\0" * 32,
                principal_minor=100,
                outstanding_minor=1.5,  # type: ignore[arg-type]
                days_past_due=40,
                first_missed_payment=TODAY,
                borrower_notified_on=TODAY,
            ),
            "outstanding_minor: want a whole number, got float",
        ),
        (
            lambda: ev.record_updated(RecordRef("bank-a", "R-1"), days_past_due=-1),
            r"days_past_due: -1 is out of range \(0 to 4294967295\)",
        ),
        (
            lambda: ev.record_settled(RecordRef("bank-a", "R-1"), TODAY, amount_paid_minor=True),  # type: ignore[arg-type]
            "amount_paid_minor: want a whole number, got bool",
        ),
    ],
    ids=["too-large", "not-whole", "negative-dpd", "bool"],
)
def test_numbers_the_wire_cannot_hold_are_input_errors_naming_the_field(
    make: Callable[[], Message], said: str
) -> None:
    with pytest.raises(InputError, match=said):
        make()


@pytest.mark.parametrize(
    "case", ["amount above the ceiling", "currency with a newline", "update as of tomorrow"]
)
def test_checks_added_later_hold_for_new_entries_only(case: str) -> None:
    """The ledger refuses these now (admitting), but entries a server took before the checks
    existed still replay: a client folding a record, an audit and a projection rebuild accept
    them, or every lookup of the borrower would fail for good."""
    h = Harness()
    genesis(h)
    h.admit("bank-a", [pb.ROLE_REPORTER])
    ref = h.report("bank-a", "L-1")
    if case == "update as of tomorrow":
        event: Message = ev.record_updated(ref, days_past_due=60)
        tomorrow = h.today + timedelta(days=1)
        event.as_of.year, event.as_of.month, event.as_of.day = (  # type: ignore[attr-defined]
            tomorrow.year,
            tomorrow.month,
            tomorrow.day,
        )
    else:
        event = reported("L-2")
        if case == "amount above the ceiling":
            event.principal.minor_units = MAX_MINOR + 1  # type: ignore[attr-defined]
        else:
            event.principal.currency = "CNY\n"  # type: ignore[attr-defined]
            event.outstanding.currency = "CNY\n"  # type: ignore[attr-defined]
    sub = ev.Member("bank-a", h.signers["bank-a"], ORIGIN).submission(event)

    def applied(admitting: bool) -> Changes:
        ctx = Context(h.index, h.clock(), h.rules, admitting=admitting)
        return apply(copy.deepcopy(h.state), sub, ctx)

    with pytest.raises(InputError):
        applied(True)
    assert applied(False).records
