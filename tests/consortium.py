"""A small consortium for tests: an operator, two banks and a regulator over one ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from arrears.ledger import events as ev
from arrears.ledger.envelope import MemberSigner
from arrears.ledger.ledger import Ledger, Opening, ProjectionStorage
from arrears.ledger.log import Appended
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.pseudonym import Pseudonym, new_salt, subject_commitment
from arrears.ledger.records import RecordRef
from arrears.v1 import events_pb2 as pb

ORIGIN = "arrears.test/ledger"
TODAY = date(2026, 11, 2)


class Clock:
    """A clock tests move by hand (unix microseconds)."""

    def __init__(self, day: date = TODAY) -> None:
        self.now_us = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1e6)

    def __call__(self) -> int:
        return self.now_us

    def set(self, day: date) -> None:
        self.now_us = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1e6)


def pseudonym(n: int) -> bytes:
    return Pseudonym(1, n.to_bytes(32, "big")).to_bytes()


@dataclass
class Consortium:
    ledger: Ledger
    clock: Clock
    log_signer: Ed25519Signer
    members: dict[str, ev.Member] = field(default_factory=dict)

    def m(self, member_id: str) -> ev.Member:
        return self.members[member_id]

    def submit(self, member_id: str, event: object, **kw: object) -> Appended:
        env = self.m(member_id).sign(event, **kw)  # type: ignore[arg-type]
        return self.ledger.append(env)

    def report(
        self,
        member_id: str,
        record_id: str,
        subject: int,
        *,
        days_past_due: int = 45,
        first_missed: date = date(2026, 9, 1),
        notified: date | None = date(2026, 10, 1),
        outstanding: int = 500_000,
        submission_id: str | None = None,
    ) -> Appended:
        salt = new_salt()
        p = pseudonym(subject)
        commitment = subject_commitment(salt, Pseudonym.from_bytes(p))
        event = ev.record_reported(
            record_id,
            commitment,
            principal_minor=1_000_000,
            outstanding_minor=outstanding,
            days_past_due=days_past_due,
            first_missed_payment=first_missed,
            borrower_notified_on=notified,
        )
        env = self.m(member_id).sign(event, submission_id=submission_id)
        return self.ledger.append(env, Opening(p, salt))

    def ref(self, member_id: str, record_id: str) -> RecordRef:
        return RecordRef(member_id, record_id)


def build(storage: ProjectionStorage, clock: Clock | None = None) -> Consortium:
    clock = clock or Clock()
    log_signer = Ed25519Signer.generate(ORIGIN)
    ledger = Ledger(storage, log_signer, clock=clock)
    c = Consortium(ledger, clock, log_signer)
    op_key = MemberSigner.generate()
    c.members["operator"] = ev.Member("operator", op_key, ORIGIN)
    c.submit(
        "operator",
        ev.member_admitted(
            "operator", "Consortium operator", [pb.ROLE_OPERATOR], [op_key.public_key]
        ),
    )
    for mid, roles in (
        ("bank-a", [pb.ROLE_REPORTER, pb.ROLE_LENDER]),
        ("bank-b", [pb.ROLE_REPORTER, pb.ROLE_LENDER]),
        ("bank-c", [pb.ROLE_REPORTER, pb.ROLE_LENDER]),
        ("regulator", [pb.ROLE_REGULATOR]),
    ):
        key = MemberSigner.generate()
        c.members[mid] = ev.Member(mid, key, ORIGIN)
        c.submit("operator", ev.member_admitted(mid, mid.title(), roles, [key.public_key]))
    return c
