"""The ``arrears`` command line: run the server, manage members, report, upload, look up,
watch, and inspect the log. Every command has ``--help`` with an example.

Client commands find their credentials from ``--pki DIR --member ID`` (a development PKI made
by ``arrears dev-pki``) or from explicit ``--cert/--key/--ca/--signing-key`` files, and the
log's verifier key from ``--verifier-key`` (default: ``DIR/log-verifier-key.txt``). Each may
also come from the environment (``ARREARS_SERVER``, ``ARREARS_PKI``, ``ARREARS_MEMBER``,
``ARREARS_VERIFIER_KEY``, ``ARREARS_STATE``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from arrears.ledger.errors import ArrearsError
from arrears.ledger.records import PURPOSE_LABELS

if TYPE_CHECKING:
    from arrears.ledger.records import Rules

app = typer.Typer(
    name="arrears",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
member_app = typer.Typer(
    help="Admit, suspend and reinstate members; add and revoke keys (operator).\n\n"
    "Example: arrears --pki pki --member operator member list",
    no_args_is_help=True,
)
proof_app = typer.Typer(
    help="Inclusion and consistency proofs as JSON.\n\n"
    "Example: arrears --pki pki --member bank-a proof inclusion 42",
    no_args_is_help=True,
)
app.add_typer(member_app, name="member")
app.add_typer(proof_app, name="proof")
out = Console(highlight=False)
err = Console(stderr=True)

ROLE_NAMES = {"reporter": 1, "lender": 2, "regulator": 3, "operator": 4}
PURPOSES = {label: n for n, label in PURPOSE_LABELS.items() if n}  # as the audits name them
LOAN_TYPES = {
    "personal": 1,
    "mortgage": 2,
    "auto": 3,
    "credit-card": 4,
    "business": 5,
    "student": 6,
    "consumer": 7,
    "other": 8,
}
STAGES = {"reminder": 1, "phone": 2, "field-visit": 3, "litigation": 4, "written-off": 5}
KIND_HELP = "resident_id, credit_code or passport (as COUNTRY:NUMBER, e.g. CHN:E12345678)"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` (plain text, not markup) as one error line; the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _record_table(*headers: str, **kwargs: Any) -> Table:
    """A table whose first column is ids (of records, of members): printed whole, never cut;
    the other columns wrap first, and an id too long for a line folds onto the next."""
    first = Column(headers[0], no_wrap=True, overflow="fold")
    return Table(first, *headers[1:], **kwargs)


def print_table(t: Table, console: Console | None = None) -> None:
    """Print ``t``; when the output is not a terminal (a pipe, a file), at its full width
    rather than the 80 columns assumed then, so that no value is cut or wrapped."""
    con = console or out
    if not con.is_terminal:
        natural = Measurement.get(con, con.options.update_width(1 << 16), t).maximum
        if natural > con.width:
            t.width = natural
    con.print(t, crop=False)


# --- connection options (global: before the command) ------------------------------------------


@dataclass
class Conn:
    server: str
    pki: Path | None
    member: str | None
    cert: Path | None
    key: Path | None
    ca: Path | None
    signing_key: Path | None
    verifier_key: str | None
    state: Path | None
    config: Path | None = None
    require_state: bool = False
    _rules: Rules | None = None

    @property
    def rules(self) -> Rules:
        """The consortium's rules: --config's [rules] and ARREARS_RULES_* (default: China's)."""
        if self._rules is None:
            from arrears.server.config import load_rules

            self._rules = _run(lambda: load_rules(self.config))
        return self._rules

    def _credentials_error(self, e: OSError | ValueError) -> str:
        """A credentials file that cannot be read or holds no key, named with its option."""
        text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) else str(e)
        given = {"--cert": self.cert, "--key": self.key, "--ca": self.ca}
        given["--signing-key"] = self.signing_key
        for option, path in given.items():
            if path is not None and text.startswith(f"{path}:"):
                return f"{option} {text}"
        return text

    def client(self) -> Any:
        from arrears.client import Client, Identity, Trust

        try:
            if self.cert and self.key and self.ca:
                if not self.member:
                    raise fail("--member is required with --cert/--key/--ca")
                identity = Identity.from_files(
                    self.member, self.cert, self.key, self.ca, self.signing_key
                )
            elif self.pki and self.member:
                identity = Identity.from_dev_pki(self.pki, self.member)
            else:
                raise fail(
                    "give --pki DIR --member ID (or --member with --cert, --key and --ca) before "
                    "the command"
                )
        except ArrearsError:
            raise
        except (OSError, ValueError) as e:
            raise fail(self._credentials_error(e)) from None
        vkey = self.verifier_key
        if vkey is None and self.pki and (self.pki / "log-verifier-key.txt").exists():
            vkey = (self.pki / "log-verifier-key.txt").read_text().strip()
        if vkey is None:
            raise fail("give the log's --verifier-key (see `arrears operator-key`)")
        state = self.state or Path.home() / ".arrears" / f"{identity.member_id}-trusted.json"
        # The OPRF key and epoch are pinned on first use beside it, as the checkpoint is.
        pin = state.with_name(f"{state.stem}-oprf{state.suffix}")
        trust = Trust(vkey, state_file=state, require_state=self.require_state)
        return Client(self.server, identity, trust, oprf_state_file=pin, rules=self.rules)


@app.callback()
def connection(
    ctx: typer.Context,
    server: Annotated[
        str, typer.Option(envvar="ARREARS_SERVER", help="host:port of the server")
    ] = "127.0.0.1:7443",
    pki: Annotated[
        Path | None, typer.Option(envvar="ARREARS_PKI", help="a dev PKI directory")
    ] = None,
    member: Annotated[
        str | None, typer.Option(envvar="ARREARS_MEMBER", help="your member id")
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="TLS client certificate (PEM)")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS client key (PEM)")] = None,
    ca: Annotated[Path | None, typer.Option(help="the consortium CA certificate (PEM)")] = None,
    signing_key: Annotated[Path | None, typer.Option(help="your Ed25519 signing key (PEM)")] = None,
    verifier_key: Annotated[
        str | None, typer.Option(envvar="ARREARS_VERIFIER_KEY", help="the log's note verifier key")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            envvar="ARREARS_STATE",
            help="file keeping the last trusted checkpoint "
            "(default: ~/.arrears/<member>-trusted.json); the inquiry log's and the OPRF key "
            "pinned on first use are kept beside it (<file>-inquiries.json, <file>-oprf.json)",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            envvar="ARREARS_CONFIG",
            help="the consortium's TOML configuration (the server's file will do): its \\[rules] "
            "give the day boundary, retention and dispute periods the server applies, which "
            "lookups are checked against (ARREARS_RULES_* variables override them); also "
            "`serve`'s and the audits' file when they are given none",
        ),
    ] = None,
    require_state: Annotated[
        bool,
        typer.Option(
            "--require-state",
            envvar="ARREARS_REQUIRE_STATE",
            help="refuse to run when the --state file is missing, instead of trusting the "
            "first checkpoint the server shows (seed the file once with `arrears checkpoint`, "
            "compared with what the witnesses publish)",
        ),
    ] = False,
) -> None:
    """arrears: a shared, verifiable registry of loan defaults.

    Client commands take the connection options before the command.

    Example: arrears --pki pki --member bank-a check 11010519491231002X --consent APP-1
    """
    ctx.obj = Conn(
        server, pki, member, cert, key, ca, signing_key, verifier_key, state, config, require_state
    )


def _client(ctx: typer.Context) -> Any:
    conn: Conn = ctx.obj
    return _run(conn.client)


def _run(fn: Any) -> Any:
    """Run a command body, turning arrears errors into one clear line and exit code 1."""
    try:
        return fn()
    except ArrearsError as e:
        raise fail(f"{type(e).__name__}: {e}") from None


# --- server side -------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML configuration file (default: the global --config)"
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the server (settings from --config and ARREARS_* variables).

    Example: arrears serve --config arrears.toml
    """
    from arrears.server.app import serve as run_server
    from arrears.server.app import setup_logging
    from arrears.server.config import ServerConfig

    setup_logging(log_level)
    path = config or ctx.obj.config
    cfg = _run(lambda: ServerConfig.load(path))
    _run(lambda: asyncio.run(run_server(cfg)))


@app.command("dev-pki")
def dev_pki(
    directory: Annotated[Path, typer.Argument(help="where to write the PKI")],
    member: Annotated[
        list[str], typer.Option("--member", "-m", help="a member id (repeatable)")
    ] = [],  # noqa: B006
    origin: Annotated[
        str, typer.Option(help="the log's origin (its checkpoint key name)")
    ] = "arrears.example/ledger",
) -> None:
    """Create a development PKI: a CA, the server's certificate, log and OPRF keys, and for each
    member a client certificate and a signing key. Never for production.

    Example: arrears dev-pki pki -m operator -m bank-a -m bank-b -m regulator
    """
    from arrears.ledger.note import Ed25519Signer
    from arrears.server.pki import check_member_id, create_dev_pki

    # Everything is checked before anything is written: no half-made PKI.
    try:
        Ed25519Signer.generate(origin)
    except ArrearsError as e:
        raise fail(f"--origin: {e}") from None
    for member_id in member:
        try:
            check_member_id(member_id)
        except ValueError as e:
            raise fail(f"--member: {e}") from None
    pki = create_dev_pki(directory, member)
    vkey = Ed25519Signer(origin, _private_key(pki.log_key, "log key")).verifier_key
    (directory / "log-verifier-key.txt").write_text(vkey + "\n")
    out.print(f"PKI in {directory}: members {', '.join(pki.members()) or '(none)'}")
    out.print(f"log verifier key: {vkey}")


@app.command("operator-key")
def operator_key(
    log_key: Annotated[Path, typer.Option(help="the log's Ed25519 key (PEM)")] = Path(
        "pki/log-key.pem"
    ),
    origin: Annotated[str, typer.Option(help="the log's origin")] = "arrears.example/ledger",
) -> None:
    """Print the log's note verifier key (name+keyhash+base64key), for clients and auditors.

    Example: arrears operator-key --log-key pki/log-key.pem --origin arrears.example/ledger
    """
    from arrears.ledger.note import Ed25519Signer

    key = _private_key(log_key, "--log-key")
    out.print(_run(lambda: Ed25519Signer(origin, key)).verifier_key, soft_wrap=True)


@app.command()
def verify(
    ctx: typer.Context,
    database: Annotated[str, typer.Option("--database", "-d", help="database URL")],
    projection: Annotated[
        bool, typer.Option(help="also rebuild and compare the projection")
    ] = True,
) -> None:
    """Re-verify a ledger database: every leaf hash, the hash chain, every tile, the root and
    the checkpoint signature; then rebuild the projection and compare it with the live one.

    Example: arrears --verifier-key 'arrears.example/ledger+1a2b3c4d+AW...' verify -d sqlite:///arrears.db
    """
    from arrears.ledger.note import parse_verifier_key
    from arrears.ledger.projection import check_projection
    from arrears.ledger.sql import SqlStorage, require_database
    from arrears.ledger.verify import verify_log

    conn: Conn = ctx.obj
    verifier_key = conn.verifier_key
    if not verifier_key and conn.pki and (conn.pki / "log-verifier-key.txt").exists():
        verifier_key = (conn.pki / "log-verifier-key.txt").read_text().strip()
    if not verifier_key:
        raise fail("give the log's --verifier-key (before the command)")

    def body() -> None:
        import os

        require_database(database)
        storage = SqlStorage.open(database)
        v = verify_log(
            storage,
            [parse_verifier_key(verifier_key)],
            workers=os.cpu_count() or 1,
            opener=storage.opener(),
        )
        out.print(f"[green]ok[/green]: {v.size} entries, root {v.root.hex()}", soft_wrap=True)
        if projection:
            diff = check_projection(storage)
            if diff:
                for item in diff.items[:50]:
                    err.print(f"  projection: {item}")
                raise fail(f"the projection differs from the ledger in {len(diff.items)} places")
            out.print("[green]ok[/green]: the projection equals the one rebuilt from the ledger")

    _run(body)


# --- members (operator) -----------------------------------------------------------------------


def _roles(names: list[str]) -> list[Any]:
    try:
        return [ROLE_NAMES[n] for n in names]
    except KeyError as e:
        raise fail(f"--role: unknown role {e}; one of {', '.join(ROLE_NAMES)}") from None


def _public_key(path: Path, option: str = "--public-key") -> bytes:
    """The raw Ed25519 public key of a PEM file holding it or its private key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = path.read_bytes()
    except OSError as e:
        raise fail(f"{option} {path}: {e.strerror}") from None
    key: Any = None
    try:
        key = serialization.load_pem_private_key(data, None).public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        with contextlib.suppress(ValueError, UnsupportedAlgorithm):
            key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise fail(f"{option} {path}: not an Ed25519 key in PEM (public, or unencrypted private)")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _private_key(path: Path, option: str) -> Any:
    """The Ed25519 private key in a PEM file, or one line naming the option."""
    from arrears.server.pki import load_ed25519

    try:
        return load_ed25519(path)
    except OSError as e:
        raise fail(f"{option} {path}: {e.strerror}") from None
    except ValueError as e:
        raise fail(f"{option} {e}") from None


def _print_receipt(r: Any) -> None:
    out.print(
        f"[green]committed[/green] at index {r.index} (tree size {r.tree_size})"
        + (" [yellow](a retry: the original entry)[/yellow]" if r.replayed else "")
    )


@member_app.command("admit")
def member_admit(
    ctx: typer.Context,
    member_id: Annotated[str, typer.Argument(help="the new member's id")],
    role: Annotated[
        list[str], typer.Option("--role", "-r", help="reporter, lender, regulator, operator")
    ],
    public_key: Annotated[
        Path, typer.Option(help="the member's Ed25519 signing key (PEM; public or private)")
    ],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
) -> None:
    """Admit a member with its roles and signing key (the operator signs the entry). The first
    admission of a new ledger is the operator admitting itself.

    Example: arrears --pki pki --member operator member admit bank-a -r reporter -r lender --public-key pki/members/bank-a/signing-key.pem
    """
    from arrears.ledger import events as ev

    key = _public_key(public_key)
    roles = _roles(role)
    c = _client(ctx)
    event = _run(lambda: ev.member_admitted(member_id, name or member_id, roles, [key]))
    _print_receipt(_run(lambda: c.admin(event)))


@member_app.command("suspend")
def member_suspend(
    ctx: typer.Context, member_id: str, reason: Annotated[str, typer.Option(help="why")]
) -> None:
    """Suspend a member: its entries are refused and its calls get PERMISSION_DENIED until it
    is reinstated.

    Example: arrears --pki pki --member operator member suspend bank-b --reason "licence withdrawn"
    """
    from arrears.ledger import events as ev

    c = _client(ctx)
    _print_receipt(_run(lambda: c.admin(ev.member_suspended(member_id, reason))))


@member_app.command("reinstate")
def member_reinstate(
    ctx: typer.Context, member_id: str, reason: Annotated[str, typer.Option(help="why")]
) -> None:
    """Reinstate a suspended member.

    Example: arrears --pki pki --member operator member reinstate bank-b --reason "licence restored"
    """
    from arrears.ledger import events as ev

    c = _client(ctx)
    _print_receipt(_run(lambda: c.admin(ev.member_reinstated(member_id, reason))))


@member_app.command("add-key")
def member_add_key(
    ctx: typer.Context,
    member_id: str,
    public_key: Annotated[Path, typer.Option(help="Ed25519 key (PEM)")],
) -> None:
    """Register another signing key for a member.

    Example: arrears --pki pki --member operator member add-key bank-a --public-key new-key.pem
    """
    from arrears.ledger import events as ev

    key = _public_key(public_key)
    c = _client(ctx)
    _print_receipt(_run(lambda: c.admin(ev.key_added(member_id, key))))


@member_app.command("revoke-key")
def member_revoke_key(
    ctx: typer.Context,
    member_id: str,
    key_id: Annotated[
        str, typer.Option(help="the full key id (64 hex digits, as `member list` shows it)")
    ],
    reason: Annotated[str, typer.Option(help="why")],
) -> None:
    """Revoke a member's key: entries signed with it after this are refused.

    Example: arrears --pki pki --member operator member revoke-key bank-a --key-id 3f2a... --reason compromised
    """
    from arrears.ledger import events as ev

    try:
        kid = bytes.fromhex(key_id)
    except ValueError:
        raise fail("--key-id: not hex") from None
    c = _client(ctx)
    _print_receipt(_run(lambda: c.admin(ev.key_revoked(member_id, kid, reason))))


@member_app.command("list")
def member_list(ctx: typer.Context) -> None:
    """List members, their roles and status, then every key: its full id (as `member
    revoke-key --key-id` takes it), the ledger index it was added at and, if revoked, revoked at.

    Example: arrears --pki pki --member bank-a member list
    """
    c = _client(ctx)
    res = _run(c.members)
    names = {v: k for k, v in ROLE_NAMES.items()}
    t = _record_table("member", "name", "roles", "status", "admitted at", "keys")
    for m in res.members:
        t.add_row(
            m.member_id,
            m.name,
            ", ".join(names.get(r, str(r)) for r in m.roles),
            "suspended" if m.suspended else "active",
            str(m.admitted_at),
            str(len(m.keys)),
        )
    print_table(t)
    for m in res.members:
        for k in m.keys:
            revoked = f", revoked at {k.revoked_at}" if k.HasField("revoked_at") else ""
            out.print(
                f"{m.member_id} key {k.key_id.hex()}: added at {k.added_at}{revoked}",
                soft_wrap=True,
            )


# --- reporting ---------------------------------------------------------------------------------


def _int_text(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a whole number") from None


def _minor(amount: str, currency: str, field: str) -> int:
    """An amount in minor units; ValueError naming ``field`` when it is not a finite amount
    from 0 to the ledger's largest, or has more decimals than ``currency`` has."""
    from arrears.ledger.records import MAX_MINOR, amount_text, minor_digits

    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"{field}: {amount!r} is not an amount")
    digits = minor_digits(currency)
    if not 0 <= value <= Decimal(MAX_MINOR).scaleb(-digits):
        raise ValueError(
            f"{field}: {amount} is out of range (0 to {amount_text(MAX_MINOR, currency)})"
        )
    exact = Context(prec=len(value.as_tuple().digits), Emin=MIN_EMIN, Emax=MAX_EMAX)
    minor = value.scaleb(digits, exact)
    if minor != minor.to_integral_value():
        raise ValueError(f"{field}: {amount} has more than {digits} decimals for {currency}")
    return int(minor)


def _consortium_today(ctx: typer.Context) -> date:
    """Today in the consortium's time zone (its rules'), as the server reckons days."""
    import time

    rules: Rules = ctx.obj.rules
    return rules.day(time.time_ns() // 1000)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None


def _choice(table: dict[str, int], text: str, field: str) -> int:
    key = text.strip().lower().replace("_", "-")
    if key not in table:
        raise ValueError(f"{field}: {text!r} is not one of {', '.join(table)}")
    return table[key]


@dataclass(frozen=True)
class ReportRow:
    subject: Any
    record_id: str
    fields: dict[str, Any]
    submission_id: str


def report_row(row: dict[str, str], member_id: str) -> ReportRow:
    """One CSV row (or command line) as a validated report. Raises ValueError/ArrearsError."""
    from arrears.ledger import events as ev
    from arrears.ledger.identifiers import parse_subject

    kind = (row.get("subject_kind") or "resident_id").strip()
    country = (row.get("country") or "").strip() or None
    subject = parse_subject(kind, row.get("subject", ""), country=country)
    record_id = (row.get("record_id") or "").strip()
    if not record_id:
        raise ValueError("record_id: required")
    currency = (row.get("currency") or "CNY").strip().upper()
    notified = (row.get("borrower_notified_on") or "").strip()
    if not notified:
        raise ValueError(
            "borrower_notified_on: required; the borrower must be notified before negative "
            "data is reported"
        )
    fields: dict[str, Any] = {
        "loan_type": _choice(LOAN_TYPES, row.get("loan_type") or "personal", "loan_type"),
        "currency": currency,
        "principal_minor": _minor(row.get("principal", ""), currency, "principal"),
        "outstanding_minor": _minor(row.get("outstanding", ""), currency, "outstanding"),
        "days_past_due": _int_text(row.get("days_past_due") or "0", "days_past_due"),
        "first_missed_payment": _day(row.get("first_missed_payment", ""), "first_missed_payment"),
        "borrower_notified_on": _day(notified, "borrower_notified_on"),
        "collection_stage": _choice(
            STAGES, row.get("collection_stage") or "reminder", "collection_stage"
        ),
    }
    ev.record_reported(record_id, b"", **fields)  # the wire fields' ranges, before any blinding
    # The same row of the same file always gets the same submission id, so a rerun of a file
    # adds nothing twice.
    sid = (
        row.get("submission_id")
        or "report-" + hashlib.sha256(f"{member_id}\x00{record_id}".encode()).hexdigest()[:32]
    )
    return ReportRow(subject, record_id, fields, sid)


@app.command()
def report(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the borrower's ID (never sent: it is blinded)")],
    record_id: Annotated[str, typer.Option(help="your own id for this loan")],
    principal: Annotated[str, typer.Option(help="amount lent, e.g. 10000.00")],
    outstanding: Annotated[str, typer.Option(help="amount outstanding")],
    days_past_due: Annotated[int, typer.Option(help="days past due (at least 1)")],
    first_missed_payment: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    notified_on: Annotated[str, typer.Option(help="the day the borrower was notified, YYYY-MM-DD")],
    kind: Annotated[
        str,
        typer.Option(
            help="resident_id, credit_code or passport (COUNTRY:NUMBER, or the number with --country)"
        ),
    ] = "resident_id",
    country: Annotated[
        str | None, typer.Option(help="passport's issuing country (ISO 3166 alpha-3)")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "CNY",
    loan_type: Annotated[str, typer.Option(help=", ".join(LOAN_TYPES))] = "personal",
    stage: Annotated[str, typer.Option(help=", ".join(STAGES))] = "reminder",
) -> None:
    """Report one default. The ID is validated and blinded here; the ledger sees a commitment.

    Example: arrears --pki pki --member bank-a report 11010519491231002X --record-id L-1001 --principal 50000 --outstanding 42000.50 --days-past-due 45 --first-missed-payment 2026-09-01 --notified-on 2026-10-01
    """
    c = _client(ctx)
    row = {
        "subject_kind": kind,
        "subject": subject,
        "country": country or "",
        "record_id": record_id,
        "currency": currency,
        "principal": principal,
        "outstanding": outstanding,
        "days_past_due": str(days_past_due),
        "first_missed_payment": first_missed_payment,
        "borrower_notified_on": notified_on,
        "loan_type": loan_type,
        "collection_stage": stage,
    }
    try:
        r = report_row(row, c.aio.identity.member_id)
    except ValueError as e:
        raise fail(str(e)) from None
    receipt = _run(
        lambda: c.report(r.subject, r.record_id, submission_id=r.submission_id, **r.fields)
    )
    _print_receipt(receipt)
    out.print(receipt.tlog_proof, highlight=False, soft_wrap=True)


def _record(text: str, default_member: str) -> Any:
    from arrears.ledger.records import RecordRef

    member, sep, record_id = text.partition("/")
    return RecordRef(member, record_id) if sep else RecordRef(default_member, text)


@app.command()
def update(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="your record id")],
    days_past_due: Annotated[int | None, typer.Option(help="days past due now")] = None,
    outstanding: Annotated[str | None, typer.Option(help="amount outstanding now")] = None,
    currency: Annotated[str, typer.Option(help="the record's currency")] = "CNY",
    stage: Annotated[str | None, typer.Option(help=", ".join(STAGES))] = None,
) -> None:
    """Update one of your records: days past due, amount outstanding, collection stage.

    Example: arrears --pki pki --member bank-a update L-1001 --days-past-due 75 --stage phone
    """
    c = _client(ctx)
    try:
        fields: dict[str, Any] = {"currency": currency}
        if days_past_due is not None:
            fields["days_past_due"] = days_past_due
        if outstanding is not None:
            fields["outstanding_minor"] = _minor(outstanding, currency, "outstanding")
        if stage is not None:
            fields["collection_stage"] = _choice(STAGES, stage, "stage")
    except ValueError as e:
        raise fail(str(e)) from None
    _print_receipt(_run(lambda: c.update(record_id, **fields)))


@app.command()
def settle(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="your record id")],
    on: Annotated[str, typer.Option(help="the day the default ended, YYYY-MM-DD")],
    negotiated: Annotated[bool, typer.Option(help="a partial or negotiated settlement")] = False,
) -> None:
    """Settle one of your records: the default ended. It is then served for the consortium's
    retention period from --on (the rules' retention_years; default five years).

    Example: arrears --pki pki --member bank-a settle L-1001 --on 2026-11-21
    """
    c = _client(ctx)
    try:
        day = _day(on, "on")
    except ValueError as e:
        raise fail(str(e)) from None
    kind = 2 if negotiated else 1
    _print_receipt(_run(lambda: c.settle(record_id, day, kind=kind)))


@app.command()
def withdraw(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="your record id")],
    reason: Annotated[str, typer.Option(help="why it should never have been reported")],
) -> None:
    """Withdraw one of your records reported in error.

    Example: arrears --pki pki --member bank-a withdraw L-1001 --reason "wrong borrower"
    """
    c = _client(ctx)
    _print_receipt(_run(lambda: c.withdraw(record_id, reason)))


ERASURE_REASONS = {"retention-ended": 1, "lawful-request": 2}


@app.command()
def erase(
    ctx: typer.Context,
    record: Annotated[str, typer.Argument(help="MEMBER/RECORD-ID")],
    reason: Annotated[str, typer.Option(help=" or ".join(ERASURE_REASONS))],
) -> None:
    """Erase a record (operator): its subject opening is deleted, so no lookup finds it again
    and its entries no longer name anyone. retention-ended is refused while the record is
    still within the consortium's retention period (the rules' retention_years; default five
    years after the default ended); `arrears audit` lists records kept past it.

    Example: arrears --pki pki --member operator erase bank-a/L-1001 --reason retention-ended
    """
    from arrears.ledger import events as ev

    try:
        why = ERASURE_REASONS[reason]
    except KeyError:
        raise fail(f"--reason: one of {', '.join(ERASURE_REASONS)}") from None
    c = _client(ctx)
    ref = _record(record, c.aio.identity.member_id)
    _print_receipt(_run(lambda: c.submit(ev.record_erased(ref, why))))  # type: ignore[arg-type]


dispute_app = typer.Typer(
    help="Open and resolve disputes.\n\n"
    "Example: arrears --pki pki --member operator dispute open bank-a/L-1001 --id D-42"
    ' --reason "repaid in June"',
    no_args_is_help=True,
)
app.add_typer(dispute_app, name="dispute")


@dispute_app.command("open")
def dispute_open(
    ctx: typer.Context,
    record: Annotated[str, typer.Argument(help="MEMBER/RECORD-ID (or your own RECORD-ID)")],
    dispute_id: Annotated[str, typer.Option("--id", help="the dispute's id")],
    reason: Annotated[str, typer.Option(help="what the borrower disputes")],
    on: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (default: today in the consortium's time zone)")
    ] = None,
) -> None:
    """Open a dispute (the operator for a borrower, or the reporter): every lender sees the flag
    at once, and the reporter must answer within the consortium's deadline (the rules'
    dispute_deadline_days; default 20 days).

    Example: arrears --pki pki --member operator dispute open bank-b/B-AUTO-5521 --id D-42 --reason "car returned in June"
    """
    from arrears.ledger import events as ev

    c = _client(ctx)
    try:
        day = _day(on, "on") if on else _consortium_today(ctx)
    except ValueError as e:
        raise fail(str(e)) from None
    ref = _record(record, c.aio.identity.member_id)
    _print_receipt(_run(lambda: c.submit(ev.dispute_opened(ref, dispute_id, day, reason))))


OUTCOMES = {"corrected": 1, "withdrawn": 2, "rejected": 3}


@dispute_app.command("resolve")
def dispute_resolve(
    ctx: typer.Context,
    record: Annotated[str, typer.Argument(help="MEMBER/RECORD-ID (or your own RECORD-ID)")],
    dispute_id: Annotated[str, typer.Option("--id", help="the dispute's id")],
    outcome: Annotated[str, typer.Option(help="corrected, withdrawn or rejected")],
    explanation: Annotated[str, typer.Option(help="the written reply")] = "",
    days_past_due: Annotated[
        int | None, typer.Option(help="with corrected: the right days past due")
    ] = None,
    outstanding: Annotated[
        str | None, typer.Option(help="with corrected: the right amount outstanding")
    ] = None,
    currency: Annotated[str, typer.Option(help="the record's currency")] = "CNY",
    on: Annotated[
        str | None, typer.Option(help="YYYY-MM-DD (default: today in the consortium's time zone)")
    ] = None,
) -> None:
    """Resolve a dispute (the reporter, or the operator): corrected (with the corrected values),
    withdrawn (the record is withdrawn) or rejected (it stands).

    Example: arrears --pki pki --member bank-b dispute resolve B-AUTO-5521 --id D-42 --outcome rejected --explanation "payments missed from May"
    """
    from arrears.ledger import events as ev

    c = _client(ctx)
    try:
        kind = _choice(OUTCOMES, outcome, "outcome")
        day = _day(on, "on") if on else _consortium_today(ctx)
        correction = None
        if kind == 1:
            correction = ev.record_updated(
                _record(record, c.aio.identity.member_id),
                currency=currency,
                days_past_due=days_past_due,
                outstanding_minor=_minor(outstanding, currency, "outstanding")
                if outstanding
                else None,
            )
    except ValueError as e:
        raise fail(str(e)) from None
    ref = _record(record, c.aio.identity.member_id)
    event = ev.dispute_resolved(ref, dispute_id, kind, day, explanation, correction)  # type: ignore[arg-type]
    _print_receipt(_run(lambda: c.submit(event)))


UPLOAD_COLUMNS = (
    "subject_kind",
    "subject",
    "country",
    "record_id",
    "loan_type",
    "currency",
    "principal",
    "outstanding",
    "days_past_due",
    "first_missed_payment",
    "collection_stage",
    "borrower_notified_on",
)


class Earlier(NamedTuple):
    """A rerun row compared with the entry that holds its submission id."""

    same_values: bool  # the same record with the same values (but time and commitment)
    same_subject: bool | None  # None: no salt kept for that entry, so not compared
    tlog_proof: str  # the entry's proof in the tree this client trusts


UPLOAD_REQUIRED = (
    "subject",
    "record_id",
    "principal",
    "outstanding",
    "days_past_due",
    "first_missed_payment",
    "borrower_notified_on",
)


def _upload_rows(file: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of an upload's CSV with their row numbers: the line of the file each starts on
    (the header is row 1; blank lines are skipped but counted). A row with more fields than the
    header keeps the rest under None, one with fewer has None for the missing columns, as
    csv.DictReader does. A file that is not UTF-8 CSV, or whose header lacks a required column
    or names an unknown one (a misspelt optional column would otherwise be left at its
    default), is refused whole."""
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            while True:
                start = reader.line_num + 1
                fields = next(reader, None)
                if fields is None:
                    break
                if not fields:
                    continue
                row: dict[Any, Any] = dict(zip(header, fields, strict=False))
                if len(fields) > len(header):
                    row[None] = fields[len(header) :]
                for name in header[len(fields) :]:
                    row[name] = None
                rows.append((start, row))
    except UnicodeDecodeError as e:
        raise fail(f"{file}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None
    except csv.Error as e:
        raise fail(f"{file}: not a CSV file: {e}") from None
    if not header:
        raise fail(f"{file}: empty; the first row names the columns: {', '.join(UPLOAD_COLUMNS)}")
    known = (*UPLOAD_COLUMNS, "submission_id")
    unknown = [c for c in header if c not in known]
    missing = [c for c in UPLOAD_REQUIRED if c not in header]
    if unknown or missing:
        problems = [f"unknown column {c!r}" for c in unknown]
        problems += [f"no {c} column" for c in missing]
        raise fail(f"{file}: {'; '.join(problems)} (columns: {', '.join(known)})")
    return rows


def _writable(path: Path, option: str) -> Path:
    """``path``, once it is known it can be written: checked before anything is sent, its
    directory made if need be (as `audit --html` does); else one line naming ``option``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise fail(f"{option} {path}: {path.parent} is not a directory") from None
    except OSError as e:
        raise fail(f"{option} {path}: {e.strerror}") from None
    if path.is_dir():
        raise fail(f"{option} {path}: is a directory")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise fail(f"{option} {path}: not writable")
    return path


def _earlier_entries(
    c: Any, reused: list[tuple[str, int, Any, bytes, bytes | None]]
) -> list[Earlier | ArrearsError]:
    """For each row refused as ``submission_reused`` (its ref, the index of the entry holding
    its submission id, its envelope, its pseudonym, and the commitment salt the receipts file
    kept for that entry, if any), in order: the row compared with that entry, as proven in the
    tree this client trusts; or the error that kept it from being compared. Each run signs
    afresh, with its own time and commitment salt, so values are compared without those two;
    the subject is compared by opening the entry's commitment with the kept salt and the row's
    pseudonym. Asked 32 at a time."""
    from arrears.client.verify import verify_entry
    from arrears.ledger.pseudonym import subject_commitments
    from arrears.ledger.tlogproof import TlogProof
    from arrears.v1 import events_pb2 as pb

    def values(payload: bytes) -> tuple[Any, bytes]:
        """A report's fields but its signing time and commitment, and that commitment; None
        for another event."""
        sub = pb.Submission.FromString(payload)
        if not sub.HasField("record_reported"):
            return None, b""
        commitment = sub.record_reported.subject_commitment
        sub.ClearField("signed_at_unix_ms")
        sub.record_reported.ClearField("subject_commitment")
        return sub, commitment

    async def all_of() -> list[Earlier | ArrearsError]:
        trusted = c.trust.trusted
        if trusted is None or max(r[1] for r in reused) >= trusted.checkpoint.size:
            await c.aio.checkpoint()  # a rerun with every row refused may have none yet
            trusted = c.trust.trusted
        cp, note = trusted.checkpoint, trusted.note
        gate = asyncio.Semaphore(32)

        async def one(
            index: int, envelope: Any, pseudonym: bytes, salt: bytes | None
        ) -> Earlier | ArrearsError:
            try:
                async with gate:
                    got = await c.aio.inclusion_proof(index, cp.size)
                # The entry as proven in the tree this client trusts, not the server's word.
                leaf = verify_entry(index, got.leaf, got.hashes, cp)
                earlier, committed = values(leaf.payload)
                same = earlier is not None and earlier == values(envelope.payload)[0]
                subject = None
                if same and salt is not None:
                    (ours,) = subject_commitments([salt], [pseudonym])
                    subject = ours == committed
            except ArrearsError as e:
                return e
            except Exception as e:  # a payload that does not decode, say
                return ArrearsError(f"entry {index}: {e}")
            return Earlier(same, subject, TlogProof(index, tuple(got.hashes), note).text())

        return await asyncio.gather(*(one(*r[1:]) for r in reused))

    got: list[Earlier | ArrearsError] = _run(lambda: c._run(all_of()))
    return got


@app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV with a header row", exists=True, dir_okay=False)
    ],
    errors: Annotated[
        Path | None, typer.Option(help="where to write rejected rows (default FILE.errors.csv)")
    ] = None,
    receipts: Annotated[
        Path | None,
        typer.Option(
            help="where to add the receipts of committed rows, a JSON line each: row, record_id, "
            "index, the tlog-proof text to keep and the subject commitment's salt "
            "(default FILE.receipts.jsonl)"
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=1000, help="rows per stream message (1 to 1,000)")
    ] = 500,
) -> None:
    """Upload a month's defaulters from CSV. Rows are validated, blinded, signed and streamed;
    accepted rows are committed, each with a verified receipt added to the receipts file;
    rejected rows go to an error file with their row number (the line of the file the row
    starts on; the header is row 1) and reason, and the exit status is then 2. A rerun of the
    same file adds nothing twice: a row already in the ledger with the same values and subject
    is counted as such, while a row for an already reported record with other values is
    rejected (correct it with `update`), and so is one with another subject (withdraw the
    record and report it under a new record id). The subject is compared
    with the salt the receipts file keeps; keep that file with the CSV.

    Columns, named in the first row (UTF-8): subject_kind (default resident_id), subject,
    country, record_id, loan_type (default personal), currency (default CNY), principal,
    outstanding, days_past_due, first_missed_payment, collection_stage (default reminder),
    borrower_notified_on, and optionally submission_id (default: derived from your member id
    and the record_id). A file missing a required column (subject, record_id, principal,
    outstanding, days_past_due, first_missed_payment, borrower_notified_on) or naming an
    unknown one is refused whole; a record_id may appear in one row of a file only. Amounts
    are decimal numbers in the currency's units (e.g. 4200.50). The error and receipts files'
    directories are made if need be.

    Example: arrears --pki pki --member bank-a upload defaulters-2026-10.csv
    """
    c = _client(ctx)
    member_id = c.aio.identity.member_id
    rows = _upload_rows(file)
    errors = _writable(errors or file.with_suffix(".errors.csv"), "--errors")
    receipts = _writable(receipts or file.with_suffix(".receipts.jsonl"), "--receipts")
    rejected: list[tuple[int, str, str]] = []
    valid: list[tuple[int, ReportRow]] = []
    first_row: dict[str, int] = {}  # each record once a file: which of two rows would be right?
    for n, row in rows:
        record_id = (row.get("record_id") or "").strip()
        try:
            if None in row or None in row.values():  # more fields than the header, or fewer
                named = len(row) - (None in row)
                count = sum(v is not None for k, v in row.items() if k is not None)
                count += len(row.get(None) or ())  # type: ignore[call-overload]
                raise ValueError(f"has {count} fields where the header has {named}")
            if record_id in first_row:
                raise ValueError(f"record_id: {record_id} is in row {first_row[record_id]} too")
            valid.append((n, report_row(row, member_id)))
            first_row[record_id] = n
        except (ValueError, ArrearsError) as e:
            rejected.append((n, record_id, str(e)))
    committed = already = 0
    record_of_row = {str(n): r.record_id for n, r in valid}
    # Receipts are added as they come, each entry once: a run cut short keeps those it got,
    # and a rerun adds the receipts of rows an earlier run committed without writing them.
    # The salts of the entries' subject commitments are kept too, so that a rerun can tell
    # whether a row names the subject its record was reported about.
    have: set[int] = set()
    salts: dict[int, bytes] = {}
    if receipts.exists():
        for line in receipts.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                kept_line = json.loads(line)
                have.add(index := int(kept_line["index"]))
                if "subject_salt" in kept_line:
                    salts[index] = base64.b64decode(kept_line["subject_salt"], validate=True)
    kept = 0
    unopened = 0  # rerun rows whose entry's salt was not kept, so their subject not compared

    def keep(ref: str, index: int, tlog_proof: str, salt: bytes | None) -> None:
        nonlocal kept
        if index in have:
            return
        have.add(index)
        kept += 1
        row: dict[str, Any] = {"row": int(ref), "record_id": record_of_row[ref], "index": index}
        row["tlog_proof"] = tlog_proof
        if salt is not None:
            row["subject_salt"] = base64.b64encode(salt).decode()
        sink.write(json.dumps(row) + "\n")
        sink.flush()

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    sink = receipts.open("a", encoding="utf-8")
    try:
        with Progress(*columns, console=err) as progress:
            t_valid = progress.add_task("validated", total=len(rows))
            progress.update(t_valid, completed=len(rows))
            t_signed = progress.add_task("blinded and signed", total=len(valid))
            t_done = progress.add_task("committed", total=len(valid))
            prepared = []
            subjects = [r.subject for _, r in valid]
            pseudonyms = _run(lambda: c.pseudonyms(subjects)) if valid else []
            for (n, r), p in zip(valid, pseudonyms, strict=True):
                env, opening = _run(
                    lambda r=r, p=p: c.prepare_report(
                        r.subject,
                        r.record_id,
                        pseudonym=p,
                        submission_id=r.submission_id,
                        **r.fields,
                    )
                )
                prepared.append((str(n), env, opening))
                progress.advance(t_signed)
            envelope_of_row = {ref: env for ref, env, _ in prepared}
            opening_of_row = {ref: opening for ref, _, opening in prepared}
            reused: list[tuple[str, int, Any, bytes, bytes | None]] = []
            refusals: dict[str, str] = {}
            results = iter(c.submit_stream(prepared, batch=batch))
            while (res := _run(lambda: next(results, None))) is not None:
                progress.advance(t_done)
                ref, r, refusal = res.client_ref, res.receipt, res.error
                if r is not None:
                    committed += not r.replayed
                    already += r.replayed  # the same signed row again
                    # A replay is of this very envelope: its entry holds this salt's commitment.
                    keep(ref, r.index, r.tlog_proof, opening_of_row[ref].salt)
                elif (
                    refusal is not None
                    and refusal.rule == "submission_reused"
                    and (found := re.search(r"at index (\d+)", str(refusal)))
                ):
                    index = int(found.group(1))
                    row_reused = (ref, index, envelope_of_row[ref], opening_of_row[ref].pseudonym)
                    reused.append((*row_reused, salts.get(index)))
                    refusals[ref] = f"{type(refusal).__name__}: {refusal}"
                else:
                    why = f"{type(refusal).__name__}: {refusal}"
                    rejected.append((int(ref), record_of_row.get(ref, ""), why))
        # Rows refused for a submission id taken before: the same row of an earlier run (nothing
        # is added twice), or the same record with other values or about another subject.
        compared = _earlier_entries(c, reused) if reused else []
        for (ref, index, *_), got in zip(reused, compared, strict=True):
            if isinstance(got, ArrearsError):
                why = (
                    f"{refusals[ref]} (could not compare it with that entry: "
                    f"{type(got).__name__}: {got}; run the upload again)"
                )
            elif not got.same_values:
                why = (
                    f"{refusals[ref]} (this record was reported before with other values: "
                    "correct it with `arrears update`)"
                )
            elif got.same_subject is False:
                why = (
                    f"{refusals[ref]} (this record was reported before about another subject: "
                    "withdraw it with `arrears withdraw` and report this subject under a new "
                    "record id)"
                )
            else:
                already += 1
                unopened += got.same_subject is None
                keep(ref, index, got.tlog_proof, salts.get(index))
                continue
            rejected.append((int(ref), record_of_row.get(ref, ""), why))
    finally:
        sink.close()
        with errors.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["row", "record_id", "reason"])
            for n, rid, reason in sorted(rejected):
                w.writerow([n, rid, reason])
    out.print(
        f"{len(rows)} rows: [green]{committed} committed[/green]"
        + (f" ({kept} receipts added to {receipts})" if kept else "")
        + f", {already} already in the ledger, [red]{len(rejected)} rejected[/red]"
        + (f" (see {errors})" if rejected else "")
    )
    if unopened:
        err.print(
            f"[yellow]{unopened} of the rows already in the ledger were compared by their values "
            f"only: {receipts} keeps no subject salt for their entries (a run cut short before "
            "their receipts arrived, or another receipts file), so their subject was not "
            "checked[/yellow]"
        )
    if rejected:
        raise typer.Exit(2)


# --- lookups and watching ------------------------------------------------------------------------


def _policy(path: Path | None) -> Any:
    """The credit policy in ``path`` (or the default), tried on an empty history so that a
    rule naming an unknown metric or comparing with the wrong type is refused now."""
    from arrears.client.policy import Policy
    from arrears.ledger.records import summarise

    if path is None:
        return Policy.default()
    try:
        policy = Policy.from_json(path)
        policy.decide(summarise([], date.today()))
    except (OSError, ValueError, ArrearsError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise fail(f"--policy {path}: {reason}") from None
    return policy


@app.command()
def check(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the applicant's ID (never sent: it is blinded)")],
    consent: Annotated[str, typer.Option(help="the applicant's consent reference")],
    purpose: Annotated[str, typer.Option(help=", ".join(PURPOSES))] = "loan-origination",
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "resident_id",
    policy: Annotated[Path | None, typer.Option(help="your credit policy (JSON)")] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="machine-readable output (amounts in minor units: *_minor, currency)"
        ),
    ] = False,
) -> None:
    """Look an applicant up: every served record, verified, its summary, and your policy's
    decision with reasons.

    Example: arrears --pki pki --member bank-c check 11010519491231002X --consent APP-2026-118 --policy policy.json
    """
    try:
        p = PURPOSES[purpose]
    except KeyError:
        raise fail(f"--purpose: one of {', '.join(PURPOSES)}") from None
    rules = _policy(policy)  # before the lookup, which is recorded
    c = _client(ctx)
    res = _run(lambda: c.check(subject, purpose=p, consent_reference=consent, kind=kind))
    decision = rules.decide(res.summary)
    s = res.summary
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "as_of": s.as_of.isoformat(),
                    "tree_size": res.checkpoint.size,
                    "inquiry_id": res.inquiry_id,
                    "summary": {
                        "defaults_12m": s.defaults_12m,
                        "defaults_24m": s.defaults_24m,
                        "defaults_60m": s.defaults_60m,
                        "active": s.active,
                        "settled": s.settled,
                        "worst_dpd_bucket": s.worst_dpd_bucket,
                        "outstanding_minor": dict(s.outstanding),
                        "open_dispute": s.open_dispute,
                        "reporting_members": list(s.reporting_members),
                    },
                    "records": [
                        {
                            "record": str(r.ref),
                            "status": r.status.value,
                            "days_past_due": r.days_past_due,
                            "outstanding_minor": r.outstanding_minor,
                            "currency": r.currency,
                            "first_missed_payment": r.first_missed_payment.isoformat(),
                            "disputed": r.open_dispute is not None,
                        }
                        for r in res.records
                    ],
                    "decision": {"outcome": decision.outcome, "reasons": list(decision.reasons)},
                }
            )
        )
        return
    print_check(res, decision)


def print_check(res: Any, decision: Any, console: Console | None = None) -> None:
    from arrears.ledger.records import amount_text

    con = console or out
    s = res.summary
    t = _record_table(
        "record",
        "status",
        "days past due",
        "outstanding",
        "first missed",
        "dispute",
        title=f"verified against checkpoint {res.checkpoint.size} (inquiry {res.inquiry_id})",
    )
    for r in res.records:
        t.add_row(
            str(r.ref),
            r.status.value,
            str(r.days_past_due),
            amount_text(r.outstanding_minor, r.currency),
            r.first_missed_payment.isoformat(),
            "OPEN" if r.open_dispute is not None else "",
        )
    print_table(t, con)
    con.print(
        f"defaults in 12/24/60 months: {s.defaults_12m}/{s.defaults_24m}/{s.defaults_60m}; "
        f"active {s.active}, settled {s.settled}; worst bucket {s.worst_dpd_bucket}; "
        f"reported by {', '.join(s.reporting_members) or 'nobody'}"
    )
    colour = {"approve": "green", "refer": "yellow", "decline": "red"}[decision.outcome]
    con.print(f"decision: [bold {colour}]{decision.outcome.upper()}[/bold {colour}]")
    for reason in decision.reasons:
        con.print(f"  - {reason}")


@app.command()
def watch(
    ctx: typer.Context,
    register: Annotated[
        list[str], typer.Option(help="ID=LOAN-REF to register first (repeatable)")
    ] = [],  # noqa: B006
    kind: Annotated[str, typer.Option(help="the kind of the IDs to register: " + KIND_HELP)] = (
        "resident_id"
    ),
    cursor: Annotated[
        int,
        typer.Option(
            min=0,
            help="0: only alerts for entries committed from now on, no replay; N > 0: first "
            "replay the alerts for entries after ledger index N, then go on live",
        ),
    ] = 0,
    count: Annotated[int, typer.Option(min=0, help="stop after this many alerts (0: never)")] = 0,
) -> None:
    """Watch your borrowers: print an alert whenever another member reports, updates, settles
    or withdraws a record about one of them, or a dispute about one is opened or resolved.
    When the connection drops (a server restart, say) it reconnects, waiting 1 s, then up to
    30 s, and resumes after the last alert it printed, so no alert is missed or printed twice;
    a failed check or a refusal ends it (exit status 1). In a new run, resume with --cursor set
    to the last alert's cursor.

    Example: arrears --pki pki --member bank-a watch --register 11010519491231002X=LOAN-77
    """
    c = _client(ctx)
    if register:
        pairs = []
        for item in register:
            sid, _, ref = item.partition("=")
            if not ref:
                raise fail(f"--register: want ID=LOAN-REF, got {item!r}")
            pairs.append((sid, ref))
        n = _run(lambda: c.register(pairs, kind=kind))
        out.print(f"registered {n} borrower(s)")
    import time

    from arrears.client.errors import Unavailable

    # "From now" as a ledger index, so that a reconnection resumes where this run began.
    resume = cursor or max(_run(c.checkpoint).size - 1, 0)
    seen, pause = 0, 1.0
    while True:
        try:
            for alert in c.watch(resume):
                resume, pause = alert.cursor, 1.0
                seen += 1
                out.print(
                    f"cursor {alert.cursor}: {alert.event} of {alert.record} about your borrower "
                    f"{alert.relationship_reference} (proven in checkpoint {alert.checkpoint.size})"
                )
                if count and seen >= count:
                    return
            why = "the server ended the stream"
        except Unavailable as e:
            why = str(e)
        except ArrearsError as e:
            raise fail(f"{type(e).__name__}: {e}") from None
        err.print(f"watch: disconnected ({why}); resuming after cursor {resume} in {pause:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 30.0)


# --- the log ---------------------------------------------------------------------------------


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Print the latest checkpoint, exactly as signed (a C2SP signed note, with any witness
    cosignatures it has), after verifying it.

    Example: arrears --pki pki --member bank-a checkpoint
    """
    c = _client(ctx)
    _, note = _run(c.signed_checkpoint)
    sys.stdout.write(note.decode())


@proof_app.command("inclusion")
def proof_inclusion(
    ctx: typer.Context,
    index: Annotated[int, typer.Argument(min=0, help="the entry's index")],
    tree_size: Annotated[int, typer.Option(min=0, help="0: the latest")] = 0,
) -> None:
    """An inclusion proof as JSON: index, tree_size, leaf_hash, base64 hashes, and verified:
    whether it was checked here. In the latest tree (the default) it is proven against the
    checkpoint this client trusts, or refused; in another tree it is printed as served
    (verified: false), since this client knows no root of that size. The server sends the
    entry itself only for this member's own entries (all to the operator and regulators);
    for the others the proof is of the leaf hash it sends.

    Example: arrears --pki pki --member bank-a proof inclusion 42
    """
    import base64

    from arrears.client.verify import verify_entry
    from arrears.ledger.errors import ProofError
    from arrears.ledger.merkle import leaf_hash, verify_inclusion

    c = _client(ctx)
    cp = _run(c.checkpoint) if tree_size == 0 else None
    size = cp.size if cp is not None else tree_size
    p = _run(lambda: c.inclusion_proof(index, size))
    hashed = leaf_hash(p.leaf) if p.leaf else p.leaf_hash
    if p.leaf and p.leaf_hash and p.leaf_hash != hashed:
        raise fail(f"{ProofError.__name__}: leaf_hash: not the hash of the leaf sent")
    if cp is not None:
        if p.leaf:
            _run(lambda: verify_entry(index, p.leaf, p.hashes, cp))
        else:
            _run(lambda: verify_inclusion(index, cp.size, hashed, p.hashes, cp.root))
    print(
        json.dumps(
            {
                "index": p.index,
                "tree_size": p.tree_size,
                "leaf_hash": base64.b64encode(hashed).decode(),
                "hashes": [base64.b64encode(h).decode() for h in p.hashes],
                "verified": cp is not None,
            },
            indent=2,
        )
    )


@proof_app.command("consistency")
def proof_consistency(
    ctx: typer.Context,
    from_size: Annotated[int, typer.Argument(min=0, help="the smaller tree size")],
    to_size: Annotated[int, typer.Argument(min=0, help="0: the latest")] = 0,
) -> None:
    """A consistency proof as JSON: from, to, base64 hashes.

    Example: arrears --pki pki --member bank-a proof consistency 10 20
    """
    import base64

    c = _client(ctx)
    size = to_size or _run(c.checkpoint).size
    hashes = _run(lambda: c.consistency_proof(from_size, size))
    print(
        json.dumps(
            {
                "from": from_size,
                "to": size,
                "hashes": [base64.b64encode(h).decode() for h in hashes],
            },
            indent=2,
        )
    )


# --- witnesses and borrowers -------------------------------------------------------------------


@app.command()
def witness(
    ctx: typer.Context,
    state: Annotated[
        Path, typer.Option("--witness-state", help="where the witnessed checkpoint is kept")
    ] = Path("witness-state.json"),
    log: Annotated[str, typer.Option(help="ledger or inquiries")] = "ledger",
    every: Annotated[float, typer.Option(help="repeat every N seconds (0: once)")] = 0.0,
) -> None:
    """Witness the log: fetch its latest checkpoint, prove it consistent with the last one this
    witness saw, cosign it (C2SP cosignature/v1) and hand the cosignature to the log. Refuses,
    reports and exits 3 on a rolled-back or inconsistent checkpoint.

    Example: arrears --pki pki --member regulator witness --witness-state regulator-witness.json
    """
    from arrears.client.witness import Witness
    from arrears.ledger.errors import InconsistentCheckpointError
    from arrears.v1 import service_pb2 as spb

    c = _client(ctx)
    conn: Conn = ctx.obj
    key_path = conn.signing_key or (
        conn.pki / "members" / c.aio.identity.member_id / "signing-key.pem" if conn.pki else None
    )
    if key_path is None:
        raise fail("the witness needs its signing key (--signing-key, or --pki)")
    name = {"ledger": spb.LOG_NAME_LEDGER, "inquiries": spb.LOG_NAME_INQUIRIES}.get(log)
    if name is None:
        raise fail("--log: ledger or inquiries")
    option = "--signing-key" if conn.signing_key else "signing key"
    w = Witness(c.aio, _private_key(key_path, option), state, log=name)
    while True:
        try:
            r = c._run(w.cycle())
        except InconsistentCheckpointError as e:
            err.print(f"[bold red]REFUSED[/bold red]: {e}")
            raise typer.Exit(3) from None
        except ArrearsError as e:
            raise fail(f"{type(e).__name__}: {e}") from None
        out.print(
            f"cosigned checkpoint {r.checkpoint.size} (consistent with {r.previous_size}) in {r.seconds * 1000:.0f} ms"
        )
        if not every:
            return
        import time

        time.sleep(every)


@app.command("witness-key")
def witness_key(
    member_id: Annotated[str, typer.Argument(help="the witness (a member id)")],
    key: Annotated[Path, typer.Option(help="its Ed25519 key (PEM; public or private)")],
) -> None:
    """Print a witness's cosignature verifier key, for lenders' witness policies.

    Example: arrears witness-key regulator --key pki/members/regulator/signing-key.pem
    """
    from arrears.ledger.note import CosignatureVerifier

    raw = _public_key(key, "--key")
    out.print(_run(lambda: CosignatureVerifier(member_id, raw)).verifier_key, soft_wrap=True)


@app.command("subject-report")
def subject_report(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the borrower's ID, as the borrower presented it")],
    request: Annotated[str, typer.Option(help="the borrower's request reference")],
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "resident_id",
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html", help="also write a printable HTML page (its directory made if need be)"
        ),
    ] = None,
) -> None:
    """A borrower's own report (operator): every record with its status and history, dispute
    state, the day each stops being served, and every lookup (who, when, purpose).

    Example: arrears --pki pki --member operator subject-report 11010519491231002X --request REQ-2026-0031 --html report.html
    """
    from arrears.ledger.identifiers import parse_subject
    from arrears.ledger.records import amount_text
    from arrears.server.subject_html import render

    if html_file is not None:
        _writable(html_file, "--html")  # before the lookup, which is recorded
    c = _client(ctx)
    rep = _run(lambda: c.subject_report(subject, request_reference=request, kind=kind))
    label = str(parse_subject(kind, subject))
    t = _record_table(
        "record",
        "status",
        "outstanding",
        "DPD",
        "dispute",
        "served until",
        "entries",
        title=f"{label} as of {rep.as_of} (checkpoint {rep.checkpoint.size})",
    )
    for rec, until in rep.records:
        t.add_row(
            str(rec.ref),
            rec.status.value,
            amount_text(rec.outstanding_minor, rec.currency),
            str(rec.days_past_due),
            "OPEN" if rec.open_dispute else "",
            str(until) if until else "while active",
            ", ".join(map(str, rec.entries)),
        )
    print_table(t)
    q = Table("when (UTC)", "member", "purpose", "consent", title=f"{len(rep.inquiries)} lookups")
    purposes = {v: k for k, v in PURPOSES.items()}
    for i in rep.inquiries:
        when = datetime.fromtimestamp(i.at_unix_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        purpose = purposes.get(i.purpose, str(i.purpose))
        q.add_row(when, i.member_id, purpose, i.consent_reference)
    print_table(q)
    if html_file:
        page = render(rep, subject_label=label, request_reference=request)
        try:
            html_file.write_text(page, encoding="utf-8")
        except OSError as e:
            raise fail(f"--html {html_file}: {e.strerror}") from None
        out.print(f"written {html_file}")


def main() -> None:
    # The regulator's commands (export, audit, audit-inquiries) live in their own module, which
    # builds on this one: they join the app here, not at import time.
    from arrears.server import cli_audit

    cli_audit.register(app)
    app()


if __name__ == "__main__":
    main()
