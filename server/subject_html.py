"""The subject report as one self-contained, printable HTML page (PDF-ready: print to PDF)."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from arrears.client.verify import SubjectReport
from arrears.ledger.records import Status, amount_text
from arrears.v1 import events_pb2 as pb

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #111 }
h1 { font-size: 1.5rem } h2 { font-size: 1.15rem; margin-top: 2rem }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 }
th, td { border: 1px solid #bbb; padding: .3rem .5rem; text-align: left; vertical-align: top }
th { background: #f2f2f2 } .muted { color: #555 } .flag { color: #a40000; font-weight: 600 }
@media print { body { margin: 1cm } }
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _enum(kind: type, value: int, prefix: str) -> str:
    try:
        return str(kind.Name(value)).removeprefix(prefix).replace("_", " ").lower()  # type: ignore[attr-defined]
    except ValueError:
        return str(value)


def render(report: SubjectReport, *, subject_label: str, request_reference: str) -> str:
    rows = []
    for rec, until in report.records:
        d = rec.open_dispute
        dispute = (
            f'<span class="flag">open since {d.opened_on}</span>'
            if d is not None
            else ", ".join(
                f"{x.dispute_id}: {_enum(pb.DisputeOutcome, x.outcome, 'DISPUTE_OUTCOME_')}"
                for x in rec.disputes
            )
        )
        if rec.status is Status.WITHDRAWN or rec.suppressed:
            serving = "not served"
        elif until is None:
            serving = "while the default lasts"
        else:
            serving = f"until {until}" if until > report.as_of else f"ended {until}"
        rows.append(
            "<tr>"
            f"<td>{_e(rec.ref)}</td><td>{_e(rec.status.value)}</td>"
            f"<td>{_e(_enum(pb.LoanType, rec.loan_type, 'LOAN_TYPE_'))}</td>"
            f"<td>{_e(amount_text(rec.outstanding_minor, rec.currency))}</td>"
            f"<td>{rec.days_past_due}</td><td>{rec.first_missed_payment}</td>"
            f"<td>{rec.borrower_notified_on}</td><td>{dispute}</td><td>{_e(serving)}</td>"
            f"<td class='muted'>{', '.join(str(i) for i in rec.entries)}</td>"
            "</tr>"
        )
    inquiries = [
        "<tr>"
        f"<td>{datetime.fromtimestamp(q.at_unix_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC</td>"
        f"<td>{_e(q.member_id)}</td><td>{_e(_enum(pb.Purpose, q.purpose, 'PURPOSE_'))}</td>"
        f"<td>{_e(q.consent_reference)}</td><td class='muted'>{q.index}</td>"
        "</tr>"
        for q in report.inquiries
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Credit report — {_e(subject_label)}</title>
<style>{_CSS}</style></head><body>
<h1>Your arrears report</h1>
<p>Subject {_e(subject_label)} · as of {report.as_of} · request {_e(request_reference)}</p>
<p class="muted">Every entry below is proven to be in the ledger at checkpoint
{report.checkpoint.size} ({_e(report.checkpoint.origin)}); every lookup is proven in the
inquiry log at checkpoint {report.inquiry_checkpoint.size}.</p>
<h2>Records ({len(report.records)})</h2>
<table><tr><th>record</th><th>status</th><th>loan</th><th>outstanding</th><th>days past due</th>
<th>first missed payment</th><th>you were notified</th><th>dispute</th><th>served</th>
<th>ledger entries</th></tr>
{"".join(rows) or '<tr><td colspan="10">No record.</td></tr>'}</table>
<h2>Who looked you up ({len(report.inquiries)})</h2>
<table><tr><th>when</th><th>member</th><th>purpose</th><th>consent reference</th>
<th>inquiry entry</th></tr>
{"".join(inquiries) or '<tr><td colspan="5">Nobody.</td></tr>'}</table>
<p class="muted">You may dispute any record through the operator; a disputed record is flagged
to every lender at once and must be answered within 20 days. Negative data stops being served
five years after the default ends.</p>
</body></html>
"""
