"""The SDK lenders embed: ``AsyncClient`` (asyncio) and ``Client`` (blocking, same methods).

Every identifier is validated and blinded here and never sent; every answer is verified
before it is returned (checkpoint signature, consistency with the last trusted checkpoint,
inclusion of every entry, the subject commitment opening with our own pseudonym); every
refusal arrives as a typed ``RpcError``, every failed check as a ``VerificationError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import grpc
from google.protobuf.message import Message

from arrears.client.errors import (
    DeadlineExceeded,
    ResourceExhausted,
    RpcError,
    from_code,
    from_grpc,
)
from arrears.client.trust import ProofNeeded, Trust, state_errors, write_atomically
from arrears.client.verify import (
    CheckResult,
    Receipt,
    SubjectReport,
    verify_alert,
    verify_check,
    verify_receipt,
    verify_subject_report,
)
from arrears.ledger import events as ev
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.coalesce import Coalescer
from arrears.ledger.envelope import Envelope, MemberSigner
from arrears.ledger.errors import (
    InconsistentCheckpointError,
    InputError,
    OprfError,
    VerificationError,
)
from arrears.ledger.identifiers import SubjectId, SubjectKind, parse_subject
from arrears.ledger.merkle import InclusionVerifier
from arrears.ledger.note import Ed25519Verifier
from arrears.ledger.oprf import Mode, finalize_batch
from arrears.ledger.oprf import blind as oprf_blind
from arrears.ledger.pseudonym import Pseudonym, derive_pseudonym, new_salt, subject_commitment
from arrears.ledger.records import DEFAULT_RULES, RecordRef, Rules
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb
from arrears.v1 import service_pb2_grpc as sgrpc

T = TypeVar("T")
Subject = SubjectId | str
# Items the SDK sends in one Evaluate, CheckBatch or CheckMany: the server's limits.max_batch.
PER_CALL = 1000


@dataclass(frozen=True)
class Identity:
    """A member's credentials: its TLS client certificate and, to submit, its signing key."""

    member_id: str
    tls_cert: bytes
    tls_key: bytes
    ca_cert: bytes
    signer: MemberSigner | None = None

    @classmethod
    def from_files(
        cls, member_id: str, cert: Path, key: Path, ca: Path, signing_key: Path | None = None
    ) -> Identity:
        from arrears.server.pki import load_ed25519

        signer = MemberSigner(load_ed25519(signing_key)) if signing_key else None
        return cls(member_id, cert.read_bytes(), key.read_bytes(), ca.read_bytes(), signer)

    @classmethod
    def from_dev_pki(cls, root: Path, member_id: str) -> Identity:
        """The identity ``arrears dev-pki`` made for ``member_id`` under ``root``."""
        d = root / "members" / member_id
        if not d.is_dir():
            raise InputError(f"member_id: no credentials for {member_id!r} under {root}")
        return cls.from_files(
            member_id, d / "tls.pem", d / "tls-key.pem", root / "ca.pem", d / "signing-key.pem"
        )


@dataclass(frozen=True)
class Alert:
    """Another member reported, updated or settled a record about a watched borrower."""

    cursor: int
    pseudonym: bytes
    relationship_reference: str
    record: RecordRef
    event: str
    index: int
    checkpoint: Checkpoint


@dataclass(frozen=True)
class StreamResult:
    client_ref: str
    receipt: Receipt | None
    error: RpcError | None


def _subject(s: Subject, kind: str | SubjectKind) -> SubjectId:
    return s if isinstance(s, SubjectId) else parse_subject(kind, s)


def _blind_all(inputs: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Blind scalars and blinded elements of OPRF inputs, in order."""
    pairs = [oprf_blind(i, Mode.VOPRF) for i in inputs]
    return [r for r, _ in pairs], [e for _, e in pairs]


class _Check(NamedTuple):
    """One check() waiting for its round trip."""

    pseudonym: bytes
    purpose: int
    consent_reference: str
    as_of: date | None

    def request(self, **extra: Any) -> spb.CheckRequest:
        return spb.CheckRequest(
            pseudonym=self.pseudonym,
            purpose=self.purpose,  # type: ignore[arg-type]
            consent_reference=self.consent_reference,
            **extra,
        )


def _load_oprf_pin(path: Path) -> tuple[bytes, int]:
    with state_errors("oprf_state_file", path, "an OPRF pin file"):
        data = json.loads(path.read_text())
        key, epoch = bytes.fromhex(data["public_key"]), int(data["epoch"])
    return key, epoch


def _save_oprf_pin(path: Path, key: bytes, epoch: int) -> None:
    """Write the pin atomically (a crash leaves no file or the whole one)."""
    write_atomically(path, json.dumps({"public_key": key.hex(), "epoch": epoch}))


class AsyncClient:
    """An arrears client on asyncio. Use ``async with AsyncClient(...) as c``."""

    def __init__(
        self,
        target: str,
        identity: Identity,
        trust: Trust,
        *,
        rules: Rules = DEFAULT_RULES,
        timeout: float = 30.0,
        server_name: str | None = "localhost",
        oprf_public_key: bytes | None = None,
        oprf_epoch: int | None = None,
        oprf_state_file: Path | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.identity = identity
        self.trust = trust
        self.rules = rules
        self.timeout = timeout
        self.origin = trust.origin
        creds = grpc.ssl_channel_credentials(identity.ca_cert, identity.tls_key, identity.tls_cert)
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        self.channel = grpc.aio.secure_channel(target, creds, options=options)
        self._submissions = sgrpc.SubmissionsStub(self.channel)  # type: ignore[no-untyped-call]
        self._membership = sgrpc.MembershipStub(self.channel)  # type: ignore[no-untyped-call]
        self._pseudonyms = sgrpc.PseudonymsStub(self.channel)  # type: ignore[no-untyped-call]
        self._lookup = sgrpc.LookupStub(self.channel)  # type: ignore[no-untyped-call]
        self._watch = sgrpc.WatchStub(self.channel)  # type: ignore[no-untyped-call]
        self._log = sgrpc.LogStub(self.channel)  # type: ignore[no-untyped-call]
        self._oprf_key = oprf_public_key
        self._oprf_pinned_epoch = oprf_epoch
        self._oprf_epoch: int | None = None  # fetched once (0 is an epoch like any other)
        # The key and epoch first seen, kept on disk and pinned from then on (when not given).
        self._oprf_state_file = oprf_state_file
        if oprf_state_file is not None and oprf_state_file.exists():
            kept_key, kept_epoch = _load_oprf_pin(oprf_state_file)
            if oprf_public_key is not None and oprf_public_key != kept_key:
                raise InputError(f"oprf_public_key: not the key pinned in {oprf_state_file}")
            self._oprf_key = kept_key
            if oprf_epoch is None:
                self._oprf_pinned_epoch = kept_epoch
        # Today, for the server's answers to be held to: unix microseconds, as the server's.
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._inquiry_trust: Trust | None = None
        self._reports = asyncio.Lock()
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        # Concurrent check() calls share round trips: one Evaluate for the pseudonyms not yet
        # known, one CheckMany for the lookups (a lone call goes at once).
        self._evaluations: Coalescer[bytes, bytes] = Coalescer(self._evaluate, limit=PER_CALL)
        self._checks: Coalescer[_Check, CheckResult] = Coalescer(self._check_many, limit=PER_CALL)
        self._one_by_one = False  # the server has no CheckMany
        self.member = (
            ev.Member(identity.member_id, identity.signer, self.origin) if identity.signer else None
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close(None)

    async def _call(self, method: Callable[..., Awaitable[T]], request: Message) -> T:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise from_grpc(e) from None

    # --- pseudonyms ----------------------------------------------------------------------

    async def oprf_key(self) -> tuple[int, bytes]:
        """The server's OPRF key (epoch, public key). Each is pinned on first use unless given
        to the client (``oprf_public_key``, ``oprf_epoch``): pin both, as the consortium
        publishes them, or a server could move this client to pseudonyms no record is about."""
        if self._oprf_epoch is None:
            key: spb.OprfKey = await self._call(self._pseudonyms.GetKey, spb.OprfKeyRequest())
            if len(key.public_key) != 32:
                raise OprfError(f"oprf: the server's key is {len(key.public_key)} bytes, not 32")
            if self._oprf_key is not None and key.public_key != self._oprf_key:
                raise VerificationError("oprf: the server's key is not the pinned one")
            pinned = self._oprf_pinned_epoch
            if pinned is not None and key.epoch != pinned:
                raise VerificationError(
                    f"oprf: the server's key is for epoch {key.epoch}, not the pinned {pinned}"
                )
            self._oprf_key, self._oprf_epoch = key.public_key, key.epoch
            state = self._oprf_state_file
            if state is not None and not state.exists():
                _save_oprf_pin(state, key.public_key, key.epoch)
        assert self._oprf_key is not None and self._oprf_epoch is not None
        return self._oprf_epoch, self._oprf_key

    async def pseudonyms(
        self, subjects: Sequence[Subject], *, kind: str | SubjectKind = SubjectKind.RESIDENT_ID
    ) -> list[bytes]:
        """Pseudonyms of subjects, by verifiable oblivious evaluation (the server never sees
        an identifier; its proof shows it used its published key)."""
        ids = [_subject(s, kind) for s in subjects]
        inputs = [s.oprf_input() for s in ids]
        missing = list(dict.fromkeys(i for i in inputs if i not in self._cache))
        if len(missing) == 1:  # most often one applicant: evaluated with the others asked now
            found = [await self._evaluations.ask(missing[0])]
        else:
            found = await self._evaluate_paced(missing)
        for i, p in zip(missing, found, strict=True):
            self._cache[i] = p
            if len(self._cache) > 100_000:
                self._cache.popitem(last=False)
        return [self._cache[i] for i in inputs]

    async def _evaluate_paced(self, inputs: list[bytes]) -> list[bytes]:
        """Many pseudonyms (a bulk upload's), up to 1,000 a call, within the server's rate
        limit: a refusal for the rate is waited out as the server says (at most 30 s at a
        time); a call larger than the limit ever allows at once is split in two."""
        found: list[bytes] = []
        size = PER_CALL
        while len(found) < len(inputs):
            chunk = inputs[len(found) : len(found) + size]
            try:
                found += await self._evaluate(chunk)
            except ResourceExhausted as e:
                if e.rule == "over_burst":
                    if len(chunk) == 1:
                        raise
                    size = len(chunk) // 2
                else:
                    await asyncio.sleep(min(30.0, e.retry_after or 1.0))
        return found

    async def _evaluate(self, inputs: list[bytes]) -> list[bytes]:
        """The pseudonyms of up to 1,000 OPRF inputs: one Evaluate call, its proof checked."""
        epoch, public_key = await self.oprf_key()
        # The group operations (a few scalar multiplications per subject) run in a worker
        # thread: libsodium releases the GIL, and the event loop goes on meanwhile.
        blinds, blinded = await asyncio.to_thread(_blind_all, inputs)
        answer: spb.EvaluateResponse = await self._call(
            self._pseudonyms.Evaluate, spb.EvaluateRequest(blinded_elements=blinded)
        )
        if answer.epoch != epoch:
            raise VerificationError(f"oprf: answer from epoch {answer.epoch}, not {epoch}")
        try:
            outputs = await asyncio.to_thread(
                finalize_batch,
                public_key,
                inputs,
                blinds,
                blinded,
                list(answer.evaluated_elements),
                answer.proof,
            )
        except InputError as e:  # elements or proof of the wrong size or number
            raise OprfError(f"oprf: the server's answer is malformed: {e}") from e
        return [derive_pseudonym(out, epoch).to_bytes() for out in outputs]

    async def pseudonym(
        self, subject: Subject, *, kind: str | SubjectKind = SubjectKind.RESIDENT_ID
    ) -> bytes:
        return (await self.pseudonyms([subject], kind=kind))[0]

    # --- checkpoints ---------------------------------------------------------------------

    async def consistency_proof(
        self, size1: int, size2: int, *, log: spb.LogName = spb.LOG_NAME_LEDGER
    ) -> list[bytes]:
        """A consistency proof as the server sends it, not checked here: ``accept`` checks the
        ones it asks for; check others with ``arrears.ledger.merkle.verify_consistency``."""
        p: spb.ConsistencyProof = await self._call(
            self._log.GetConsistencyProof,
            spb.ConsistencyProofRequest(from_size=size1, to_size=size2, log=log),
        )
        return list(p.hashes)

    @property
    def witnessed(self) -> bool:
        """With a witness policy, lookups are answered at the latest cosigned checkpoint."""
        return self.trust.witness_policy is not None

    async def accept(
        self,
        note: bytes,
        proof_from: int = -1,
        proof: Sequence[bytes] = (),
        *,
        witnessed: bool = False,
        latest: bool = False,
        log: spb.LogName = spb.LOG_NAME_LEDGER,
    ) -> Checkpoint:
        """Verify a checkpoint and make it the trusted one (fetching a consistency proof when
        the one given does not start where it must). Answers may carry a checkpoint older than
        the trusted one (concurrent calls finish out of order) if it is a prefix of it; only
        a checkpoint the log claims is its ``latest`` must not be older. ``log``: the ledger,
        or the inquiry log (``inquiry_trust``)."""
        # Other answers (or processes sharing the state file) may move the trusted checkpoint
        # between fetching a proof and using it; it only ever grows, so a few more tries do.
        trust = self.inquiry_trust if log == spb.LOG_NAME_INQUIRIES else self.trust
        proof_to = -1
        for _ in range(12):
            try:
                cp = trust.accept(
                    note,
                    proof_from=proof_from,
                    proof=proof,
                    proof_to=proof_to,
                    witnessed=witnessed,
                    allow_older=not latest,
                )
                return cp
            except ProofNeeded as need:
                proof_from, proof_to = need.from_size, need.to_size
                proof = await self.consistency_proof(need.from_size, need.to_size, log=log)
        raise VerificationError("checkpoint: the trusted checkpoint keeps moving")

    async def checkpoint(self) -> Checkpoint:
        """The log's latest checkpoint (with a witness policy: the latest one cosigned as the
        policy wants), verified and consistent with the last one trusted."""
        return (await self.signed_checkpoint())[0]

    async def signed_checkpoint(self) -> tuple[Checkpoint, bytes]:
        """``checkpoint()`` and its signed note exactly as the server sent it, with every
        cosignature it carries (the trusted copy kept on disk is the first note of its size)."""
        got: spb.SignedCheckpoint = await self._call(
            self._log.GetCheckpoint, spb.GetCheckpointRequest(cosigned=self.witnessed)
        )
        cp = await self.accept(got.note, witnessed=self.witnessed, latest=True)
        return cp, got.note

    # --- lookups -------------------------------------------------------------------------

    async def check(
        self,
        subject: Subject,
        *,
        purpose: int = pb.PURPOSE_LOAN_ORIGINATION,
        consent_reference: str,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
        as_of: date | None = None,
    ) -> CheckResult:
        """Look an applicant up: every record served today, verified, with its summary.
        Lookups made at the same time (from other tasks or threads) travel together in one
        round trip; each is still its own inquiry, with its own purpose and consent."""
        (result,) = await self.check_batch(
            [subject], purpose=purpose, consent_reference=consent_reference, kind=kind, as_of=as_of
        )
        return result

    def _floor(self) -> int:
        """The oldest tree a lookup may be answered at: the one trusted when it was asked, or
        with a witness policy the largest cosigned one accepted. An older answer could leave
        out what the log already held."""
        return self.trust.cosigned_size if self.witnessed else self.trust.size

    async def _answered_at(
        self,
        note: bytes,
        known: int,
        floor: int,
        proof: Sequence[bytes],
        *,
        witnessed: bool | None = None,
    ) -> Checkpoint:
        """An answer's checkpoint, accepted, and no older than ``floor``."""
        witnessed = self.witnessed if witnessed is None else witnessed
        cp = await self.accept(note, known, proof, witnessed=witnessed)
        if cp.size < floor:
            raise InconsistentCheckpointError(
                f"checkpoint: the answer is at tree size {cp.size}, older than the size {floor} "
                "this client already trusted when it asked (rolled back?)"
            )
        return cp

    def _today(self) -> date:
        return self.rules.day(self._clock())

    async def _check_many(self, checks: list[_Check]) -> list[CheckResult | BaseException]:
        """One CheckMany call: each answer verified against the one checkpoint, each refusal
        or failed verification its own lookup's error. A server from before CheckMany gets
        one Check call per lookup instead."""
        if self._one_by_one:
            return await asyncio.gather(*map(self._check_one, checks), return_exceptions=True)
        known, floor = self.trust.size, self._floor()
        try:
            answer: spb.CheckManyResponse = await self._call(
                self._lookup.CheckMany,
                spb.CheckManyRequest(
                    checks=[c.request() for c in checks],
                    known_tree_size=known,
                    cosigned=self.witnessed,
                ),
            )
        except RpcError as e:
            if e.code != grpc.StatusCode.UNIMPLEMENTED:
                raise
            self._one_by_one = True
            return await self._check_many(checks)
        if len(answer.results) != len(checks):
            raise VerificationError(f"check: {len(answer.results)} answers for {len(checks)}")
        out: list[CheckResult | BaseException] = []
        cp: Checkpoint | None = None
        today = self._today()
        for i, (c, r) in enumerate(zip(checks, answer.results, strict=True)):
            if r.error_code:  # said of this caller's own lookup, not of its place in the call
                message = r.error_message.removeprefix(f"checks[{i}].")
                out.append(from_code(r.error_code, message, r.error_rule))
                continue
            if cp is None:
                cp = await self._answered_at(
                    answer.checkpoint, known, floor, answer.consistency_proof
                )
            try:
                out.append(
                    verify_check(
                        r.answer, c.pseudonym, cp, rules=self.rules, as_of=c.as_of, today=today
                    )
                )
            except VerificationError as e:
                out.append(e)
        return out

    async def _check_one(self, c: _Check) -> CheckResult:
        known, floor = self.trust.size, self._floor()
        one: spb.CheckResponse = await self._call(
            self._lookup.Check, c.request(known_tree_size=known, cosigned=self.witnessed)
        )
        cp = await self._answered_at(one.checkpoint, known, floor, one.consistency_proof)
        return verify_check(
            one, c.pseudonym, cp, rules=self.rules, as_of=c.as_of, today=self._today()
        )

    async def check_batch(
        self,
        subjects: Sequence[Subject],
        *,
        purpose: int = pb.PURPOSE_LOAN_ORIGINATION,
        consent_reference: str,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
        as_of: date | None = None,
    ) -> list[CheckResult]:
        """Pre-screen many subjects, one CheckBatch call each 1,000; results in order. A single
        subject travels with the other lookups made at the same time (one CheckMany)."""
        pseudonyms = await self.pseudonyms(subjects, kind=kind)
        if len(pseudonyms) == 1:
            return [
                await self._checks.ask(_Check(pseudonyms[0], purpose, consent_reference, as_of))
            ]
        out: list[CheckResult] = []
        for start in range(0, len(pseudonyms), PER_CALL):
            chunk = pseudonyms[start : start + PER_CALL]
            known, floor = self.trust.size, self._floor()
            batch: spb.CheckBatchResponse = await self._call(
                self._lookup.CheckBatch,
                spb.CheckBatchRequest(
                    pseudonyms=chunk,
                    purpose=purpose,  # type: ignore[arg-type]
                    consent_reference=consent_reference,
                    known_tree_size=known,
                    cosigned=self.witnessed,
                ),
            )
            cp = await self._answered_at(batch.checkpoint, known, floor, batch.consistency_proof)
            if len(batch.results) != len(chunk):
                raise VerificationError(
                    f"check: {len(batch.results)} answers for {len(chunk)} subjects"
                )
            today = self._today()
            out += [
                verify_check(a, p, cp, rules=self.rules, as_of=as_of, today=today)
                for a, p in zip(batch.results, chunk, strict=True)
            ]
        return out

    async def subject_report(
        self,
        subject: Subject,
        *,
        request_reference: str,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
    ) -> SubjectReport:
        """The borrower's own report (operator, on the borrower's request with the ID)."""
        p = await self.pseudonym(subject, kind=kind)
        # One at a time: each answer's inquiry checkpoint must extend the last one trusted.
        async with self._reports:
            inquiry_trust = self.inquiry_trust
            known, known_inquiries = self.trust.size, inquiry_trust.size
            answer: spb.SubjectReportResponse = await self._call(
                self._lookup.SubjectReport,
                spb.SubjectReportRequest(
                    pseudonym=p,
                    request_reference=request_reference,
                    known_inquiry_tree_size=known_inquiries,
                ),
            )
            # The answer carries no ledger consistency proof: -1 has one fetched if needed.
            cp = await self._answered_at(answer.checkpoint, -1, known, (), witnessed=False)
            # The inquiry log only grows, like the ledger: a smaller or forked inquiry
            # checkpoint could hide lookups of the borrower.
            inquiry_cp = await self.accept(
                answer.inquiry_checkpoint,
                known_inquiries,
                answer.inquiry_consistency_proof,
                latest=True,
                log=spb.LOG_NAME_INQUIRIES,
            )
        return verify_subject_report(answer, p, cp, inquiry_cp, rules=self.rules)

    @property
    def inquiry_trust(self) -> Trust:
        """The inquiry log's trusted checkpoint (subject reports prove their lookups in it),
        kept beside the ledger's: in ``<state>-inquiries.json`` when the ledger's trust has a
        state file, else for this client's lifetime. When the ledger's trust requires its
        state file, this one is required too (made by a first report without requiring it)."""
        if self._inquiry_trust is None:
            v = self.trust.verifier
            state = self.trust.state_file
            if state is not None:
                state = state.with_name(f"{state.stem}-inquiries{state.suffix}")
            self._inquiry_trust = Trust(
                Ed25519Verifier(f"{v.name}/inquiries", v.public_key).verifier_key,
                state_file=state,
                require_state=self.trust.require_state,
            )
        return self._inquiry_trust

    # --- submissions ---------------------------------------------------------------------

    def _signer(self) -> ev.Member:
        if self.member is None:
            raise InputError("identity: no signing key, so this client cannot submit")
        return self.member

    async def _receipt(self, r: spb.Receipt, envelope: Envelope) -> Receipt:
        cp = await self.accept(r.checkpoint)
        return verify_receipt(r, cp, envelope)

    async def submit_envelope(
        self, envelope: Envelope, opening: pb.SubjectOpening | None = None, *, admin: str = ""
    ) -> Receipt:
        req = spb.SubmitRequest(
            envelope=pb.SignedEnvelope(
                key_id=envelope.key_id, payload=envelope.payload, signature=envelope.signature
            )
        )
        if opening is not None:
            req.opening.CopyFrom(opening)
        method = getattr(self._membership, admin) if admin else self._submissions.Submit
        r: spb.Receipt = await self._call(method, req)
        return await self._receipt(r, envelope)

    async def submit(self, event: Message, *, submission_id: str | None = None) -> Receipt:
        """Sign and submit one record event (update, settlement, dispute...)."""
        return await self.submit_envelope(self._signer().sign(event, submission_id=submission_id))

    async def prepare_report(
        self,
        subject: Subject,
        record_id: str,
        *,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
        pseudonym: bytes | None = None,
        submission_id: str | None = None,
        **fields: Any,
    ) -> tuple[Envelope, pb.SubjectOpening]:
        """A signed report and its subject opening, ready to submit or stream."""
        p = pseudonym or await self.pseudonym(subject, kind=kind)
        salt = new_salt()
        commitment = subject_commitment(salt, Pseudonym.from_bytes(p))
        if "subject_kind" not in fields:
            sid = _subject(subject, kind)
            fields["subject_kind"] = (
                pb.SUBJECT_KIND_ENTERPRISE
                if sid.kind is SubjectKind.CREDIT_CODE
                else pb.SUBJECT_KIND_PERSON
            )
        event = ev.record_reported(record_id, commitment, **fields)
        env = self._signer().sign(event, submission_id=submission_id)
        return env, pb.SubjectOpening(pseudonym=p, salt=salt)

    async def report(
        self,
        subject: Subject,
        record_id: str,
        *,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
        submission_id: str | None = None,
        **fields: Any,
    ) -> Receipt:
        """Report a default about a subject (the ID is blinded; only a commitment is signed).
        ``fields`` are those of ``arrears.ledger.events.record_reported``."""
        env, opening = await self.prepare_report(
            subject, record_id, kind=kind, submission_id=submission_id, **fields
        )
        return await self.submit_envelope(env, opening)

    def ref(self, record_id: str) -> RecordRef:
        return RecordRef(self.identity.member_id, record_id)

    async def update(self, record_id: str, **fields: Any) -> Receipt:
        return await self.submit(ev.record_updated(self.ref(record_id), **fields))

    async def settle(self, record_id: str, settled_on: date, **fields: Any) -> Receipt:
        return await self.submit(ev.record_settled(self.ref(record_id), settled_on, **fields))

    async def withdraw(self, record_id: str, reason: str) -> Receipt:
        return await self.submit(ev.record_withdrawn(self.ref(record_id), reason))

    async def open_dispute(
        self, record: RecordRef, dispute_id: str, opened_on: date, reason: str
    ) -> Receipt:
        return await self.submit(ev.dispute_opened(record, dispute_id, opened_on, reason))

    async def resolve_dispute(
        self,
        record: RecordRef,
        dispute_id: str,
        outcome: pb.DisputeOutcome,
        resolved_on: date,
        explanation: str = "",
        correction: pb.RecordUpdated | None = None,
    ) -> Receipt:
        return await self.submit(
            ev.dispute_resolved(record, dispute_id, outcome, resolved_on, explanation, correction)
        )

    async def submit_stream(
        self,
        requests: Iterable[tuple[str, Envelope, pb.SubjectOpening | None]],
        *,
        batch: int = 500,
    ) -> AsyncIterator[StreamResult]:
        """Bulk upload: stream signed submissions in messages of ``batch``; yields one verified
        result per request, in order (a refused request does not stop the stream)."""
        if not 1 <= batch <= PER_CALL:
            raise InputError(f"batch: {batch} requests a message; from 1 to {PER_CALL}")
        queue = list(requests)

        async def batches() -> AsyncIterator[spb.SubmitBatch]:
            for start in range(0, len(queue), batch):
                msg = spb.SubmitBatch(omit_tlog_proof=True)  # made from each verified receipt
                for ref, env, opening in queue[start : start + batch]:
                    r = msg.requests.add(client_ref=ref)
                    r.envelope.key_id, r.envelope.payload = env.key_id, env.payload
                    r.envelope.signature = env.signature
                    if opening is not None:
                        r.opening.CopyFrom(opening)
                yield msg

        due = iter(queue)  # the server answers every request once, in order
        answered = 0
        call = self._submissions.SubmitStream(batches())
        answers = aiter(call)
        try:
            while True:
                # No deadline for the whole stream (a month's upload takes what it takes), but
                # each message's results must come within the client's timeout.
                try:
                    results = await asyncio.wait_for(anext(answers), self.timeout)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise DeadlineExceeded(
                        f"stream: no result from the server for {self.timeout:g} s"
                    ) from None
                # A message's receipts share their checkpoint: it is accepted once, and their
                # proofs are verified with shared work (neighbouring leaves, shared paths).
                run: dict[bytes, tuple[Checkpoint, InclusionVerifier]] = {}
                for res in results.results:
                    ref, env, _ = next(due, (None, None, None))
                    if env is None:
                        raise VerificationError(
                            f"stream: a result for {res.client_ref!r} after every request "
                            "was answered"
                        )
                    if res.client_ref != ref:
                        raise VerificationError(
                            f"stream: the result for request {answered} names "
                            f"{res.client_ref!r}, not {ref!r}"
                        )
                    answered += 1
                    if res.HasField("receipt"):
                        r = res.receipt
                        got = run.get(r.checkpoint)
                        if got is None:
                            cp = await self.accept(r.checkpoint)
                            got = run[r.checkpoint] = (cp, InclusionVerifier(cp.size, cp.root))
                        receipt = verify_receipt(r, got[0], env, shared=got[1])
                        yield StreamResult(res.client_ref, receipt, None)
                    else:
                        err = from_code(res.error_code, res.error_message, res.error_rule)
                        yield StreamResult(res.client_ref, None, err)
        except grpc.RpcError as e:
            raise from_grpc(e) from None
        finally:
            call.cancel()  # a caller that stops early (or an error) ends the call there
        if answered < len(queue):
            raise VerificationError(
                f"stream: ended after {answered} of {len(queue)} results; "
                f"no result for {queue[answered][0]!r} and later requests"
            )

    # --- membership (operator) -----------------------------------------------------------

    async def admin(self, event: Message) -> Receipt:
        """Submit a membership event (admit, suspend, reinstate, add/revoke key)."""
        rpc = {
            "arrears.v1.MemberAdmitted": "AdmitMember",
            "arrears.v1.MemberSuspended": "SuspendMember",
            "arrears.v1.MemberReinstated": "ReinstateMember",
            "arrears.v1.KeyAdded": "AddKey",
            "arrears.v1.KeyRevoked": "RevokeKey",
        }.get(event.DESCRIPTOR.full_name)
        if rpc is None:
            raise InputError(f"event: {event.DESCRIPTOR.full_name} is not a membership event")
        return await self.submit_envelope(self._signer().sign(event), admin=rpc)

    async def members(self) -> spb.ListMembersResponse:
        r: spb.ListMembersResponse = await self._call(
            self._membership.ListMembers, spb.ListMembersRequest()
        )
        return r

    # --- watching ------------------------------------------------------------------------

    async def register(
        self,
        borrowers: Sequence[tuple[Subject, str]],
        *,
        kind: str | SubjectKind = SubjectKind.RESIDENT_ID,
    ) -> int:
        """Watch existing borrowers: (subject, your loan reference) pairs."""
        ps = await self.pseudonyms([s for s, _ in borrowers], kind=kind)
        req = spb.RegisterRequest(
            registrations=[
                spb.WatchRegistration(pseudonym=p, relationship_reference=ref)
                for p, (_, ref) in zip(ps, borrowers, strict=True)
            ]
        )
        r: spb.RegisterResponse = await self._call(self._watch.Register, req)
        return r.registered

    async def watch(
        self, cursor: int = 0, *, borrowers: dict[bytes, str] | None = None
    ) -> AsyncIterator[Alert]:
        """Verified alerts, resuming after ``cursor`` (0: from now).

        Each alert is bound to the entry it proves: the entry is in the trusted tree at the
        alert's cursor, it is the alert's event about the alert's record (another member's),
        and cursors only grow, beyond ``cursor``; a mismatch ends the stream with a
        ``VerificationError``. The server keeps the registrations: pass ``borrowers``
        (pseudonym: relationship reference, as registered) to have each alert's pseudonym and
        reference checked against them; without it they are the server's word."""
        last = cursor
        call = self._watch.Stream(spb.WatchRequest(cursor=cursor))
        try:
            async for a in call:
                cp = await self.accept(a.checkpoint)
                ref = verify_alert(
                    a, cp, after=last, member_id=self.identity.member_id, borrowers=borrowers
                )
                last = a.cursor
                yield Alert(
                    a.cursor,
                    a.pseudonym,
                    a.relationship_reference,
                    ref,
                    a.event,
                    a.entry.index,
                    cp,
                )
        except grpc.RpcError as e:
            raise from_grpc(e) from None
        finally:
            call.cancel()  # else the server keeps the stream, and queues alerts for no one

    # --- the log -------------------------------------------------------------------------

    async def inclusion_proof(self, index: int, tree_size: int = 0) -> spb.InclusionProof:
        """An entry's inclusion proof as the server sends it, not checked here (for passing
        on, as ``arrears proof`` does): check it with ``arrears.client.verify.verify_entry``
        (the leaf) or ``verify_inclusion`` (its ``leaf_hash``) against a trusted checkpoint of
        that size. The leaf itself comes only with an entry this member submitted (or to the
        operator and regulators); otherwise only its hash."""
        p: spb.InclusionProof = await self._call(
            self._log.GetInclusionProof, spb.InclusionProofRequest(index=index, tree_size=tree_size)
        )
        return p

    async def entries(self, start: int = 0, end: int = 0) -> AsyncIterator[tuple[int, bytes]]:
        """The raw ledger (regulators only)."""
        call = self._log.GetEntries(spb.GetEntriesRequest(start=start, end=end))
        try:
            async for msg in call:
                for e in msg.entries:
                    yield e.index, e.leaf
        except grpc.RpcError as e:
            raise from_grpc(e) from None
        finally:
            call.cancel()


class Client:
    """The blocking client: an ``AsyncClient`` on a private event loop thread."""

    def __init__(self, target: str, identity: Identity, trust: Trust, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="arrears-client"
        )
        self._thread.start()

        async def make() -> AsyncClient:
            return AsyncClient(target, identity, trust, **kwargs)

        self.aio = self._run(make())

    def _run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def _iter(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """``agen`` as a blocking iterator; a caller that stops early (``break``) closes it,
        and with it its call."""
        while True:
            try:
                item = self._run(agen.__anext__())
            except StopAsyncIteration:
                return
            try:
                yield item
            except GeneratorExit:  # the caller left: end the stream now, not at collection
                close = getattr(agen, "aclose", None)
                here = threading.current_thread() is self._thread  # never wait on itself
                if close is not None and not here and self._loop.is_running():
                    with contextlib.suppress(Exception):  # a client closing meanwhile, say
                        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
                raise

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    async def _shutdown(self) -> None:
        await self.aio.close()
        # Calls other threads still wait on (a watch, a stream) end now, with a cancellation,
        # rather than waiting forever on a stopped loop.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in others:
            t.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    @property
    def trust(self) -> Trust:
        return self.aio.trust

    def pseudonyms(self, subjects: Sequence[Subject], **kw: Any) -> list[bytes]:
        return self._run(self.aio.pseudonyms(subjects, **kw))

    def pseudonym(self, subject: Subject, **kw: Any) -> bytes:
        return self._run(self.aio.pseudonym(subject, **kw))

    def checkpoint(self) -> Checkpoint:
        return self._run(self.aio.checkpoint())

    def signed_checkpoint(self) -> tuple[Checkpoint, bytes]:
        return self._run(self.aio.signed_checkpoint())

    def subject_report(self, subject: Subject, **kw: Any) -> SubjectReport:
        return self._run(self.aio.subject_report(subject, **kw))

    def check(self, subject: Subject, **kw: Any) -> CheckResult:
        return self._run(self.aio.check(subject, **kw))

    def check_batch(self, subjects: Sequence[Subject], **kw: Any) -> list[CheckResult]:
        return self._run(self.aio.check_batch(subjects, **kw))

    def submit(self, event: Message, **kw: Any) -> Receipt:
        return self._run(self.aio.submit(event, **kw))

    def submit_envelope(
        self, envelope: Envelope, opening: pb.SubjectOpening | None = None
    ) -> Receipt:
        return self._run(self.aio.submit_envelope(envelope, opening))

    def prepare_report(
        self, subject: Subject, record_id: str, **kw: Any
    ) -> tuple[Envelope, pb.SubjectOpening]:
        return self._run(self.aio.prepare_report(subject, record_id, **kw))

    def report(self, subject: Subject, record_id: str, **kw: Any) -> Receipt:
        return self._run(self.aio.report(subject, record_id, **kw))

    def ref(self, record_id: str) -> RecordRef:
        return self.aio.ref(record_id)

    def update(self, record_id: str, **kw: Any) -> Receipt:
        return self._run(self.aio.update(record_id, **kw))

    def settle(self, record_id: str, settled_on: date, **kw: Any) -> Receipt:
        return self._run(self.aio.settle(record_id, settled_on, **kw))

    def withdraw(self, record_id: str, reason: str) -> Receipt:
        return self._run(self.aio.withdraw(record_id, reason))

    def open_dispute(
        self, record: RecordRef, dispute_id: str, opened_on: date, reason: str
    ) -> Receipt:
        return self._run(self.aio.open_dispute(record, dispute_id, opened_on, reason))

    def resolve_dispute(
        self,
        record: RecordRef,
        dispute_id: str,
        outcome: pb.DisputeOutcome,
        resolved_on: date,
        **kw: Any,
    ) -> Receipt:
        return self._run(self.aio.resolve_dispute(record, dispute_id, outcome, resolved_on, **kw))

    def submit_stream(
        self, requests: Iterable[tuple[str, Envelope, pb.SubjectOpening | None]], **kw: Any
    ) -> Iterator[StreamResult]:
        return self._iter(self.aio.submit_stream(requests, **kw))

    def admin(self, event: Message) -> Receipt:
        return self._run(self.aio.admin(event))

    def members(self) -> spb.ListMembersResponse:
        return self._run(self.aio.members())

    def register(self, borrowers: Sequence[tuple[Subject, str]], **kw: Any) -> int:
        return self._run(self.aio.register(borrowers, **kw))

    def watch(
        self, cursor: int = 0, *, borrowers: dict[bytes, str] | None = None
    ) -> Iterator[Alert]:
        return self._iter(self.aio.watch(cursor, borrowers=borrowers))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self._run(self.aio.consistency_proof(size1, size2))

    def inclusion_proof(self, index: int, tree_size: int = 0) -> spb.InclusionProof:
        return self._run(self.aio.inclusion_proof(index, tree_size))

    def entries(self, start: int = 0, end: int = 0) -> Iterator[tuple[int, bytes]]:
        return self._iter(self.aio.entries(start, end))
