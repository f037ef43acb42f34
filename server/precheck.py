"""The checks of a submission that need no ledger state: its canonical decoding, the event
kind the call accepts, the submitter, the subject opening and the signature.

``check_kind`` serves every submission call. ``passes`` runs the whole set over a bulk upload's
rows in a worker process (``CheckPool``), so that decoding and verifying thousands of
envelopes does not hold the server's one interpreter: the server then only accepts rows that
passed and sends every row that did not through its own checks again, which raise the
precise error. This module imports no gRPC: spawned workers start quickly.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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


class CheckPool:
    """``processes`` spawned workers running ``passes`` over slices of a message's rows.
    Started on first use; a pool that breaks (a worker killed) is replaced, and the caller
    checks that message itself."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def passes(
        self, origin: str, member_id: str, kinds: frozenset[str], rows: Sequence[Row]
    ) -> list[bool] | None:
        """Each row's verdict, or None if the pool failed (the caller checks the rows)."""
        step = -(-len(rows) // self.processes)
        try:
            pool = self._executor()
            parts = [
                pool.submit(passes, origin, member_id, kinds, rows[i : i + step])
                for i in range(0, len(rows), step)
            ]
            return [ok for part in parts for ok in part.result()]
        except BrokenProcessPool:
            log.error("submission check workers failed; checking in the server process")
            self.close()
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
