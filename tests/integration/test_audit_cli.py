"""The regulator's export and audit commands on SQLite and PostgreSQL: a ledger built through
the server is exported (and the export resumed), audited from the export, the database and
live, all OK; then the database is tampered with in SQL, and each time the audit names the first
bad index and kind, and exits non-zero."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from arrears.ledger import events as ev
from arrears.ledger import schema
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.leaf import Leaf
from arrears.ledger.note import Ed25519Signer, sign_note, split_note
from arrears.ledger.records import decode_submission
from arrears.ledger.sql import create_engine
from arrears.v1 import events_pb2 as pb
from tests.audit_story import Cli, consortium, resident_id, tell

LV = schema.LEDGER.leaves
HEAD = schema.LEDGER.head
CPS = schema.LEDGER.checkpoints


@dataclass
class Built:
    cli: Cli
    url: str
    tmp: Path
    export: Path
    inquiries: Path


@pytest.fixture
def built(db_url: str, tmp_path: Path) -> Iterator[Built]:
    """The story's ledger, exported, with the server still running."""
    net = consortium(db_url, tmp_path / "net")
    with net:
        tell(net)
        cli = Cli(net, tmp_path)
        export, inquiries = tmp_path / "ledger.jsonl", tmp_path / "inquiries.jsonl"
        r = cli("export", str(export))
        assert r.exit_code == 0, r.output
        r = cli("export", str(inquiries), "--log", "inquiries")
        assert r.exit_code == 0, r.output
        live = cli.audit("--json", str(tmp_path / "live.json"))
        assert live.exit_code == 0, live.output
        assert live.stdout.startswith("OK: ledger arrears.test/ledger from the server")
        yield Built(cli, db_url, tmp_path, export, inquiries)


def audit_json(b: Built, *args: str) -> tuple[int, str, dict[str, Any]]:
    out = b.tmp / "result.json"
    out.unlink(missing_ok=True)
    r = b.cli.audit(*args, "--json", str(out))
    return r.exit_code, r.stdout, json.loads(out.read_text())


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def index_of(built: Built, record_id: str) -> int:
    """The ledger index of a record's report, from the export's decoded fields."""
    for e in lines(built.export)[1:-1]:
        if e["submission"].get("record_reported", {}).get("record_id") == record_id:
            return int(e["index"])
    raise AssertionError(f"no report of {record_id}")


def test_an_export_audits_ok_and_resumes_where_it_stopped(built: Built) -> None:
    rows = lines(built.export)
    assert rows[0] == {
        "format": "arrears-export/v1",
        "log": "ledger",
        "origin": "arrears.test/ledger",
    }
    entries, last = rows[1:-1], rows[-1]
    assert [e["index"] for e in entries] == list(range(16))
    assert last["tree_size"] == 16 and last["checkpoint"].startswith("arrears.test/ledger\n16\n")
    report = entries[index_of(built, "A1")]
    assert report["submission"]["member_id"] == "bank-a"
    assert set(report) >= {"leaf", "leaf_hash", "integrated_at", "key_id"}
    assert report["integrated_at"].startswith("2024-01-15T")
    inq = lines(built.inquiries)
    assert inq[0]["log"] == "inquiries" and inq[0]["origin"] == "arrears.test/ledger/inquiries"
    assert [e["inquiry"]["purpose"] for e in inq[1:-1]] == [
        "PURPOSE_LOAN_ORIGINATION",
        "PURPOSE_ACCOUNT_REVIEW",
        "PURPOSE_LOAN_ORIGINATION",
        "PURPOSE_GUARANTEE",
    ]

    code, stdout, result = audit_json(built, "--export", str(built.export))
    assert code == 0, stdout
    assert stdout.startswith("OK: ledger arrears.test/ledger from ")
    assert result["ok"] and result["size"] == 16 and result["first_fault"] is None
    assert [d["record"] for d in result["overdue_disputes"]] == ["bank-a/A1"]
    assert result["stats"]["records_by_status"] == {"active": 3, "erased": 2}
    assert json.loads((built.tmp / "live.json").read_text())["root"] == result["root"]

    r = built.cli("audit-inquiries", "--export", str(built.inquiries))
    assert r.exit_code == 0 and r.stdout.startswith("OK: inquiry log"), r.output

    # resume: an interrupted export (its checkpoint line and half an entry gone) is finished
    text = built.export.read_text().splitlines(keepends=True)
    built.export.write_text("".join(text[:10]) + text[10][:40])
    built.cli.net.client("bank-a").report(resident_id(9), "A9", **_recent())
    r = built.cli("export", str(built.export))
    assert r.exit_code == 0, r.output
    assert "exported entries 9 to 16" in r.stdout
    rows = lines(built.export)
    assert [e["index"] for e in rows[1:-1]] == list(range(17)) and rows[-1]["tree_size"] == 17
    code, stdout, result = audit_json(built, "--export", str(built.export))
    assert code == 0 and result["size"] == 17, stdout


def test_export_from_an_index_and_exports_written_by_other_tools(built: Built) -> None:
    part = built.tmp / "part.jsonl"
    r = built.cli("export", str(part), "--from", "10")
    assert r.exit_code == 0, r.output
    assert [e["index"] for e in lines(part)[1:-1]] == list(range(10, 16))
    # rewinding an export: entries from 3 on are written again, the rest kept
    before = lines(built.export)
    r = built.cli("export", str(built.export), "--from", "3")
    assert r.exit_code == 0, r.output
    assert lines(built.export) == before
    r = built.cli("export", str(part), "--from", "20")
    assert r.exit_code == 2 and "would leave a gap" in said(r.output)
    assert [e["index"] for e in lines(part)[1:-1]] == list(range(10, 16))  # untouched
    # the same export with its keys in another order and other spacing
    other = built.tmp / "other.jsonl"
    other.write_text("".join(json.dumps(x, sort_keys=True, indent=None) + "\n" for x in before))
    code, stdout, result = audit_json(built, "--export", str(other))
    assert code == 0 and result["size"] == 16, stdout
    # a partial export lacks the entries before it: a gap from 0
    code, stdout, result = audit_json(built, "--export", str(part))
    assert code == 1 and result["first_fault"] == {
        "kind": "gap",
        "index": 0,
        "message": "entries 0 to 9 are missing",
    }


def _recent() -> dict[str, Any]:
    from datetime import date

    return {
        "principal_minor": 100_000,
        "outstanding_minor": 90_000,
        "days_past_due": 40,
        "first_missed_payment": date(2025, 1, 20),
        "borrower_notified_on": date(2025, 2, 5),
    }


def test_a_saved_checkpoint_carries_over_and_a_forged_one_is_caught(built: Built) -> None:
    saved = built.tmp / "state.json"
    code, stdout, _ = audit_json(built, "--database", built.url, "--saved", str(saved))
    assert code == 0, stdout
    state = json.loads(saved.read_text())
    assert state["tree_size"] == 16 and state["origin"] == "arrears.test/ledger"
    code, stdout, _ = audit_json(built, "--database", built.url, "--saved", str(saved))
    assert code == 0, stdout
    # a saved checkpoint of another history (another root at the same size)
    state["root"] = "A" * 43 + "="
    saved.write_text(json.dumps(state))
    code, stdout, result = audit_json(built, "--database", built.url, "--saved", str(saved))
    assert code == 1
    assert result["first_fault"]["kind"] == "consistency"
    assert json.loads(saved.read_text())["root"] == state["root"]  # not overwritten


# --- tampering with the database ------------------------------------------------------------


def leaf_at(conn: sa.Connection, index: int) -> bytes:
    return bytes(conn.execute(sa.select(LV.c.leaf).where(LV.c.idx == index)).scalar_one())


def set_leaf(conn: sa.Connection, index: int, data: bytes) -> None:
    conn.execute(sa.update(LV).where(LV.c.idx == index).values(leaf=data))


def flip_payload_byte(conn: sa.Connection, index: int) -> Callable[[sa.Connection], None]:
    """UPDATE one byte of a leaf's signed payload (in the subject commitment)."""
    data = leaf_at(conn, index)
    leaf = Leaf.decode(data)
    at = 85 + leaf.payload.index(decode_submission(leaf.payload).record_reported.subject_commitment)
    b = bytearray(data)
    b[at] ^= 0x01
    set_leaf(conn, index, bytes(b))
    return lambda c: set_leaf(c, index, data)


def delete_row(conn: sa.Connection, index: int) -> Callable[[sa.Connection], None]:
    data = leaf_at(conn, index)
    conn.execute(sa.delete(LV).where(LV.c.idx == index))
    return lambda c: c.execute(sa.insert(LV).values(idx=index, leaf=data))


def swap_rows(conn: sa.Connection, i: int, j: int) -> Callable[[sa.Connection], None]:
    a, b = leaf_at(conn, i), leaf_at(conn, j)
    set_leaf(conn, i, b)
    set_leaf(conn, j, a)

    def restore(c: sa.Connection) -> None:
        set_leaf(c, i, a)
        set_leaf(c, j, b)

    return restore


def resign_head(conn: sa.Connection) -> Callable[[sa.Connection], None]:
    """Replace the head's checkpoint note (and the stored one at that size) with the same body
    signed by another Ed25519 key under the log's name."""
    size, note = conn.execute(sa.select(HEAD.c.tree_size, HEAD.c.note)).one()
    note = bytes(note)
    body = split_note(note)[0]
    forged = sign_note(body, [Ed25519Signer.generate(Checkpoint.parse(body).origin)])
    conn.execute(sa.update(HEAD).values(note=forged))
    conn.execute(sa.update(CPS).where(CPS.c.tree_size == size).values(note=forged))

    def restore(c: sa.Connection) -> None:
        c.execute(sa.update(HEAD).values(note=note))
        c.execute(sa.update(CPS).where(CPS.c.tree_size == size).values(note=note))

    return restore


def test_tampering_with_the_database_is_named_with_the_first_bad_index(built: Built) -> None:
    engine = create_engine(built.url)
    b1 = index_of(built, "B1")  # bank-b's report of B1, which a later dispute is about
    cases: list[tuple[str, Callable[[sa.Connection], Callable[[sa.Connection], None]], Any]] = [
        ("leaf byte", lambda c: flip_payload_byte(c, b1), ("signature", b1)),
        ("deleted row", lambda c: delete_row(c, b1), ("gap", b1)),
        ("swapped rows", lambda c: swap_rows(c, b1, b1 + 4), ("order", b1)),
        ("re-signed checkpoint", resign_head, ("checkpoint_signature", None)),
    ]
    try:
        for name, tamper, (kind, index) in cases:
            with engine.begin() as conn:
                restore = tamper(conn)
            code, stdout, result = audit_json(built, "--database", built.url)
            where = "the checkpoint" if index is None else f"index {index}"
            assert code == 1, f"{name}: {stdout}"
            assert stdout.startswith(
                f"FAILED: ledger arrears.test/ledger from the database: "
                f"first fault at {where}: {kind} "
            ), f"{name}: {stdout}"
            assert result["first_fault"]["kind"] == kind, name
            assert result["first_fault"]["index"] == index, name
            assert not result["ok"] and not result["verified"]
            with engine.begin() as conn:
                restore(conn)
            code, stdout, _ = audit_json(built, "--database", built.url)
            assert code == 0, f"after restoring ({name}): {stdout}"
    finally:
        engine.dispose()


def said(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split()).replace("/ ", "/")


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        ("no final newline", 0),
        ("blank lines after it", 0),
        ("CRLF and a blank line", 0),
        ("half a checkpoint line", 2),
    ],
)
def test_an_exports_last_line_as_other_tools_leave_it(built: Built, ending: str, code: int) -> None:
    """A complete export re-written by another tool may lose its final newline or gain blank
    lines: it still audits. Half a checkpoint line is an interrupted export, as before."""
    text = built.export.read_text()
    assert text.endswith("}\n")
    copy = built.tmp / f"ending-{ending.replace(' ', '-')}.jsonl"
    copy.write_text(
        {
            "no final newline": text[:-1],
            "blank lines after it": text + "\n  \n",
            "CRLF and a blank line": text.replace("\n", "\r\n") + "\r\n",
            "half a checkpoint line": text[: text.rindex("\n", 0, -1) + 40],
        }[ending],
        newline="",
    )
    r = built.cli.audit("--export", str(copy), "--as-of", "2025-03-12")
    assert r.exit_code == code, r.output
    if code == 2:
        assert "no checkpoint line" in said(r.output)


def test_an_audit_that_cannot_run_says_why_with_status_2(built: Built) -> None:
    r = built.cli.audit("--export", str(built.tmp / "missing.jsonl"))
    assert r.exit_code == 2 and "No such file" in said(r.output)
    truncated = built.tmp / "truncated.jsonl"
    truncated.write_text("".join(built.export.read_text().splitlines(keepends=True)[:-1]))
    r = built.cli.audit("--export", str(truncated))
    assert r.exit_code == 2 and "no checkpoint line" in said(r.output)
    r = built.cli("audit", "--export", str(built.inquiries))
    assert r.exit_code == 2 and "an export of the inquiries log" in said(r.output)


def test_lookups_are_checked_against_the_members_of_the_ledger(built: Built) -> None:
    exports = ("--export", str(built.inquiries), "--ledger-export", str(built.export))
    rules = ("--config", str(built.cli.config))  # the story's retention, as the server's
    for args in (exports, ("--database", built.url, "--members"), ("--members",)):
        r = built.cli("audit-inquiries", *args, *rules)
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith("members as of ledger size 16, from "), r.output
        assert "OK: inquiry log" in r.stdout
    # Without the server's rules the ledger's early erasure is a fault: its members go untrusted.
    r = built.cli("audit-inquiries", *exports)
    assert r.exit_code == 1 and "does not verify (rule at index 15" in said(r.output)
    r = built.cli("audit-inquiries", "--export", str(built.inquiries), "--members")
    assert r.exit_code == 2 and "give the ledger's export too" in said(r.output)
    r = built.cli("audit-inquiries", "--ledger-export", str(built.export))
    assert r.exit_code == 2 and "goes with --export" in said(r.output)

    # A server that records a lookup by a member it has suspended (its role check skipped):
    # the suspension is in the ledger, the lookup two minutes later in the inquiry log.
    from arrears.server.node import Lookup

    net = built.cli.net
    net.client("operator").admin(ev.member_suspended("bank-b", "licence withdrawn"))
    net.clock.advance(120)
    at = net.node.inquiries.head().size
    pseudonym = net.node.oprf_epoch.to_bytes(4, "big") + bytes(32)
    net.node.check([Lookup("bank-b", pseudonym, pb.PURPOSE_LOAN_ORIGINATION, "APP-9")])
    out = built.tmp / "inq.json"
    r = built.cli(
        "audit-inquiries", "--database", built.url, "--members", *rules, "--json", str(out)
    )
    assert r.exit_code == 1, r.output
    findings = json.loads(out.read_text())["findings"]
    assert [(f["kind"], f["index"]) for f in findings] == [("member", at)]
    assert findings[0]["message"].startswith("lookup by bank-b at ")
    assert findings[0]["message"].endswith(
        ": suspended, or holding neither the lender nor the operator role"
    )


def test_the_inquiry_log_is_audited_from_the_database_too(built: Built) -> None:
    out = built.tmp / "inq.json"
    r = built.cli("audit-inquiries", "--database", built.url, "--json", str(out))
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["by_member_purpose"] == {
        "bank-a": {"loan-origination": 1},
        "bank-b": {"account-review": 1, "guarantee": 1, "loan-origination": 1},
    }


def test_an_export_cut_after_its_header_is_resumed_with_its_header(tmp_path: Path) -> None:
    """Interrupted before its first entry: the header stays, entries go after it."""
    from arrears.server.cli_audit import EXPORT_FORMAT, _prepare_export, read_export

    path = tmp_path / "header-only.jsonl"
    header = json.dumps({"format": EXPORT_FORMAT, "log": "ledger", "origin": "o"}) + "\n"
    path.write_text(header)
    assert read_export(path).body_end == len(header)
    assert _prepare_export(path, "ledger", "o", None, 5) == (0, False)
    assert path.read_text() == header
    assert read_export(path).last_index is None
