"""``make demo``: the whole of arrears in a few seconds, on embedded SQLite in a temporary
directory.

It starts a real server (gRPC over mutual TLS on 127.0.0.1) with a development PKI, admits three
banks and a regulator, and follows one story: an applicant who defaulted three times in the
past year at two banks applies for a loan at a third bank, which checks him and declines with
reasons; another bank's existing borrower defaults elsewhere and the watch alert arrives; the
applicant disputes a record and every lender sees the flag; a default is settled. It ends by
verifying every receipt, the checkpoint chain and the whole ledger as a regulator would.
"""

from __future__ import annotations

import base64
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from arrears.client.policy import Policy, Rule
from arrears.client.sdk import Alert
from arrears.client.testing import LocalConsortium
from arrears.ledger import events as ev
from arrears.ledger.identifiers import parse_subject
from arrears.ledger.leaf import chain_hashes
from arrears.ledger.merkle import root_from_leaf_hashes, verify_consistency
from arrears.ledger.note import parse_verifier_key
from arrears.ledger.projection import check_projection
from arrears.ledger.tlogproof import TlogProof
from arrears.ledger.verify import verify_log
from arrears.server.cli import print_check
from arrears.v1 import events_pb2 as pb

console = Console(highlight=False, width=110)

WANG = "11010519491231002X"  # the applicant (a published valid example of GB 11643)
LI = "440106198507160022"  # bank-c's existing borrower
TODAY = date(2026, 11, 20)


def step(title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")


def say(text: str) -> None:
    console.print(text)


def yuan(minor: int) -> str:
    return f"¥{minor / 100:,.2f}"


def main() -> None:
    console.print(
        Panel.fit(
            "[bold]arrears[/bold] — a shared, verifiable registry of loan defaults\n"
            "demo on embedded SQLite, server over mutual TLS on 127.0.0.1",
            border_style="blue",
        )
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arrears-demo-") as tmp:
        members = {
            "bank-a": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
            "bank-b": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
            "bank-c": (pb.ROLE_REPORTER, pb.ROLE_LENDER),
            "regulator": (pb.ROLE_REGULATOR,),
        }
        with LocalConsortium(members, directory=Path(tmp)) as net:
            net.clock.set(TODAY)
            run_story(net)
    console.print(f"\n[bold green]demo finished[/bold green] in {time.monotonic() - started:.1f} s")


def run_story(net: LocalConsortium) -> None:
    step("1. The consortium")
    say(f"Server on {net.target}, ledger in {net.database_url.removeprefix('sqlite:///')}")
    say(f"Development PKI in {net.pki.root} (CA, server and member certificates, signing keys)")
    say(f"Log verifier key: [cyan]{net.verifier_key}[/cyan]")
    op = net.client("operator")
    for m in sorted(op.members().members, key=lambda m: m.admitted_at):
        roles = ", ".join(pb.Role.Name(r).removeprefix("ROLE_").lower() for r in m.roles)
        say(f"  admitted [bold]{m.member_id}[/bold] ({roles}) at ledger index {m.admitted_at}")

    a, b, c = net.client("bank-a"), net.client("bank-b"), net.client("bank-c")
    regulator = net.client("regulator")
    receipts = []

    step("2. Bank C's existing borrower is watched")
    say(f"Bank C lends to Li Na ({parse_subject('resident_id', LI)}); it registers her for alerts.")
    c.register([(LI, "C-MORTGAGE-3301")])
    alerts: list[Alert] = []
    got_alert = threading.Event()

    def listen() -> None:
        for alert in c.watch():
            alerts.append(alert)
            got_alert.set()
            return

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.3)

    step("3. Banks A and B report Wang Jun's defaults (the ID never leaves the bank)")
    say(
        f"Wang Jun's ID {parse_subject('resident_id', WANG)} is validated (GB 11643), blinded and "
        "evaluated obliviously (RFC 9497 VOPRF): the server sees neither it nor the pseudonym's input."
    )
    reports = [
        (a, "A-CARD-1187", pb.LOAN_TYPE_CREDIT_CARD, 3_000_000, 2_870_000, 75, date(2026, 8, 28)),
        (a, "A-LOAN-2093", pb.LOAN_TYPE_PERSONAL, 15_000_000, 11_250_000, 120, date(2026, 7, 15)),
        (b, "B-AUTO-5521", pb.LOAN_TYPE_AUTO, 9_800_000, 6_400_000, 40, date(2026, 10, 10)),
    ]
    for bank, record_id, loan_type, principal, outstanding, dpd, missed in reports:
        r = bank.report(
            WANG,
            record_id,
            loan_type=loan_type,
            principal_minor=principal,
            outstanding_minor=outstanding,
            days_past_due=dpd,
            first_missed_payment=missed,
            borrower_notified_on=date(2026, 11, 1),
        )
        receipts.append(r)
        say(
            f"  {bank.aio.identity.member_id} reported {record_id}: {dpd} days past due, "
            f"{yuan(outstanding)} outstanding → receipt: index {r.index}, checkpoint {r.tree_size}"
        )
    say("  A report without the borrower's prior notice is refused:")
    try:
        a.report(
            WANG,
            "A-LOAN-9999",
            principal_minor=100_000,
            outstanding_minor=100_000,
            days_past_due=31,
            first_missed_payment=date(2026, 10, 1),
            borrower_notified_on=None,
        )
    except Exception as e:  # shown to the reader, not swallowed
        say(f"  [red]{type(e).__name__}[/red]: {e}")

    step("4. Bank A's report about Li Na reaches her lender, Bank C")
    r = a.report(
        LI,
        "A-CARD-7710",
        loan_type=pb.LOAN_TYPE_CREDIT_CARD,
        principal_minor=2_000_000,
        outstanding_minor=1_960_000,
        days_past_due=35,
        first_missed_payment=date(2026, 10, 12),
        borrower_notified_on=date(2026, 11, 3),
    )
    receipts.append(r)
    if got_alert.wait(10):
        al = alerts[0]
        say(
            f"  [yellow]alert at Bank C[/yellow]: {al.event} of {al.record} about its borrower "
            f"{al.relationship_reference} (entry {al.index}, proven in checkpoint {al.checkpoint.size})"
        )
    else:
        say("  [red]no alert arrived within 10 s[/red]")

    step("5. Wang Jun applies for a loan at Bank C, which checks him")
    policy = Policy(
        [
            Rule("decline", "defaults_12m", ">=", 3, "3 or more defaults in the last 12 months"),
            Rule("decline", "worst_dpd_bucket", ">=", 4, "a default more than 90 days past due"),
            Rule("refer", "open_dispute", "==", True, "a record is under dispute"),
        ]
    )
    result = c.check(WANG, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference="C-APP-2026-118")
    say(
        "Every record came with inclusion proofs against a signed checkpoint consistent with the "
        "last one Bank C trusted; the salt opened each report's commitment with Bank C's own pseudonym."
    )
    print_check(result, policy.decide(result.summary), console)

    step("6. Wang Jun disputes Bank B's record; every lender sees the flag at once")
    op.submit(
        ev.dispute_opened(
            b.ref("B-AUTO-5521"), "D-2026-0042", TODAY, "the car was returned in June"
        )
    )
    flagged = a.check(WANG, purpose=pb.PURPOSE_ACCOUNT_REVIEW, consent_reference="A-REVIEW-77")
    disputed = [str(x.ref) for x in flagged.records if x.open_dispute is not None]
    say(
        f"  Bank A now sees the dispute flag on {', '.join(disputed)} (open_dispute = {flagged.summary.open_dispute})"
    )
    say(
        f"  Bank C's policy now says: {policy.decide(flagged.summary).outcome.upper()}, with reasons:"
    )
    for reason in policy.decide(flagged.summary).reasons:
        say(f"    - {reason}")

    step("7. Wang Jun repays Bank A's credit card")
    net.clock.set(date(2026, 11, 21))
    receipts.append(a.settle("A-CARD-1187", date(2026, 11, 21)))
    after = c.check(WANG, purpose=pb.PURPOSE_LOAN_ORIGINATION, consent_reference="C-APP-2026-119")
    settled = next(x for x in after.records if x.ref == a.ref("A-CARD-1187"))
    say(
        f"  A-CARD-1187 is now {settled.status.value} on {settled.settled_on}; it stays visible until "
        f"{settled.settled_on.replace(year=settled.settled_on.year + 5) if settled.settled_on else '-'} "
        "(five years after the default ended); then the operator erases it "
        "(`arrears erase`), and a regulator's audit flags any record kept longer."
    )
    say(f"  Active defaults now: {after.summary.active}; settled: {after.summary.settled}")

    step("8. Everything is verified, as a regulator or any bank would")
    verifier = parse_verifier_key(net.verifier_key)
    for r in receipts:
        proof = TlogProof.parse(r.tlog_proof)
        leaf = regulator.inclusion_proof(r.index).leaf
        proof.verify(leaf, [verifier])
    say(
        f"  {len(receipts)} receipts (C2SP tlog-proof texts) verify offline against their checkpoints"
    )
    latest = regulator.checkpoint()
    leaves = [leaf for _, leaf in regulator.entries(0, latest.size)]
    hashes = chain_hashes(leaves)
    root = root_from_leaf_hashes(hashes)
    assert root == latest.root, "recomputed root differs from the checkpoint"
    say(
        f"  The regulator streamed all {len(leaves)} entries, re-hashed them, checked the hash chain "
        f"and recomputed the root {base64.b64encode(root).decode()[:16]}…: it equals the signed checkpoint"
    )
    first = receipts[0].checkpoint
    proof_hashes = regulator.consistency_proof(first.size, latest.size)
    verify_consistency(first.size, latest.size, first.root, latest.root, proof_hashes)
    say(
        f"  Checkpoint {first.size} → {latest.size} consistency proof verifies: history was only appended to"
    )
    storage = net.node.storage
    verified = verify_log(storage, [verifier])
    diff = check_projection(storage)
    say(
        f"  The operator's own check: {verified.size} leaves, every tile and the root verify; "
        f"the projection rebuilt from the ledger {'equals' if not diff else 'DIFFERS from'} the live one"
    )
    say(
        f"  Inquiry log: {net.node.inquiries.head().size} lookups recorded, each with purpose and consent reference"
    )
    latest_note = regulator.aio.trust.trusted
    assert latest_note is not None
    console.print(
        Panel(
            latest_note.note.decode().rstrip(),
            title="the latest signed checkpoint (C2SP signed note)",
        )
    )


if __name__ == "__main__":
    main()
