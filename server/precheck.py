"""The checks of a submission that need no ledger state: its canonical decoding, the event
kind the call accepts, the submitter, the subject opening and the signature.

``check_kind`` serves every submission call. ``passes`` runs the whole set over a bulk upload's
rows in worker processes (``CheckPool``; ``python -m arrears.server.precheck``), so that
decoding and verifying thousands of envelopes does not hold the server's one interpreter: the
server then accepts the rows that passed as they are and sends every row that did not through
its own checks again, which raise the precise error. This module imports no gRPC: workers
start quickly.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from subprocess import PIPE
from typing import IO

from arrears.ledger.envelope import Envelope, verify_envelope
from arrears.ledger.errors import ArrearsError, InputError
from arrears.ledger.ledger import Opening, check_opening
from arrears.ledger.records import NotPermitted, decode_submission
from arrears.v1 import events_pb2 as pb

log = logging.getLogger("arrears.server")

# key_id, payload, signature, opening pseudonym and salt (None without one), public key
Row = tuple[bytes, bytes, bytes, bytes | None, bytes | None, bytes]


def check_kind(member_id: str, env: Envelope, kinds: Iterable[str]) -> pb.Submission:
    """The envelope's shape and canonical payload, an event ``kinds`` allows, submitted by
    the authenticated member."""
    env.check_shape()
    sub = decode_submission(env.payload)
    kind = sub.WhichOneof("event")
    if kind not in kinds:
        raise InputError(f"submission.event: {kind} is not accepted by this call")
    if sub.member_id != member_id:
        raise NotPermitted(
            "member_mismatch",
            f"submission.member_id: {sub.member_id!r} is not the authenticated member "
            f"{member_id!r}",
        )
    return sub


def passes(origin: str, member_id: str, kinds: frozenset[str], rows: Sequence[Row]) -> list[bool]:
    """For each row: does it pass every check that needs no ledger state?"""
    out = []
    for key_id, payload, signature, pseudonym, salt, public_key in rows:
        env = Envelope(key_id, payload, signature)
        opening = None if pseudonym is None or salt is None else Opening(pseudonym, salt)
        try:
            sub = check_kind(member_id, env, kinds)
            check_opening(sub, opening)
            verify_envelope(origin, env, public_key)
        except ArrearsError:
            out.append(False)
        else:
            out.append(True)
    return out


class _Worker:
    """One ``python -m arrears.server.precheck`` process, spoken to over its stdin and stdout
    in length-prefixed pickles. A plain subprocess rather than ``multiprocessing``: it
    imports only this module, never the program that started the server."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arrears.server.precheck"], stdin=PIPE, stdout=PIPE
        )

    def send(self, task: object) -> None:
        assert self.proc.stdin is not None
        _write(self.proc.stdin, task)

    def receive(self) -> list[bool]:
        assert self.proc.stdout is not None
        got = _read(self.proc.stdout)
        if not isinstance(got, list):
            raise RuntimeError("submission check worker: no answer (it exited)")
        return got

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # the worker's loop ends at EOF
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _write(out: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "big") + data)
    out.flush()


def _read(src: IO[bytes]) -> object:
    header = src.read(8)
    if len(header) < 8:
        return None
    return pickle.loads(src.read(int.from_bytes(header, "big")))


class CheckPool:
    """``processes`` worker processes running ``passes`` over slices of a message's rows,
    started on first use; one message at a time. If a worker fails, the pool is shut down for
    good and the server checks every message itself: a slower server, never a refused
    upload."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.failed = False

    def passes(
        self, origin: str, member_id: str, kinds: frozenset[str], rows: Sequence[Row]
    ) -> list[bool] | None:
        """Each row's verdict, or None without workers (the caller checks the rows)."""
        if self.failed or not rows:
            return None
        step = -(-len(rows) // self.processes)
        parts = [rows[i : i + step] for i in range(0, len(rows), step)]
        with self._lock:
            try:
                while len(self._workers) < self.processes:
                    self._workers.append(_Worker())
                for w, part in zip(self._workers, parts, strict=False):
                    w.send((origin, member_id, kinds, part))
                verdicts = [w.receive() for w, _ in zip(self._workers, parts, strict=False)]
            except Exception:
                log.exception("submission check workers failed; the server checks uploads itself")
                self.failed = True
                self._close()
                return None
        return [ok for part in verdicts for ok in part]

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        for w in self._workers:
            w.close()
        self._workers = []


def _serve() -> None:
    """A worker's loop: a task in, its verdicts out, until stdin closes."""
    while (task := _read(sys.stdin.buffer)) is not None:
        _write(sys.stdout.buffer, passes(*task))  # type: ignore[misc]


if __name__ == "__main__":
    _serve()
