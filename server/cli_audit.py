"""The regulator's commands: ``export`` the raw logs to JSON Lines, ``audit`` the ledger (from
an export, a database, or live) and ``audit-inquiries``.

An export is one JSON object per line: a header, one line per entry (``index`` and ``leaf``,
the base64 of the exact leaf bytes, which is all an independent verifier needs, then decoded
fields for people), and the checkpoint the entries were exported under::

    {"format": "arrears-export/v1", "log": "ledger", "origin": "arrears.example/ledger"}
    {"index": 0, "leaf": "AQAAAAAAAAAAAAAA...", "leaf_hash": "...", "integrated_at": "...", ...}
    ...
    {"checkpoint": "arrears.example/ledger\\n42\\n...\\n\\n— arrears.example/ledger ...\\n", "tree_size": 42}

Exit status of ``audit`` and ``audit-inquiries``: 0 when the log is sound, 1 when the audit
found a fault, 2 when it could not run (bad input, unreadable file or database, no connection).
``export`` exits 1, writing nothing, when the server's checkpoint does not verify under the
log's key, and 1 too when the server sends fewer entries than the checkpoint covers.
"""  # noqa: E501

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from arrears.client.trust import write_atomically
from arrears.ledger.audit import (
    AuditResult,
    Finding,
    InquiryAuditResult,
    RightsLine,
    SavedCheckpoint,
    audit,
    audit_inquiries,
    indexed_leaves,
)
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import ArrearsError, InputError
from arrears.ledger.leaf import Leaf
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import Ed25519Verifier, parse_verifier_key, split_note
from arrears.ledger.records import Rules
from arrears.server.cli import Conn, _client, _record_table, err, fail, out, print_table

EXPORT_FORMAT = "arrears-export/v1"
LOGS = ("ledger", "inquiries")
INQUIRY_SUFFIX = "/inquiries"
PROGRESS_FROM = 5_000  # entries: smaller runs finish before a bar would help
_LINE_PREFIX = b'{"index": '

T = TypeVar("T")


# --- shared helpers ------------------------------------------------------------------------------


def _do(fn: Callable[[], T]) -> T:
    """Run a command body; anything that keeps it from running is one line and exit status 2."""
    try:
        return fn()
    except (ArrearsError, OSError, ValueError) as e:
        raise fail(f"{type(e).__name__}: {e}", 2) from None


def _verifier(ctx: typer.Context, option: str | None) -> Ed25519Verifier:
    """The ledger's note verifier: --verifier-key after the command, or the global option, or
    the dev PKI's log-verifier-key.txt."""
    conn = ctx.obj if isinstance(ctx.obj, Conn) else None
    vkey = option or (conn.verifier_key if conn else None)
    if not vkey and conn and conn.pki and (conn.pki / "log-verifier-key.txt").exists():
        vkey = (conn.pki / "log-verifier-key.txt").read_text().strip()
    if not vkey:
        raise fail("give the log's --verifier-key (see `arrears operator-key`)", 2)
    v = _do(lambda: parse_verifier_key(vkey))
    if not isinstance(v, Ed25519Verifier):
        raise fail("--verifier-key: want the log's Ed25519 note key, not a witness key", 2)
    return v


def inquiry_verifier(ledger: Ed25519Verifier) -> Ed25519Verifier:
    """The inquiry log signs its checkpoints with the log key under ``<origin>/inquiries``."""
    return Ed25519Verifier(ledger.name + INQUIRY_SUFFIX, ledger.public_key)


def _checkpoint_of(note: bytes) -> Checkpoint:
    return Checkpoint.parse(split_note(note)[0])


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long runs; a no-op callback for short ones."""
    if total < PROGRESS_FROM:
        yield lambda done: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new one; a
    new report is readable by all (0644, not mkstemp's 0600), a replaced one keeps its mode."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_atomically(path, text, mode=mode)


def _as_of(text: str | None, rules: Rules) -> date:
    if text is None:
        return rules.day(int(datetime.now(UTC).timestamp() * 1e6))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--as-of: want YYYY-MM-DD, got {text!r}", 2) from None


def _rules(ctx: typer.Context, config: Path | None) -> Rules:
    """The rules of the command's --config, else the global --config's (with ARREARS_RULES_*
    variables over either)."""
    from arrears.server.config import load_rules

    return _do(lambda: load_rules(config or ctx.obj.config))


# --- the live log ----------------------------------------------------------------------------


def _log_enum(log: str) -> Any:
    from arrears.v1 import service_pb2 as spb

    return spb.LOG_NAME_INQUIRIES if log == "inquiries" else spb.LOG_NAME_LEDGER


def live_checkpoint(client: Any, log: str) -> tuple[bytes, int]:
    """The latest checkpoint note of a log, as the server signed it, and its tree size."""
    from arrears.v1 import service_pb2 as spb

    req = spb.GetCheckpointRequest(log=_log_enum(log))
    cp = client._run(client.aio._call(client.aio._log.GetCheckpoint, req))
    return bytes(cp.note), int(cp.tree_size)


def live_batches(client: Any, log: str, start: int, end: int) -> Iterator[list[tuple[int, bytes]]]:
    """Entries ``start <= index < end`` of a log, one list per streamed message."""
    if start >= end:
        return iter(())
    import grpc

    from arrears.client.errors import from_grpc
    from arrears.v1 import service_pb2 as spb

    async def batches() -> AsyncIterator[list[tuple[int, bytes]]]:
        req = spb.GetEntriesRequest(start=start, end=end, log=_log_enum(log))
        try:
            async for msg in client.aio._log.GetEntries(req, timeout=None):
                yield [(int(e.index), bytes(e.leaf)) for e in msg.entries]
        except grpc.RpcError as e:
            raise from_grpc(e) from None

    it: Iterator[list[tuple[int, bytes]]] = client._iter(batches())
    return it


def _flatten(batches: Iterator[list[tuple[int, bytes]]]) -> Iterator[tuple[int, bytes]]:
    for batch in batches:
        yield from batch


# --- exports ---------------------------------------------------------------------------------


def entry_line(log: str, index: int, leaf: bytes) -> str:
    """One entry of an export: the exact leaf, then decoded fields for people."""
    from google.protobuf.json_format import MessageToDict

    from arrears.ledger.records import decode_submission
    from arrears.v1 import events_pb2 as pb

    obj: dict[str, Any] = {
        "index": index,
        "leaf": base64.b64encode(leaf).decode(),
        "leaf_hash": leaf_hash(leaf).hex(),
    }
    try:
        lf = Leaf.decode(leaf)
        obj["integrated_at"] = (
            datetime.fromtimestamp(lf.integrated_at_us / 1e6, UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z")
        )
        obj["key_id"] = lf.key_id.hex()
        if log == "inquiries":
            q = pb.Inquiry()
            q.ParseFromString(lf.payload)
            obj["inquiry"] = MessageToDict(q, preserving_proto_field_name=True)
        else:
            obj["submission"] = MessageToDict(
                decode_submission(lf.payload), preserving_proto_field_name=True
            )
    except Exception as e:  # the raw leaf is exported whatever it holds; the audit judges it
        obj["decode_error"] = str(e) or type(e).__name__
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n"


def _parse_entry(line: bytes, n: int) -> tuple[int, bytes]:
    """``(index, leaf)`` of an entry line (``n``: its line number, for messages). Lines as
    ``export`` writes them are read without parsing the rest; others go through ``json``."""
    if line.startswith(_LINE_PREFIX):
        comma = line.find(b", ", len(_LINE_PREFIX))
        end = line.find(b'"', comma + 11)
        digits = line[len(_LINE_PREFIX) : comma]
        if comma > 0 and line[comma + 2 : comma + 11] == b'"leaf": "' and digits.isdigit():
            try:
                return int(digits), base64.b64decode(line[comma + 11 : end], validate=True)
            except ValueError:
                pass
    try:
        obj = json.loads(line)
        index, leaf = obj["index"], obj["leaf"]
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(leaf, str):
            raise TypeError("index must be an integer and leaf a base64 string")
        return index, base64.b64decode(leaf, validate=True)
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"export line {n}: not an entry ({e})") from None


@dataclass
class ExportFile:
    """An export's header, its closing checkpoint, and where its lines are."""

    path: Path
    header: dict[str, Any]
    note: bytes | None  # the closing checkpoint, if the export was finished
    tree_size: int | None
    body_end: int  # byte offset after the last complete entry line
    last_index: int | None  # the last entry's index

    @property
    def log(self) -> str:
        return str(self.header.get("log", "ledger"))

    @property
    def origin(self) -> str:
        return str(self.header.get("origin", ""))

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """``(index, leaf)`` of every entry line, in file order."""
        with self.path.open("rb", buffering=1 << 20) as f:
            pos = len(f.readline())
            for n, line in enumerate(f, start=2):
                pos += len(line)
                if pos > self.body_end:
                    break
                if line.strip():
                    yield _parse_entry(line, n)


def _tail_lines(f: IO[bytes], end: int, want: int = 2) -> list[tuple[int, bytes]]:
    """``(offset, line)`` of the last ``want`` lines before ``end`` (just after a newline),
    reading backwards in growing blocks."""
    pos, block, data = end, 1 << 16, b""
    while True:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
        if data.count(b"\n") > want or pos == 0:
            break
        block *= 2
    out: list[tuple[int, bytes]] = []
    line_end = end
    for line in reversed(data[:-1].split(b"\n")[-want:]):
        start = line_end - len(line) - 1
        out.append((start, line))
        line_end = start
    out.reverse()
    return out


def read_export(path: Path) -> ExportFile:
    """Open an export: its header and, from its tail, its checkpoint and last entry. A partly
    written last line (an interrupted export) is ignored."""
    with path.open("rb") as f:
        first = f.readline()
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise InputError(f"{path}: not an {EXPORT_FORMAT} file (first line)")
        if header.get("log", "ledger") not in LOGS:
            raise InputError(f"{path}: unknown log {header.get('log')!r}")
        size = f.seek(0, os.SEEK_END)
        # Blank lines at the end are no lines of the export (an editor or a copy adds them).
        end, after = _content_end(f, size)
        note: bytes | None = None
        tree_size: int | None = None
        last_index: int | None = None
        line_start = _last_newline(f, end) + 1
        body_end = max(line_start, len(first))  # a file of its header alone keeps it
        if line_start >= len(first) and end > line_start:
            f.seek(line_start)
            cp = _checkpoint_line(f.read(end - line_start))
            if cp is not None:  # complete, even without its newline
                note, tree_size = cp
            elif after:
                body_end = after  # an entry line, complete: the export was cut after it
            # else a partly written line (an interrupted export): left out
        if body_end > len(first):
            tail = _tail_lines(f, body_end, 1)
            if tail and tail[-1][0] >= len(first):
                last_index = _parse_entry(tail[-1][1], 0)[0]
    return ExportFile(path, header, note, tree_size, body_end, last_index)


def _content_end(f: IO[bytes], size: int) -> tuple[int, int]:
    """The offset after the file's last byte that is not white space, and the offset after
    the newline that ends its line (0 when none does: the last line is incomplete)."""
    pos, trailing = size, b""
    while pos > 0:
        step = min(1 << 16, pos)
        f.seek(pos - step)
        chunk = f.read(step)
        kept = chunk.rstrip(b" \t\r\n")
        trailing = chunk[len(kept) :] + trailing
        if kept:
            end = pos - step + len(kept)
            return end, end + trailing.index(b"\n") + 1 if b"\n" in trailing else 0
        pos -= step
    return 0, 0


def _last_newline(f: IO[bytes], size: int) -> int:
    pos = size
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return pos + i
    return -1


def _checkpoint_line(line: bytes) -> tuple[bytes, int] | None:
    if b'"checkpoint"' not in line or line.startswith(_LINE_PREFIX):
        return None
    try:
        obj = json.loads(line)
        return obj["checkpoint"].encode("utf-8"), int(obj["tree_size"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _truncate_before(path: Path, index: int) -> int:
    """Cut an export before the entry ``index``; returns the new size."""
    with path.open("rb+") as f:
        f.readline()
        while True:
            pos = f.tell()
            line = f.readline()
            if not line or _checkpoint_line(line.rstrip(b"\n")) is not None:
                break
            if _parse_entry(line, 0)[0] >= index:
                break
        f.truncate(pos)
        return pos


def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the JSON Lines file to write or continue")],
    from_index: Annotated[
        int | None,
        typer.Option("--from", help="start at this entry (default: after the file's last one)"),
    ] = None,
    log: Annotated[str, typer.Option(help="ledger or inquiries")] = "ledger",
) -> None:
    """Export a log's raw entries to JSON Lines (regulators): a header line, one line per entry
    with the exact leaf bytes (base64) and its decoded fields, and the signed checkpoint last.
    Resumable: run it again to continue after the last exported entry. The server's checkpoint
    must verify under the log's key (the global --verifier-key, or the dev PKI's): otherwise
    nothing is written and the exit status is 1, as it is when the server sends fewer entries
    than its checkpoint covers (run it again to continue).

    Example: arrears --pki pki --member regulator export ledger.jsonl
    """
    if log not in LOGS:
        raise fail(f"--log: one of {', '.join(LOGS)}", 2)
    if from_index is not None and from_index < 0:
        raise fail("--from: must not be negative", 2)
    ledger_verifier = _verifier(ctx, None)
    verifier = inquiry_verifier(ledger_verifier) if log == "inquiries" else ledger_verifier
    c = _client(ctx)
    try:
        _export(c, file, log, from_index, verifier)
    finally:
        c.close()


def _export(
    c: Any, file: Path, log: str, from_index: int | None, verifier: Ed25519Verifier
) -> None:
    from arrears.ledger.note import open_note

    note, size = _do(lambda: live_checkpoint(c, log))
    if size == 0:
        raise fail(f"the {log} log is empty: nothing to export", 2)
    origin = _do(lambda: _checkpoint_of(note)).origin
    try:
        open_note(note, [verifier])
    except ArrearsError as e:
        raise fail(
            f"the server's checkpoint does not verify under the log's key ({e}); nothing was "
            f"written to {file}"
        ) from None
    start, resumed = _do(lambda: _prepare_export(file, log, origin, from_index, size))
    done = 0
    with (
        file.open("a", encoding="utf-8") as f,
        _progress(f"exporting {log}", size - start) as progress,
    ):

        def stream() -> None:
            nonlocal done
            for batch in live_batches(c, log, start, size):
                f.write("".join(entry_line(log, i, leaf) for i, leaf in batch))
                done += len(batch)
                progress(done)

        try:
            _do(stream)
        finally:
            f.flush()
        if start + done != size:
            raise fail(f"the server sent {done} of {size - start} entries; run again to continue")
        f.write(json.dumps({"checkpoint": note.decode(), "tree_size": size}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    name = escape(str(file))
    if start == size and resumed:
        out.print(f"{name} was up to date: {size} entries; checkpoint renewed")
    elif start == size:
        out.print(f"no entries from {start} on: {name} holds the log's checkpoint ({size}) only")
    elif start:
        out.print(
            f"exported entries {start} to {size - 1} of {escape(origin)} "
            + (f"(continuing {name})" if resumed else f"to {name}")
        )
    else:
        out.print(f"exported {size} entries of {escape(origin)} to {name}")


def _prepare_export(
    path: Path, log: str, origin: str, from_index: int | None, size: int
) -> tuple[int, bool]:
    """Make ``path`` ready to take entries; return the first index to write, and whether the
    file already held entries (the export continues it)."""
    if not path.exists() or path.stat().st_size == 0:
        start = from_index or 0
        if start > size:
            raise InputError(f"--from: {start} is past the log's size {size}")
        header = {"format": EXPORT_FORMAT, "log": log, "origin": origin}
        path.write_text(json.dumps(header) + "\n", encoding="utf-8")
        return start, False
    ex = read_export(path)
    if ex.log != log or ex.origin != origin:
        raise InputError(
            f"{path}: an export of {ex.origin} ({ex.log}), not of {origin} ({log}); "
            "use another file"
        )
    next_index = 0 if ex.last_index is None else ex.last_index + 1
    if from_index is not None and from_index > next_index:
        raise InputError(
            f"--from: {from_index} would leave a gap; {path} ends before entry {next_index}"
        )
    start = next_index if from_index is None else from_index
    if start > size:
        raise InputError(
            f"{path} holds entries up to {next_index - 1}, but the log's checkpoint covers "
            f"only {size}: the log is shorter than what was exported before"
        )
    with path.open("rb+") as f:
        f.truncate(ex.body_end)  # the old checkpoint line and any partial line go
    if start < next_index:
        _truncate_before(path, start)
    return start, ex.last_index is not None


# --- audits ----------------------------------------------------------------------------------


@dataclass
class _Source:
    note: bytes
    size: int
    entries: Callable[[], Iterator[tuple[int, bytes]]]
    where: str
    close: Callable[[], None] = lambda: None


def _export_source(path: Path, log: str) -> _Source:
    ex = read_export(path)
    if ex.log != log:
        raise InputError(f"{path}: an export of the {ex.log} log, not the {log} log")
    if ex.note is None or ex.tree_size is None:
        raise InputError(
            f"{path}: no checkpoint line at the end (an interrupted export; run "
            "`arrears export` again to finish it)"
        )
    return _Source(ex.note, ex.tree_size, ex.entries, str(path))


def _database_source(url: str, log: str) -> _Source:
    from arrears.ledger import schema
    from arrears.ledger.sql import SqlStorage, create_engine, require_database

    require_database(url)
    engine = create_engine(url)
    try:
        storage = SqlStorage(engine, migrate_schema=False)
        if log == "inquiries":
            storage = storage.sibling(schema.INQUIRIES)
        head = storage.head()
        if not head.checkpoint:
            raise InputError(f"the {log} log in the database is empty: nothing to audit")
    except BaseException:
        engine.dispose()
        raise
    try:
        size = _checkpoint_of(head.checkpoint).size
    except ArrearsError:
        size = head.size
    return _Source(
        head.checkpoint,
        size,
        lambda: indexed_leaves(storage.read_leaves, 0, size),
        "the database",
        engine.dispose,
    )


def _live_source(ctx: typer.Context, log: str) -> _Source:
    if not isinstance(ctx.obj, Conn):
        raise InputError("a live audit needs the connection options (--pki, --member, ...)")
    c = _client(ctx)
    try:
        note, size = live_checkpoint(c, log)
        if size == 0:
            raise InputError(f"the {log} log is empty: nothing to audit")
    except BaseException:
        c.close()
        raise
    return _Source(
        note, size, lambda: _flatten(live_batches(c, log, 0, size)), "the server", c.close
    )


def _source(
    ctx: typer.Context, export_file: Path | None, database: str | None, log: str
) -> _Source:
    if export_file is not None and database is not None:
        raise fail("give --export or --database, not both", 2)
    if export_file is not None:
        return _do(lambda: _export_source(export_file, log))
    if database is not None:
        return _do(lambda: _database_source(database, log))
    return _do(lambda: _live_source(ctx, log))


def _load_saved(path: Path | None) -> SavedCheckpoint | None:
    if path is None or not path.exists():
        return None
    return _do(lambda: SavedCheckpoint.from_json(json.loads(path.read_text(encoding="utf-8"))))


def _save(path: Path | None, result: AuditResult | InquiryAuditResult) -> None:
    if path is None:
        return
    keep = result.to_save()
    if keep is None:
        err.print(
            f"[yellow]not saved[/yellow]: {escape(str(path))} keeps the last checkpoint that "
            "verified"
        )
        return
    _do(lambda: _write_atomically(path, json.dumps(keep.to_json(), indent=2) + "\n"))
    out.print(f"saved checkpoint {keep.size} to {escape(str(path))} for the next audit")


def _verdict(result: AuditResult | InquiryAuditResult, what: str) -> None:
    cp = result.checkpoint
    if result.ok:
        out.print(
            f"[bold green]OK[/bold green]: {escape(what)}: {result.size} entries, "
            "every check passed; "
            f"root {result.root.hex()}"
            + (f", checkpoint {cp.size} verified" if cp is not None else ""),
            soft_wrap=True,
        )
        return
    first = result.first_fault
    assert first is not None
    where = "the checkpoint" if first.index is None else f"index {first.index}"
    out.print(
        f"[bold red]FAILED[/bold red]: {escape(what)}: first fault at {where}: "
        f"[bold]{first.kind}[/bold] — {escape(first.message)}",
        soft_wrap=True,
    )


def _print_findings(findings: list[Finding], counts: dict[str, int], limit: int = 50) -> None:
    if not findings:
        return
    total = sum(counts.values())
    t = Table("index", "kind", "finding", title=f"{total} finding(s)", title_justify="left")
    for f in findings[:limit]:
        t.add_row("checkpoint" if f.index is None else str(f.index), f.kind, escape(f.message))
    out.print(t)
    if total > limit:
        by_kind = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        out.print(f"... {total - limit} more ({by_kind}); all are in the --json output")


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        _do(lambda: _write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n"))
        out.print(f"result written to {escape(str(path))}")


def _inquiry_json(
    path: Path, ledger: Ed25519Verifier, rights: Mapping[str, Sequence[RightsLine]] | None
) -> dict[str, Any]:
    """An inquiry audit for the report: audited from an inquiry export (each lookup's member
    checked against ``rights``, the ledger audit's ``lookup_rights``), or a saved result."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    if isinstance(head, dict) and head.get("format") == EXPORT_FORMAT:
        src = _export_source(path, "inquiries")
        return audit_inquiries(
            src.entries(), src.note, inquiry_verifier(ledger), lookup_rights=rights
        ).to_json()
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("log") != "inquiries":
        raise InputError(f"{path}: neither an inquiry export nor an audit-inquiries --json result")
    return data


def audit_command(
    ctx: typer.Context,
    export_file: Annotated[
        Path | None, typer.Option("--export", help="audit this export (JSON Lines)")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", "-d", help="audit this database (URL)")
    ] = None,
    saved: Annotated[
        Path | None,
        typer.Option(help="the last audited checkpoint: checked for consistency, then updated"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the result as JSON")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="write a self-contained HTML report")] = None,
    inquiries: Annotated[
        Path | None,
        typer.Option(help="an inquiry export or audit-inquiries JSON to include in --html"),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="judge retention and disputes on the records as they stood at the end of this "
            "day (YYYY-MM-DD; default today)"
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="the server's TOML configuration, for its \\[rules] (default: the global --config)"
        ),
    ] = None,
    verifier_key: Annotated[
        str | None, typer.Option(help="the log's note verifier key (or give it globally)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="threads verifying signatures")] = 2,
) -> None:
    """Audit the whole ledger: continuity, every leaf hash and link of the hash chain, every
    member signature against the key registry as of its index, the lifecycle rules, erasures,
    retention and dispute deadlines, the root and the checkpoint signature, and consistency
    with the checkpoint saved by the last audit. Prints the verdict first; exit status 0 when
    sound, 1 on any fault, 2 when the audit could not run.

    From an export (--export), a database (--database) or live from the server (regulators).

    Example: arrears --verifier-key 'arrears.example/ledger+1a2b3c4d+AW...' audit --export ledger.jsonl --saved audit-state.json --json audit.json --html audit.html
    """  # noqa: E501
    verifier = _verifier(ctx, verifier_key)
    rules = _rules(ctx, config)
    day = _as_of(as_of, rules)
    prior = _load_saved(saved)
    result, where = _audit_ledger(
        ctx,
        verifier,
        export_file,
        database,
        "auditing",
        as_of=day,
        rules=rules,
        saved=prior,
        workers=workers,
    )
    _verdict(result, f"ledger {result.origin} from {where}")
    _print_findings(result.findings, result.finding_counts)
    if result.overdue_disputes:
        t = _record_table(
            "record",
            "dispute",
            "opened",
            "deadline",
            "days open",
            title=f"{len(result.overdue_disputes)} dispute(s) past the "
            f"{rules.dispute_deadline_days}-day deadline as of {day}",
            title_justify="left",
        )
        for d in result.overdue_disputes:
            t.add_row(
                escape(d.record),
                escape(d.dispute_id),
                str(d.opened_on),
                str(d.deadline),
                str(d.days_open),
            )
        print_table(t)
    s = result.stats
    out.print(
        f"{s.members} members, {s.keys} keys; "
        + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(s.events.items()))
        + f"; {result.size / max(result.seconds, 1e-9):,.0f} entries/s"
    )
    data = result.to_json()
    _write_json(json_out, data)
    inq = None
    if html is not None:
        from arrears.server.audit_html import render

        if inquiries:
            # Lookups are checked against the ledger's members only when the ledger verified.
            rights = result.lookup_rights if result.verified else None
            inq = _do(lambda: _inquiry_json(inquiries, verifier, rights))
            first = inq.get("first_fault") or {}
            where = "the checkpoint" if first.get("index") is None else f"index {first['index']}"
            fault = f"{first.get('kind')} at {where}: {first.get('message')}"
            out.print(
                f"inquiry log: {inq.get('size', 0):,} lookups, "
                + ("OK" if inq.get("ok") else f"FAILED, first fault {escape(fault)}")
            )
        _do(lambda: _write_atomically(html, render(data, inq)))
        out.print(f"report written to {escape(str(html))}")
    _save(saved, result)
    if not result.ok or (inq is not None and not inq.get("ok")):
        raise typer.Exit(1)


def _lookup_rights(
    ctx: typer.Context,
    ledger: Ed25519Verifier,
    export_file: Path | None,
    database: str | None,
    rules: Rules,
) -> dict[str, list[RightsLine]]:
    """Who could look subjects up when: from an audit of the whole ledger, which must verify
    (a ledger with an integrity fault says nothing reliable about its members)."""
    what = "auditing the ledger's members"
    today = datetime.now(UTC).date()
    result, where = _audit_ledger(
        ctx, ledger, export_file, database, what, as_of=today, rules=rules
    )
    if not result.verified:
        first = result.first_fault
        raise fail(f"the ledger from {where} does not verify ({first}); run `arrears audit`", 1)
    out.print(f"members as of ledger size {result.size:,}, from {escape(where)}")
    return result.lookup_rights


def _audit_ledger(
    ctx: typer.Context,
    verifier: Ed25519Verifier,
    export_file: Path | None,
    database: str | None,
    what: str,
    *,
    as_of: date,
    rules: Rules,
    saved: SavedCheckpoint | None = None,
    workers: int = 2,
) -> tuple[AuditResult, str]:
    """``audit`` of the ledger from an export, a database or live (with a progress bar saying
    ``what``): the result, and where the entries came from."""
    src = _source(ctx, export_file, database, "ledger")

    def run() -> AuditResult:
        with _progress(what, src.size) as progress:
            return audit(
                src.entries(),
                src.note,
                verifier,
                verifier.name,
                as_of=as_of,
                rules=rules,
                saved=saved,
                workers=workers,
                progress=progress,
            )

    try:
        return _do(run), src.where
    finally:
        src.close()


def audit_inquiries_command(
    ctx: typer.Context,
    export_file: Annotated[
        Path | None, typer.Option("--export", help="audit this inquiry export (JSON Lines)")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", "-d", help="audit this database (URL)")
    ] = None,
    saved: Annotated[
        Path | None,
        typer.Option(help="the last audited inquiry checkpoint: checked, then updated"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the result as JSON")
    ] = None,
    verifier_key: Annotated[
        str | None, typer.Option(help="the ledger's note verifier key (or give it globally)")
    ] = None,
    members: Annotated[
        bool,
        typer.Option(
            "--members",
            help="also audit the ledger (same database or server) and flag lookups by anyone "
            "who could not then look subjects up",
        ),
    ] = False,
    ledger_export: Annotated[
        Path | None,
        typer.Option(help="the ledger export for --members when auditing an --export"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="the server's TOML configuration, for its \\[rules] (with --members; default: "
            "the global --config)"
        ),
    ] = None,
) -> None:
    """Audit the inquiry log: continuity, hash chain, root and checkpoint signature; lookups per
    member and purpose; lookups without a consent reference or purpose. With --members (or
    --ledger-export) the ledger is audited first, and every lookup's member must then have
    been admitted, not suspended, and a lender (or the operator, for subjects' own reports).
    Exit status 0 when sound, 1 on any finding, 2 when the audit could not run.

    Example: arrears --pki pki --member regulator audit-inquiries --members --json inquiries.json
    """
    ledger = _verifier(ctx, verifier_key)
    verifier = inquiry_verifier(ledger)
    prior = _load_saved(saved)
    if export_file is not None and members and ledger_export is None:
        raise fail("--members with --export: give the ledger's export too (--ledger-export)", 2)
    if ledger_export is not None and export_file is None:
        raise fail("--ledger-export goes with --export (the inquiry log's export)", 2)
    rights = (
        _lookup_rights(ctx, ledger, ledger_export, database, _rules(ctx, config))
        if members or ledger_export is not None
        else None
    )
    src = _source(ctx, export_file, database, "inquiries")

    def run() -> InquiryAuditResult:
        with _progress("auditing inquiries", src.size) as progress:
            return audit_inquiries(
                src.entries(),
                src.note,
                verifier,
                saved=prior,
                progress=progress,
                lookup_rights=rights,
            )

    try:
        result = _do(run)
    finally:
        src.close()
    _verdict(result, f"inquiry log {result.origin} from {src.where}")
    _print_findings(result.findings, result.finding_counts)
    purposes = sorted({p for c in result.by_member_purpose.values() for p in c})
    if purposes:
        t = Table("member", *purposes, "total", title="lookups per member and purpose")
        for member, counts in sorted(result.by_member_purpose.items()):
            t.add_row(
                escape(member),
                *(str(counts.get(p, 0)) for p in purposes),
                str(sum(counts.values())),
            )
        out.print(t)
    _write_json(json_out, result.to_json())
    _save(saved, result)
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``export``, ``audit`` and ``audit-inquiries`` to ``app`` (once)."""
    names = {c.name for c in app.registered_commands}
    if {"export", "audit", "audit-inquiries"} & names:
        return
    app.command("export")(export)
    app.command("audit")(audit_command)
    app.command("audit-inquiries")(audit_inquiries_command)
