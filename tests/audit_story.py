"""A small ledger with a bit of everything, built through a real server (LocalConsortium):
reports of several loan types by two banks over a year, updates, settlements, a dispute
resolved and one left open, an erasure on request, an erasure after retention, and lookups
with several purposes in the inquiry log. For the audit's CLI and report tests.

Retention is one year here (``RULES``), so that the story spans a year rather than five.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from arrears.client.testing import LocalConsortium
from arrears.ledger import events as ev
from arrears.ledger.records import RecordRef, Rules
from arrears.v1 import events_pb2 as pb

RULES = Rules(retention_years=1)
RULES_TOML = "[rules]\nretention_years = 1\n"
AS_OF = date(2025, 4, 1)  # after the story: A2's retention ended (2025-03-05) and it was erased
MEMBERS = {
    "bank-a": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
    "bank-b": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
    "regulator": (pb.ROLE_REGULATOR,),
}
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"


def resident_id(n: int) -> str:
    body = f"11010519800101{n:03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _default(first_missed: date, dpd: int, loan_type: int) -> dict[str, Any]:
    return {
        "principal_minor": 1_000_000,
        "outstanding_minor": 700_000,
        "days_past_due": dpd,
        "first_missed_payment": first_missed,
        "borrower_notified_on": first_missed + timedelta(days=dpd // 2),
        "loan_type": loan_type,
    }


def tell(net: LocalConsortium) -> None:
    """Play the story on a started consortium whose clock is before 2024-01-15."""
    a, b = net.client("bank-a"), net.client("bank-b")
    op = net.client(net.operator_id)
    clock = net.clock
    clock.set(date(2024, 1, 15))
    a.report(resident_id(1), "A1", **_default(date(2023, 11, 1), 45, pb.LOAN_TYPE_PERSONAL))
    a.report(resident_id(2), "A2", **_default(date(2023, 10, 1), 95, pb.LOAN_TYPE_MORTGAGE))
    b.report(resident_id(3), "B1", **_default(date(2023, 12, 1), 20, pb.LOAN_TYPE_AUTO))
    clock.set(date(2024, 2, 10))
    a.update("A1", days_past_due=75, outstanding_minor=650_000)
    b.report(resident_id(4), "B2", **_default(date(2024, 1, 1), 35, pb.LOAN_TYPE_CREDIT_CARD))
    b.check(resident_id(1), consent_reference="APP-1")
    b.check(resident_id(2), purpose=pb.PURPOSE_ACCOUNT_REVIEW, consent_reference="REV-1")
    clock.set(date(2024, 3, 5))
    op.open_dispute(RecordRef("bank-b", "B1"), "D1", date(2024, 3, 5), "not my loan")
    a.settle("A2", date(2024, 3, 5))
    a.check(resident_id(3), consent_reference="APP-2")
    clock.set(date(2024, 3, 20))
    b.resolve_dispute(
        RecordRef("bank-b", "B1"), "D1", pb.DISPUTE_OUTCOME_REJECTED, date(2024, 3, 20)
    )
    clock.set(date(2024, 4, 2))
    op.open_dispute(RecordRef("bank-a", "A1"), "D2", date(2024, 4, 2), "already repaid")
    b.report(resident_id(5), "B3", **_default(date(2024, 2, 1), 61, pb.LOAN_TYPE_BUSINESS))
    clock.set(date(2024, 4, 15))
    op.submit(ev.record_erased(RecordRef("bank-b", "B2"), pb.ERASURE_REASON_LAWFUL_REQUEST))
    b.check(resident_id(3), purpose=pb.PURPOSE_GUARANTEE, consent_reference="GUA-7")
    clock.set(date(2025, 3, 10))
    op.submit(ev.record_erased(RecordRef("bank-a", "A2"), pb.ERASURE_REASON_RETENTION_ENDED))


def consortium(database_url: str, directory: Path) -> LocalConsortium:
    net = LocalConsortium(MEMBERS, rules=RULES, database_url=database_url, directory=directory)
    net.clock.set(date(2024, 1, 2))
    return net


@dataclass
class Cli:
    """The ``arrears`` app with the audit commands, and the global options to reach ``net``."""

    net: LocalConsortium
    tmp: Path

    def __post_init__(self) -> None:
        from arrears.server import cli_audit
        from arrears.server.cli import app

        cli_audit.register(app)
        self.app = app
        self.runner = CliRunner()
        self.config = self.tmp / "rules.toml"
        self.config.write_text(RULES_TOML)

    def globals(self, member: str = "regulator") -> list[str]:
        return [
            "--server",
            self.net.target,
            "--pki",
            str(self.net.pki.root),
            "--member",
            member,
            "--verifier-key",
            self.net.verifier_key,
            "--state",
            str(self.tmp / f"{member}-trusted.json"),
        ]

    def __call__(self, *args: str, member: str = "regulator") -> Result:
        return self.runner.invoke(self.app, [*self.globals(member), *args])

    def audit(self, *args: str) -> Result:
        return self("audit", "--as-of", AS_OF.isoformat(), "--config", str(self.config), *args)
