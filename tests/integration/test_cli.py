"""The `arrears` command line against a real server (LocalConsortium)."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from typer.testing import CliRunner

from arrears.client.testing import ORIGIN, LocalConsortium
from arrears.ledger.errors import VerificationError
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import parse_verifier_key
from arrears.ledger.records import DEFAULT_RULES
from arrears.ledger.tlogproof import TlogProof
from arrears.server.cli import app

APPLICANT = "11010519491231002X"
TODAY = DEFAULT_RULES.day(time.time_ns() // 1000)  # as the consortium (and the CLI) reckons it


@pytest.fixture(scope="module")
def net() -> object:
    with LocalConsortium(["bank-a", "bank-b"]) as n:
        n.clock.set(TODAY)  # at noon there: the same day all through the module
        yield n


def run(net: LocalConsortium, member: str, *args: str, tmp: Path) -> object:
    (net.pki.root / "log-verifier-key.txt").write_text(net.verifier_key + "\n")
    result = CliRunner().invoke(
        app,
        [
            "--server",
            net.target,
            "--pki",
            str(net.pki.root),
            "--member",
            member,
            "--state",
            str(tmp / f"{member}-trusted.json"),
            *args,
        ],
    )
    return result


def report(
    net: LocalConsortium,
    member: str,
    subject: str,
    record_id: str,
    principal: str,
    outstanding: str,
    days_past_due: str,
    tmp: Path,
) -> object:
    """`arrears report` of a default first missed on 2026-09-01, notified on 2026-10-01."""
    return run(
        net,
        member,
        "report",
        subject,
        "--record-id",
        record_id,
        "--principal",
        principal,
        "--outstanding",
        outstanding,
        "--days-past-due",
        days_past_due,
        "--first-missed-payment",
        "2026-09-01",
        "--notified-on",
        "2026-10-01",
        tmp=tmp,
    )


def test_report_update_settle_and_check(net: LocalConsortium, tmp_path: Path) -> None:
    r = report(net, "bank-a", APPLICANT, "CLI-1", "5000", "4200.50", "45", tmp_path)
    assert r.exit_code == 0, r.output
    assert "committed at index" in r.output and "c2sp.org/tlog-proof@v1" in r.output
    # The OPRF key and epoch the report was blinded under, pinned beside the trust state.
    pin = json.loads((tmp_path / "bank-a-trusted-oprf.json").read_text())
    assert pin == {"public_key": net.node.oprf.public_key.hex(), "epoch": net.node.oprf_epoch}
    r = run(
        net, "bank-a", "update", "CLI-1", "--days-past-due", "75", "--stage", "phone", tmp=tmp_path
    )
    assert r.exit_code == 0, r.output
    r = run(net, "bank-b", "check", APPLICANT, "--consent", "APP-1", "--json", tmp=tmp_path)
    assert r.exit_code == 0, r.output
    answer = json.loads(r.output)
    (rec,) = [x for x in answer["records"] if x["record"] == "bank-a/CLI-1"]
    assert (rec["days_past_due"], rec["outstanding_minor"], rec["status"]) == (75, 420050, "active")
    assert answer["decision"]["outcome"] in ("refer", "decline")
    r = run(net, "bank-a", "settle", "CLI-1", "--on", TODAY.isoformat(), tmp=tmp_path)
    assert r.exit_code == 0, r.output
    r = run(net, "bank-b", "check", APPLICANT, "--consent", "APP-2", "--json", tmp=tmp_path)
    (rec,) = [x for x in json.loads(r.output)["records"] if x["record"] == "bank-a/CLI-1"]
    assert rec["status"] == "settled"


def test_refusals_exit_non_zero_with_the_rule(net: LocalConsortium, tmp_path: Path) -> None:
    r = run(net, "bank-b", "update", "bank-a/CLI-1", "--days-past-due", "90", tmp=tmp_path)
    assert r.exit_code == 1
    assert "no record bank-b/bank-a/CLI-1" in r.output or "FailedPrecondition" in r.output
    r = report(net, "bank-a", "110105194912310021", "X", "1", "1", "40", tmp_path)
    assert r.exit_code == 1 and "check character" in r.output


def test_disputes_from_the_command_line(net: LocalConsortium, tmp_path: Path) -> None:
    r = report(net, "bank-b", APPLICANT, "CLI-D", "100", "100", "40", tmp_path)
    assert r.exit_code == 0, r.output
    r = run(
        net,
        "operator",
        "dispute",
        "open",
        "bank-b/CLI-D",
        "--id",
        "D-1",
        "--reason",
        "not my loan",
        tmp=tmp_path,
    )
    assert r.exit_code == 0, r.output
    r = run(net, "bank-a", "check", APPLICANT, "--consent", "APP-3", "--json", tmp=tmp_path)
    (rec,) = [x for x in json.loads(r.output)["records"] if x["record"] == "bank-b/CLI-D"]
    assert rec["disputed"] is True
    r = run(
        net,
        "bank-b",
        "dispute",
        "resolve",
        "CLI-D",
        "--id",
        "D-1",
        "--outcome",
        "withdrawn",
        "--explanation",
        "wrong customer",
        tmp=tmp_path,
    )
    assert r.exit_code == 0, r.output
    r = run(net, "bank-a", "check", APPLICANT, "--consent", "APP-4", "--json", tmp=tmp_path)
    assert "bank-b/CLI-D" not in [x["record"] for x in json.loads(r.output)["records"]]


def test_upload_writes_rejections_and_a_rerun_adds_nothing(
    net: LocalConsortium, tmp_path: Path
) -> None:
    csv = tmp_path / "october.csv"
    csv.write_text(
        "subject_kind,subject,country,record_id,loan_type,currency,principal,outstanding,"
        "days_past_due,first_missed_payment,collection_stage,borrower_notified_on\n"
        "resident_id,440106198507160022,,U-1,credit-card,CNY,20000,19600,35,2026-10-12,phone,2026-11-03\n"
        "resident_id,440106198507160021,,U-2,personal,CNY,1000,900,10,2026-10-12,reminder,2026-11-03\n"
        "credit_code,91350100M000100Y43,,U-3,business,CNY,500000,480000,61,2026-09-01,litigation,\n"
    )
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2, r.output  # some rows were rejected
    assert "1 committed" in r.output and "2 rejected" in r.output
    errors = (tmp_path / "october.errors.csv").read_text().splitlines()
    assert errors[0] == "row,record_id,reason"
    assert errors[1].startswith("3,U-2,") and "check character" in errors[1]
    assert errors[2].startswith("4,U-3,") and "notified" in errors[2]
    # The committed row's receipt, kept to show later: its tlog-proof verifies offline.
    (line,) = (tmp_path / "october.receipts.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert (kept["row"], kept["record_id"]) == (2, "U-1")
    leaf = net.node.storage.read_leaves(kept["index"], kept["index"] + 1)[0]
    verifier = parse_verifier_key(net.verifier_key)
    assert TlogProof.parse(kept["tlog_proof"]).verify(leaf, [verifier]).size > kept["index"]
    size = net.node.ledger.log.head().size
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert "0 committed" in r.output and "1 already in the ledger" in r.output
    assert net.node.ledger.log.head().size == size
    assert len((tmp_path / "october.receipts.jsonl").read_text().splitlines()) == 1
    # The same from a client with no trusted checkpoint yet (every row of the rerun refused).
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    r = run(net, "bank-a", "upload", str(csv), tmp=fresh)
    assert "0 committed" in r.output and "1 already in the ledger" in r.output, r.output


def test_a_dispute_upheld_with_corrected_values(net: LocalConsortium, tmp_path: Path) -> None:
    r = report(net, "bank-b", APPLICANT, "CLI-C", "1000", "800", "40", tmp_path)
    assert r.exit_code == 0, r.output
    args = ("dispute", "open", "bank-b/CLI-C", "--id", "D-2", "--reason", "paid 300 in May")
    r = run(net, "operator", *args, tmp=tmp_path)
    assert r.exit_code == 0, r.output
    resolve = ("dispute", "resolve", "CLI-C", "--id", "D-2", "--outcome", "corrected")
    r = run(
        net, "bank-b", *resolve, "--outstanding", "500.5", "--days-past-due", "35", tmp=tmp_path
    )
    assert r.exit_code == 0, r.output
    r = run(net, "bank-a", "check", APPLICANT, "--consent", "APP-C", "--json", tmp=tmp_path)
    (rec,) = [x for x in json.loads(r.output)["records"] if x["record"] == "bank-b/CLI-C"]
    assert rec["disputed"] is False and rec["days_past_due"] == 35, rec
    assert (rec["outstanding_minor"], rec["currency"]) == (50050, "CNY"), rec
    # A bad amount is refused before anything is sent, naming the option.
    r = run(net, "bank-b", *resolve, "--outstanding", "5.123", tmp=tmp_path)
    assert r.exit_code == 1 and "outstanding" in r.output, r.output


def test_a_member_witnesses_the_log_from_the_command_line(
    net: LocalConsortium, tmp_path: Path
) -> None:
    state = tmp_path / "witness.json"
    r = run(net, "bank-a", "witness", "--witness-state", str(state), tmp=tmp_path)
    assert r.exit_code == 0 and "cosigned checkpoint" in r.output, r.output
    size = json.loads(state.read_text())["tree_size"]
    r = run(net, "bank-a", "checkpoint", tmp=tmp_path)
    assert r.exit_code == 0, r.output
    # Nothing was appended meanwhile: the latest note is the one cosigned, and carries it.
    assert f"\n{size}\n" in r.output and "\u2014 bank-a " in r.output, r.output
    # A state file of another log's checkpoint is refused, and nothing is cosigned.
    r = run(
        net, "bank-a", "witness", "--witness-state", str(state), "--log", "inquiries", tmp=tmp_path
    )
    assert r.exit_code != 0, r.output
    r = run(net, "bank-a", "witness", "--log", "both", tmp=tmp_path)
    assert r.exit_code == 1 and "--log" in r.output, r.output


def test_log_commands(net: LocalConsortium, tmp_path: Path) -> None:
    r = run(net, "bank-a", "checkpoint", tmp=tmp_path)
    assert r.exit_code == 0 and r.output.startswith("arrears.test/ledger\n")
    # entry 1 is the operator's: bank-a gets its hash, not the entry, and proves that
    r = run(net, "bank-a", "proof", "inclusion", "1", tmp=tmp_path)
    proof = json.loads(r.output)
    assert proof["index"] == 1 and proof["hashes"] and proof["verified"] is True
    leaf = net.node.storage.read_leaves(1, 2)[0]
    assert base64.b64decode(proof["leaf_hash"]) == leaf_hash(leaf)
    r = run(net, "bank-a", "proof", "inclusion", "1", "--tree-size", "3", tmp=tmp_path)
    proof = json.loads(r.output)
    assert (proof["tree_size"], proof["verified"]) == (3, False)
    r = run(net, "bank-a", "proof", "consistency", "2", tmp=tmp_path)
    assert json.loads(r.output)["from"] == 2
    r = run(net, "bank-a", "member", "list", tmp=tmp_path)
    assert "bank-b" in r.output and "operator" in r.output


def test_proof_refuses_an_inclusion_proof_that_does_not_verify(
    net: LocalConsortium, tmp_path: Path
) -> None:
    import arrears.client.sdk as sdk

    real = sdk.AsyncClient.inclusion_proof

    async def lying(self: Any, index: int, tree_size: int = 0) -> Any:
        p = await real(self, index, tree_size)
        p.hashes[0] = bytes(32)  # a sibling the tree does not have
        return p

    with mock.patch.object(sdk.AsyncClient, "inclusion_proof", lying):
        r = run(net, "bank-a", "proof", "inclusion", "1", tmp=tmp_path)
    assert r.exit_code == 1 and "Error" in r.output, r.output
    assert "hashes" not in r.output


@pytest.mark.parametrize(
    "args",
    [
        ("watch", "--cursor", "-1"),
        ("watch", "--count", "-1"),
        ("proof", "inclusion", "-1"),
        ("proof", "inclusion", "1", "--tree-size", "-5"),
        ("proof", "consistency", "-2"),
    ],
)
def test_negative_indexes_and_sizes_are_usage_errors(
    net: LocalConsortium, tmp_path: Path, args: tuple[str, ...]
) -> None:
    r = run(net, "bank-a", *args, tmp=tmp_path)
    assert r.exit_code == 2 and "Error" in r.output, (r.output, r.exception)


def test_every_command_has_help_with_an_example() -> None:
    from arrears.server import cli_audit

    cli_audit.register(app)
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in (
        "serve",
        "dev-pki",
        "operator-key",
        "verify",
        "report",
        "update",
        "settle",
        "withdraw",
        "erase",
        "upload",
        "check",
        "watch",
        "checkpoint",
        "witness",
        "witness-key",
        "subject-report",
        "export",
        "audit",
        "audit-inquiries",
    ):
        r = runner.invoke(app, [command, "--help"])
        assert r.exit_code == 0, command
        assert "Example: arrears" in r.output.replace("\n", " "), command
    for group, sub in (
        ("member", "admit"),
        ("member", "revoke-key"),
        ("proof", "inclusion"),
        ("dispute", "open"),
        ("dispute", "resolve"),
    ):
        r = runner.invoke(app, [group, sub, "--help"])
        assert r.exit_code == 0 and "Example: arrears" in r.output.replace("\n", " "), sub


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and command group of the click tree under ``command``, as argv paths."""
    paths = [path]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*path, name))
    return paths


def test_every_command_and_group_help_shows_an_example() -> None:
    import typer

    from arrears.server import cli_audit

    cli_audit.register(app)
    paths = _command_paths(typer.main.get_command(app))
    assert ("member",) in paths and ("dispute", "open") in paths and len(paths) > 25
    runner = CliRunner()
    for path in paths:
        r = runner.invoke(app, [*path, "--help"])
        assert r.exit_code == 0, path
        assert "Example" in r.output, path


def test_member_list_shows_the_key_id_revoke_key_takes(
    net: LocalConsortium, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from arrears.ledger.envelope import key_id_for

    private = Ed25519PrivateKey.generate()
    pem = tmp_path / "spare-key.pem"
    pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    kid = key_id_for(raw).hex()
    r = run(net, "operator", "member", "add-key", "bank-a", "--public-key", str(pem), tmp=tmp_path)
    assert r.exit_code == 0, r.output
    r = run(net, "operator", "member", "list", tmp=tmp_path)
    (line,) = [x for x in r.output.splitlines() if kid in x]
    shown = line.split()[2].rstrip(":")
    assert shown == kid and "revoked" not in line
    r = run(
        net,
        "operator",
        "member",
        "revoke-key",
        "bank-a",
        "--key-id",
        shown,
        "--reason",
        "spare key retired",
        tmp=tmp_path,
    )
    assert r.exit_code == 0, r.output
    r = run(net, "operator", "member", "list", tmp=tmp_path)
    (line,) = [x for x in r.output.splitlines() if kid in x]
    assert "revoked at" in line


def test_upload_rejects_a_changed_row_for_a_record_already_reported(
    net: LocalConsortium, tmp_path: Path
) -> None:
    header = (
        "subject_kind,subject,country,record_id,loan_type,currency,principal,outstanding,"
        "days_past_due,first_missed_payment,collection_stage,borrower_notified_on\n"
    )
    first = "resident_id,440106198507160022,,R-1,personal,CNY,3000,2500,40,"
    first += "2026-10-12,phone,2026-11-03\n"
    second = "resident_id,{},,R-2,personal,CNY,8000,{},50,2026-10-01,reminder,2026-11-03\n"
    csv = tmp_path / "november.csv"
    csv.write_text(header + first + second.format(APPLICANT, "7000"))
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 0 and "2 committed" in r.output, r.output
    size = net.node.ledger.log.head().size
    csv.write_text(header + first + second.format(APPLICANT, "6500.25"))  # R-2 corrected
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2, r.output
    assert "0 committed" in r.output and "1 already in the ledger" in r.output
    assert "1 rejected" in r.output
    errors = (tmp_path / "november.errors.csv").read_text().splitlines()
    assert len(errors) == 2 and errors[1].startswith("3,R-2,"), errors
    assert "submission_id" in errors[1] and "arrears update" in errors[1]
    assert net.node.ledger.log.head().size == size


def test_upload_rejects_a_rerun_row_about_another_subject(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """The receipts file keeps each entry's subject salt; a rerun opens the entry's commitment
    with it, so a row whose only change is the subject ID is refused, not counted as done."""
    header = (
        "subject_kind,subject,country,record_id,loan_type,currency,principal,outstanding,"
        "days_past_due,first_missed_payment,collection_stage,borrower_notified_on\n"
    )
    row = "resident_id,{},,S-1,personal,CNY,3000,2500,40,2026-10-12,phone,2026-11-03\n"
    csv = tmp_path / "december.csv"
    csv.write_text(header + row.format("440106198507160022"))
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 0 and "1 committed" in r.output, r.output
    receipts = tmp_path / "december.receipts.jsonl"
    (kept,) = [json.loads(x) for x in receipts.read_text().splitlines()]
    assert len(base64.b64decode(kept["subject_salt"])) == 32
    size = net.node.ledger.log.head().size

    # The same row again: the salt opens the entry's commitment to this subject.
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 0 and "1 already in the ledger" in r.output, r.output
    assert "not checked" not in r.output

    # The same record about another subject: refused, and the ledger is as it was.
    csv.write_text(header + row.format(APPLICANT))
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2 and "1 rejected" in r.output, r.output
    assert "0 already in the ledger" in r.output, r.output
    errors = (tmp_path / "december.errors.csv").read_text().splitlines()
    assert errors[1].startswith("2,S-1,") and "another subject" in errors[1], errors
    assert net.node.ledger.log.head().size == size
    assert len(receipts.read_text().splitlines()) == 1

    # Without the salt (another receipts file), values alone are compared, and it says so.
    other = tmp_path / "elsewhere.jsonl"
    r = run(net, "bank-a", "upload", str(csv), "--receipts", str(other), tmp=tmp_path)
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "1 already in the ledger" in said, r.output
    assert "1 of the rows already in the ledger were compared by their values only" in said
    assert "subject_salt" not in other.read_text()
    assert net.node.ledger.log.head().size == size


def test_lookups_are_judged_by_the_consortium_rules_from_the_config(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """The global --config gives the client the consortium's rules: here a day boundary three
    days ahead of the server's, so the server's answer, as of its own day, is refused."""
    f = tmp_path / "consortium.toml"
    f.write_text(f"[rules]\nutc_offset_minutes = {480 + 3 * 1440}\n")
    args = ("check", APPLICANT, "--consent", "APP-RULES")
    r = run(net, "bank-b", *args, tmp=tmp_path)
    assert r.exit_code == 0, r.output
    r = run(net, "bank-b", "--config", str(f), *args, tmp=tmp_path)
    assert r.exit_code == 1, r.output
    assert "VerificationError" in r.output and "today is" in r.output, r.output
    f.write_text("[rules]\nretention_years = 'five'\n")
    r = run(net, "bank-b", "--config", str(f), *args, tmp=tmp_path)
    assert r.exit_code == 1 and "rules.retention_years" in r.output, r.output


def test_require_state_refuses_to_trust_a_first_checkpoint(
    net: LocalConsortium, tmp_path: Path
) -> None:
    r = run(net, "bank-a", "--require-state", "checkpoint", tmp=tmp_path)
    assert r.exit_code == 1 and "does not exist" in r.output, r.output
    assert not (tmp_path / "bank-a-trusted.json").exists()
    r = run(net, "bank-a", "checkpoint", tmp=tmp_path)  # seeded once, on purpose
    assert r.exit_code == 0, r.output
    r = run(net, "bank-a", "--require-state", "checkpoint", tmp=tmp_path)
    assert r.exit_code == 0, r.output


HEADER = (
    "subject_kind,subject,country,record_id,loan_type,currency,principal,outstanding,"
    "days_past_due,first_missed_payment,collection_stage,borrower_notified_on\n"
)
ROW = "resident_id,440106198507160022,,{},personal,CNY,3000,2500,{},2026-10-12,phone,2026-11-03\n"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (HEADER.encode() + ROW.format("Ü-1", 40).encode("latin-1"), "not UTF-8 text"),
        (b"", "empty; the first row names the columns"),
        (b"subject,record_id\n440106198507160022,M-1\n", "no principal column"),
        (
            HEADER.replace("collection_stage", "colection_stage").encode()
            + ROW.format("M-2", 40).encode(),
            "unknown column 'colection_stage'",
        ),
    ],
    ids=["latin-1", "empty", "missing-columns", "misspelt-column"],
)
def test_upload_refuses_a_file_it_cannot_read_whole_and_sends_nothing(
    net: LocalConsortium, tmp_path: Path, content: bytes, said: str
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_bytes(content)
    size = net.node.ledger.log.head().size
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 1 and said in " ".join(r.output.split()), r.output
    assert net.node.ledger.log.head().size == size
    assert not (tmp_path / "bad.errors.csv").exists()


def test_upload_rejects_rows_that_repeat_a_record_or_miscount_their_fields(
    net: LocalConsortium, tmp_path: Path
) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text(
        HEADER
        + ROW.format("W-1", 40)
        + ROW.format("W-1", 41)  # the same record again: which row is right?
        + ROW.format("W-2", "forty")
        + ROW.format("W-3", 40).replace(",phone,", ",phone,,extra,")
        + "resident_id,440106198507160022,,W-4,personal\n"
    )
    size = net.node.ledger.log.head().size
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2 and "1 committed" in r.output and "4 rejected" in r.output, r.output
    assert net.node.ledger.log.head().size == size + 1
    errors = (tmp_path / "rows.errors.csv").read_text().splitlines()[1:]
    assert errors[0] == "3,W-1,record_id: W-1 is in row 2 too"
    assert errors[1] == "4,W-2,days_past_due: 'forty' is not a whole number"
    assert errors[2] == "5,W-3,has 14 fields where the header has 12"
    assert errors[3] == "6,W-4,has 5 fields where the header has 12"
    r = run(net, "bank-a", "upload", str(csv), "--batch", "0", tmp=tmp_path)
    assert r.exit_code == 2 and "--batch" in r.output


@pytest.mark.timeout(60)  # a watch that misses an alert waits for it
def test_watch_reconnects_and_resumes_after_the_last_alert(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """The connection drops after the first alert: the watch waits, reconnects from that
    alert's cursor, and prints the second alert once; nothing is missed or repeated."""
    import arrears.client.sdk as sdk
    from arrears.client.errors import Unavailable

    watcher = net.client("bank-b")
    assert watcher.register([(APPLICANT, "LOAN-W")]) == 1
    start = net.node.ledger.log.head().size
    for rid in ("CLI-W1", "CLI-W2"):
        r = report(net, "bank-a", APPLICANT, rid, "100", "90", "40", tmp_path)
        assert r.exit_code == 0, r.output

    real, cursors = sdk.AsyncClient.watch, []

    async def drops_once(self: Any, cursor: int = 0, **kw: Any) -> Any:
        cursors.append(cursor)
        async for alert in real(self, cursor, **kw):
            yield alert
            if len(cursors) == 1:
                raise Unavailable("connection reset")

    with (
        mock.patch.object(sdk.AsyncClient, "watch", drops_once),
        mock.patch("time.sleep") as slept,
    ):
        r = run(net, "bank-b", "watch", "--cursor", str(start - 1), "--count", "2", tmp=tmp_path)
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("cursor ")]
    assert [x.split(":")[0] for x in lines] == [f"cursor {start}", f"cursor {start + 1}"], r.output
    assert "bank-a/CLI-W1" in lines[0] and "LOAN-W" in lines[0]
    assert cursors == [start - 1, start]  # resumed after the alert it had printed
    assert "disconnected (connection reset)" in " ".join(r.output.split())
    slept.assert_called_once_with(1.0)


def test_watch_help_says_what_the_cursor_does_and_takes_a_kind(
    net: LocalConsortium, tmp_path: Path
) -> None:
    r = CliRunner().invoke(app, ["watch", "--help"])
    text = " ".join(r.output.replace("│", " ").split())
    assert "0: only alerts for entries committed from now on, no replay" in text
    assert "withdraws" in text and "dispute" in text
    r = run(
        net, "bank-a", "watch", "--kind", "passport", "--register", "E12345678=L-9", tmp=tmp_path
    )
    assert r.exit_code == 1 and "country" in r.output, r.output


def test_check_refuses_a_bad_policy_file_before_looking_anyone_up(
    net: LocalConsortium, tmp_path: Path
) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    bad_metric = tmp_path / "metric.json"
    bad_metric.write_text(
        json.dumps({"rules": [{"outcome": "decline", "metric": "nope", "op": ">=", "value": 1}]})
    )
    before = net.node.inquiries.head().size
    for policy in (tmp_path / "missing.json", bad_json, bad_metric):
        r = run(
            net, "bank-b", "check", APPLICANT, "--consent", "APP-P", "--policy", str(policy),
            tmp=tmp_path,
        )  # fmt: skip
        assert r.exit_code == 1, (policy, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        assert "error: --policy" in r.output and str(policy.name) in r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
    assert net.node.inquiries.head().size == before


def test_amounts_are_printed_with_their_currency_minor_digits(
    net: LocalConsortium, tmp_path: Path
) -> None:
    subject = "440106198507160022"
    r = run(
        net, "bank-a", "report", subject, "--record-id", "JPY-1", "--currency", "JPY",
        "--principal", "500000", "--outstanding", "123456", "--days-past-due", "40",
        "--first-missed-payment", "2026-09-01", "--notified-on", "2026-10-01", tmp=tmp_path,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    page = tmp_path / "report.html"
    for member, args in (
        ("bank-b", ("check", subject, "--consent", "APP-JPY")),
        ("operator", ("subject-report", subject, "--request", "REQ-JPY", "--html", str(page))),
    ):
        r = run(net, member, *args, tmp=tmp_path)
        assert r.exit_code == 0, r.output
        assert "123,456" in r.output and "1,234.56" not in r.output, r.output
    # The report's lookups name their purpose, as `check --purpose` does.
    assert "origination" in r.output and "subject-request" in r.output, r.output
    html = page.read_text()
    assert "123,456 JPY" in html and "1,234.56" not in html


def test_reading_a_missing_sqlite_database_refuses_and_creates_nothing(
    net: LocalConsortium, tmp_path: Path
) -> None:
    from arrears.server import cli_audit

    cli_audit.register(app)
    missing = tmp_path / "missing.db"
    for args in (
        ["verify", "-d", f"sqlite:///{missing}"],
        ["audit", "--database", f"sqlite:///{missing}"],
    ):
        r = run(net, "regulator" if args[0] == "audit" else "bank-a", *args, tmp=tmp_path)
        assert r.exit_code != 0, r.output
        assert f"no SQLite database at {missing}" in r.output, r.output
        assert not missing.exists()


def test_the_operator_erases_a_record(net: LocalConsortium, tmp_path: Path) -> None:
    subject = "310104198001010017"
    r = report(net, "bank-a", subject, "CLI-E", "100", "100", "40", tmp_path)
    assert r.exit_code == 0, r.output
    size = net.node.ledger.log.head().size
    r = run(net, "operator", "erase", "bank-a/CLI-E", "--reason", "retention-ended", tmp=tmp_path)
    assert r.exit_code == 1 and "still within retention" in r.output, r.output
    r = run(net, "operator", "erase", "bank-a/CLI-E", "--reason", "forgotten", tmp=tmp_path)
    assert r.exit_code == 1 and "--reason: one of retention-ended, lawful-request" in r.output
    r = run(net, "bank-a", "erase", "bank-a/CLI-E", "--reason", "lawful-request", tmp=tmp_path)
    assert r.exit_code == 1 and "erase records" in r.output, r.output  # operators only
    assert net.node.ledger.log.head().size == size
    r = run(net, "operator", "erase", "bank-a/CLI-E", "--reason", "lawful-request", tmp=tmp_path)
    assert r.exit_code == 0 and "committed at index" in r.output, r.output
    r = run(net, "bank-b", "check", subject, "--consent", "APP-E", "--json", tmp=tmp_path)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["records"] == []


def test_an_upload_cut_short_keeps_its_receipts_and_a_rerun_adds_the_rest(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Receipts are written as they arrive; rows committed by a run that then failed are
    found again by the rerun, proven, and their receipts added once."""
    import arrears.client.sdk as sdk

    csv = tmp_path / "november.csv"
    csv.write_text(
        "subject_kind,subject,country,record_id,loan_type,currency,principal,outstanding,"
        "days_past_due,first_missed_payment,collection_stage,borrower_notified_on\n"
        "resident_id,440106198507160022,,N-1,credit-card,CNY,20000,19600,35,2026-10-12,phone,2026-11-03\n"
        "resident_id,11010519491231002X,,N-2,personal,CNY,1000,900,10,2026-10-12,reminder,2026-11-03\n"
        "resident_id,440106198507160022,,N-3,personal,CNY,1000,900,10,2026-10-12,reminder,2026-11-03\n"
    )
    real, seen = sdk.verify_receipt, [0]

    def lost_after_two(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] == 3:
            raise VerificationError("connection lost after two receipts")
        return real(*args, **kwargs)

    size = net.node.ledger.log.head().size
    with mock.patch.object(sdk, "verify_receipt", lost_after_two):
        r = run(net, "bank-a", "upload", str(csv), "--batch", "1", tmp=tmp_path)
    assert r.exit_code == 1, r.output
    assert net.node.ledger.log.head().size == size + 3  # all three were committed
    receipts = tmp_path / "november.receipts.jsonl"
    assert [json.loads(x)["record_id"] for x in receipts.read_text().splitlines()] == [
        "N-1",
        "N-2",
    ]
    r = run(net, "bank-a", "upload", str(csv), "--batch", "1", tmp=tmp_path)
    assert r.exit_code == 0 and "3 already in the ledger" in r.output, r.output
    assert "1 receipts added" in r.output, r.output
    # N-3's salt was lost with the run: its subject could not be compared, and it says so.
    assert "1 of the rows already in the ledger" in " ".join(r.output.split()), r.output
    lines = [json.loads(x) for x in receipts.read_text().splitlines()]
    assert sorted(x["record_id"] for x in lines) == ["N-1", "N-2", "N-3"]
    verifier = parse_verifier_key(net.verifier_key)
    for x in lines:
        leaf = net.node.storage.read_leaves(x["index"], x["index"] + 1)[0]
        TlogProof.parse(x["tlog_proof"]).verify(leaf, [verifier])


@pytest.fixture
def serve_leaves_no_trace() -> Iterator[None]:
    """`serve` sets up the process's logging and collector: put them back after the test."""
    import gc
    import logging

    logger = logging.getLogger("arrears")
    saved = (logger.handlers[:], logger.level, logger.propagate, gc.get_threshold())
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[:3]
    gc.set_threshold(*saved[3])


def _server_toml(net: LocalConsortium, path: Path, listen: str, *extra: str) -> Path:
    pki = net.pki
    path.write_text(
        f'listen = "{listen}"\ndatabase_url = "sqlite:///{path.with_suffix(".db")}"\n'
        f'tls_cert = "{pki.server_cert}"\ntls_key = "{pki.server_key}"\n'
        f'client_ca = "{pki.ca}"\nlog_key = "{pki.log_key}"\noprf_key = "{pki.oprf_key}"\n'
        + "".join(f"{line}\n" for line in extra)
    )
    return path


def _one_error_line(r: Any) -> str:
    """The output of a command refused with one line (and no traceback)."""
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return " ".join(r.output.split())


@pytest.mark.timeout(60)  # a server that starts anyway serves until it is stopped
@pytest.mark.usefixtures("serve_leaves_no_trace")
def test_serve_refuses_an_address_in_use_before_opening_its_database(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Another process listens on the address, allowing the port to be shared (as gRPC servers
    do by default): `serve` must not start beside it and split the members between two
    ledgers."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        config = _server_toml(net, tmp_path / "second.toml", address)
        r = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert r.exit_code == 1, r.output
    said = _one_error_line(r)
    assert f"cannot listen on {address}: the address is in use" in said, said
    assert not (tmp_path / "second.db").exists()


@pytest.mark.parametrize(
    ("listen", "said"),
    [
        ("localhost-7443", "config: listen: 'localhost-7443' is not HOST:PORT"),
        ("127.0.0.1:", "config: listen: '127.0.0.1:' is not HOST:PORT"),
        ("127.0.0.1:99999", "config: listen: port 99999 is out of range (0 to 65535)"),
    ],
)
@pytest.mark.timeout(60)  # a port out of range had gRPC bind one of its own choosing, and serve
@pytest.mark.usefixtures("serve_leaves_no_trace")
def test_serve_refuses_a_malformed_listen_address_before_creating_anything(
    net: LocalConsortium, tmp_path: Path, listen: str, said: str
) -> None:
    config = _server_toml(net, tmp_path / "bad.toml", listen)
    r = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert r.exit_code == 1, r.output
    assert said in _one_error_line(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_upload_rejects_a_row_with_a_bad_value_and_commits_the_rest(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """Amounts out of range or not finite, and days past due beyond the wire field, are that
    row's rejection, named by column; they neither abort the upload nor reach the server."""
    row = "resident_id,440106198507160022,,{},personal,CNY,{},{},{},2026-10-12,phone,2026-11-03\n"
    csv = tmp_path / "values.csv"
    csv.write_text(
        HEADER
        + row.format("V-1", "3000", "2500", "40")
        + row.format("V-2", "1e30", "2500", "40")
        + row.format("V-3", "3000", "2500", "99999999999")
        + row.format("V-4", "Infinity", "2500", "40")
        + row.format("V-5", "3000", "NaN", "40")
        + row.format("V-6", "sNaN", "2500", "40")
        + row.format("V-7", "3000", "-1", "40")
    )
    size = net.node.ledger.log.head().size
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2, (r.output, r.exception)
    assert "1 committed" in r.output and "6 rejected" in r.output, r.output
    assert net.node.ledger.log.head().size == size + 1
    errors = (tmp_path / "values.errors.csv").read_text().splitlines()[1:]
    assert errors == [
        '3,V-2,"principal: 1e30 is out of range (0 to 10,000,000,000,000.00 CNY)"',
        "4,V-3,days_past_due: 99999999999 is out of range (0 to 4294967295)",
        "5,V-4,principal: 'Infinity' is not an amount",
        "6,V-5,outstanding: 'NaN' is not an amount",
        "7,V-6,principal: 'sNaN' is not an amount",
        '8,V-7,"outstanding: -1 is out of range (0 to 10,000,000,000,000.00 CNY)"',
    ]


@pytest.mark.parametrize("principal", ["Infinity", "-Infinity", "NaN", "sNaN", "1e30"])
def test_report_refuses_an_amount_that_is_not_finite_or_in_range(
    net: LocalConsortium, tmp_path: Path, principal: str
) -> None:
    size = net.node.ledger.log.head().size
    r = report(net, "bank-a", APPLICANT, "CLI-NAN", principal, "1", "40", tmp_path)
    assert r.exit_code == 1, r.output
    said = _one_error_line(r).replace("'", "")
    assert f"error: principal: {principal} is " in said, said
    assert "is not an amount" in said or "is out of range (0 to " in said, said
    assert net.node.ledger.log.head().size == size


def test_upload_makes_the_output_directories_before_sending_anything(
    net: LocalConsortium, tmp_path: Path
) -> None:
    """--errors and --receipts (and subject-report's --html) in a directory that does not
    exist yet: it is made, as `audit --html` does; one that cannot be made is refused before
    anything is sent or looked up."""
    csv = tmp_path / "dirs.csv"
    csv.write_text(HEADER + ROW.format("D-1", 40) + ROW.format("D-2", "forty"))
    errors, receipts = tmp_path / "out" / "errors.csv", tmp_path / "kept" / "r.jsonl"
    r = run(
        net, "bank-a", "upload", str(csv), "--errors", str(errors), "--receipts", str(receipts),
        tmp=tmp_path,
    )  # fmt: skip
    assert r.exit_code == 2 and "1 committed" in r.output, (r.output, r.exception)
    assert errors.read_text().splitlines()[1].startswith("3,D-2,days_past_due")
    assert json.loads(receipts.read_text())["record_id"] == "D-1"

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    csv.write_text(HEADER + ROW.format("D-3", 40))
    size = net.node.ledger.log.head().size
    for option in ("--errors", "--receipts"):
        r = run(net, "bank-a", "upload", str(csv), option, str(blocker / "x"), tmp=tmp_path)
        assert r.exit_code == 1, r.output
        said = f"error: {option} {blocker / 'x'}: {blocker} is not a directory"
        assert said in _one_error_line(r)
    assert net.node.ledger.log.head().size == size

    page = tmp_path / "pages" / "report.html"
    args = ("subject-report", APPLICANT, "--request", "REQ-DIR")
    r = run(net, "operator", *args, "--html", str(page), tmp=tmp_path)
    assert r.exit_code == 0 and page.exists(), (r.output, r.exception)
    lookups = net.node.inquiries.head().size
    r = run(net, "operator", *args, "--html", str(blocker / "r.html"), tmp=tmp_path)
    assert r.exit_code == 1 and "--html" in _one_error_line(r)
    assert net.node.inquiries.head().size == lookups  # refused before the lookup


def test_upload_numbers_rows_by_their_line_in_the_file(
    net: LocalConsortium, tmp_path: Path
) -> None:
    csv = tmp_path / "blank.csv"
    csv.write_text(HEADER + "\n" + ROW.format("B-1", 40) + "\n\n" + ROW.format("B-2", "x"))
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 2 and "1 committed" in r.output, r.output
    errors = (tmp_path / "blank.errors.csv").read_text().splitlines()
    assert errors[1] == "6,B-2,days_past_due: 'x' is not a whole number", errors
    (kept,) = [json.loads(x) for x in (tmp_path / "blank.receipts.jsonl").read_text().splitlines()]
    assert (kept["row"], kept["record_id"]) == (3, "B-1")


def test_upload_requires_the_borrower_notified_on_column(
    net: LocalConsortium, tmp_path: Path
) -> None:
    from arrears.server.cli import UPLOAD_REQUIRED

    csv = tmp_path / "unnotified.csv"
    csv.write_text(
        HEADER.replace(",borrower_notified_on", "")
        + ROW.format("N-1", 40).replace(",2026-11-03", "")
    )
    size = net.node.ledger.log.head().size
    r = run(net, "bank-a", "upload", str(csv), tmp=tmp_path)
    assert r.exit_code == 1 and "no borrower_notified_on column" in r.output, r.output
    assert net.node.ledger.log.head().size == size
    # The help names every required column as required.
    text = " ".join(CliRunner().invoke(app, ["upload", "--help"]).output.replace("│", " ").split())
    required = text.split("A file missing a required column (")[1].split(")")[0]
    assert required.split(", ") == list(UPLOAD_REQUIRED)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ("operator-key --log-key {tmp}/missing.pem", "--log-key {tmp}/missing.pem: No such file"),
        ("witness-key regulator --key {tmp}/not.pem", "--key {tmp}/not.pem: not an Ed25519 key"),
        (
            "member add-key bank-a --public-key {tmp}/missing.pem",
            "--public-key {tmp}/missing.pem: No such file",
        ),
        (
            "member admit bank-c -r lender --public-key {pki}/ca.pem",
            "--public-key {pki}/ca.pem: not an Ed25519 key",
        ),
        (
            "--cert {own}/tls.pem --key {tmp}/missing.pem --ca {pki}/ca.pem checkpoint",
            "--key {tmp}/missing.pem: No such file",
        ),
        (
            "--signing-key {tmp}/not.pem --cert {own}/tls.pem --key {own}/tls-key.pem "
            "--ca {pki}/ca.pem checkpoint",
            "--signing-key {tmp}/not.pem: not a private key in PEM",
        ),
        ("dev-pki {tmp}/new-pki --origin {spaced}", "--origin: key name: 'my ledger'"),
        ("serve --config {tmp}/limits.toml", "config: limits: must be a [limits] table, not 5"),
    ],
    ids=[
        "operator-key",
        "witness-key",
        "add-key",
        "admit-certificate",
        "global-key",
        "global-signing-key",
        "dev-pki-origin",
        "config-table",
    ],
)
@pytest.mark.usefixtures("serve_leaves_no_trace")
def test_files_and_settings_that_cannot_be_used_are_one_line_naming_the_option(
    net: LocalConsortium, tmp_path: Path, args: str, said: str
) -> None:
    (tmp_path / "not.pem").write_text('listen = "127.0.0.1:0"\n')
    _server_toml(net, tmp_path / "limits.toml", "127.0.0.1:0", "limits = 5")
    own = net.pki.member("operator").cert.parent
    names = {"tmp": tmp_path, "pki": net.pki.root, "own": own, "spaced": "my ledger"}
    size = net.node.ledger.log.head().size
    r = run(net, "operator", *(a.format(**names) for a in args.split()), tmp=tmp_path)
    assert r.exit_code == 1, (r.output, r.exception)
    assert said.format(**names) in _one_error_line(r)
    assert net.node.ledger.log.head().size == size
    assert not (tmp_path / "new-pki").exists()  # dev-pki wrote nothing
    assert not (tmp_path / "limits.db").exists()


def test_record_ids_print_whole_when_the_output_is_not_a_terminal(
    net: LocalConsortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what rich assumes for a pipe or a file
    subject, record_id = "310104198001010017", "LOAN-2026-000123-BRANCH-0042"
    r = report(net, "bank-a", subject, record_id, "50000", "42000.50", "45", tmp_path)
    assert r.exit_code == 0, r.output
    for member, args in (
        ("bank-b", ("check", subject, "--consent", "APP-WIDE")),
        ("operator", ("subject-report", subject, "--request", "REQ-WIDE")),
    ):
        r = run(net, member, *args, tmp=tmp_path)
        assert r.exit_code == 0, r.output
        (line,) = [x for x in r.output.splitlines() if record_id in x]
        assert f"bank-a/{record_id}" in line and "42,000.50 CNY" in line, r.output
        assert "…" not in r.output, r.output


@pytest.mark.parametrize("member_id", ["bank-a/../bank-z", "..", ".hidden", "a b", "x" * 129])
def test_dev_pki_refuses_a_member_id_that_is_not_one_directory(
    tmp_path: Path, member_id: str
) -> None:
    pki = tmp_path / "pki"
    r = CliRunner().invoke(app, ["dev-pki", str(pki), "-m", "operator", "-m", member_id])
    assert r.exit_code == 1, r.output
    assert "error: --member: member id" in _one_error_line(r)
    assert not pki.exists() and list(tmp_path.iterdir()) == []


def _regulator(net: LocalConsortium) -> str:
    from arrears.v1 import events_pb2 as pb

    if "regulator" not in net.node.ledger.registry.members:
        net.admit("regulator", [pb.ROLE_REGULATOR])
    return "regulator"


def test_export_to_a_new_file_from_an_index_does_not_say_it_continues(
    net: LocalConsortium, tmp_path: Path
) -> None:
    from arrears.server import cli_audit

    cli_audit.register(app)
    regulator = _regulator(net)
    fresh = tmp_path / "fresh.jsonl"
    r = run(net, regulator, "export", str(fresh), "--from", "2", tmp=tmp_path)
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "continuing" not in said and f"to {fresh}" in said, said
    assert said.startswith("exported entries 2 to "), said
    r = run(net, regulator, "export", str(fresh), tmp=tmp_path)
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and f"{fresh} was up to date" in said, said


def test_export_refuses_a_checkpoint_that_does_not_verify_and_writes_nothing(
    net: LocalConsortium, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from arrears.ledger.note import Ed25519Signer
    from arrears.server import cli_audit

    cli_audit.register(app)
    regulator = _regulator(net)
    stranger = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate()).verifier_key
    export = tmp_path / "ledger.jsonl"
    r = run(net, regulator, "--verifier-key", stranger, "export", str(export), tmp=tmp_path)
    assert r.exit_code == 1, r.output
    said = _one_error_line(r)
    assert "checkpoint does not verify under the log's key" in said, said
    assert not export.exists()
    # An export begun before is left as it was.
    r = run(net, regulator, "export", str(export), tmp=tmp_path)
    assert r.exit_code == 0, r.output
    before = export.read_bytes()
    r = run(net, regulator, "--verifier-key", stranger, "export", str(export), tmp=tmp_path)
    assert r.exit_code == 1 and export.read_bytes() == before, r.output
