"""The gRPC services (grpc.aio): authentication, roles, rate limits, and translation between
protobuf messages and the Node. Blocking work (signature checks, database reads) runs in a
thread pool so the event loop only moves messages.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from arrears.ledger.coalesce import Coalescer
from arrears.ledger.envelope import Envelope
from arrears.ledger.errors import ArrearsError, InputError
from arrears.ledger.leaf import Leaf
from arrears.ledger.ledger import RECORD_EVENTS, Opening
from arrears.ledger.log import Appended
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.records import Member, NotPermitted, Rules, decode_submission, summarise
from arrears.ledger.storage import Head
from arrears.server import metrics
from arrears.server.config import Limits
from arrears.server.errors import RateLimited, Unauthenticated, abort, code_number
from arrears.server.node import (
    PSEUDONYM_SIZE,
    REPLAY_WINDOW,
    CheckResult,
    Lookup,
    Node,
    check_pseudonym,
    check_reference,
)
from arrears.server.precheck import CheckPool, Row, check_kind
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb
from arrears.v1 import service_pb2_grpc as sgrpc

log = logging.getLogger("arrears.server")
CHECK_POOL_MIN = 64  # requests in a stream message before the check workers are worth it
T = TypeVar("T")
if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]
Single = tuple[Lookup, int, bool]  # a single lookup: the lookup, the caller's known size, cosigned


class RateLimiter:
    """Token buckets per member: ``rate`` per second, up to ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, member_id: str, n: int, what: str) -> None:
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(member_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if n > self.burst:
                raise RateLimited(
                    f"{what}: {n} at once is more than the limit of {self.burst:g}",
                    1.0,
                    "over_burst",
                )
            if tokens < n:
                self._buckets[member_id] = (tokens, now)
                raise RateLimited(
                    f"{what}: rate limit of {self.rate:g}/s for {member_id} reached",
                    (n - tokens) / self.rate,
                )
            self._buckets[member_id] = (tokens - n, now)

    def give_back(self, member_id: str, n: int) -> None:
        """Return ``n`` tokens taken for a call that was then refused."""
        with self._lock:
            tokens, last = self._buckets.get(member_id, (self.burst, self.clock()))
            self._buckets[member_id] = (min(self.burst, tokens + n), last)

    @contextmanager
    def charged(self, member_id: str, n: int, what: str) -> Iterator[None]:
        """Take ``n`` tokens for the block; a refusal (an ``ArrearsError``) gives them back."""
        self.take(member_id, n, what)
        try:
            yield
        except ArrearsError:
            self.give_back(member_id, n)
            raise


class Services:
    """Everything the servicers share."""

    def __init__(
        self, node: Node, limits: Limits, workers: int = 32, check_processes: int = 0
    ) -> None:
        self.node = node
        self.limits = limits
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="arrears-worker")
        self.checks = CheckPool(check_processes) if check_processes > 0 else None
        self.lookups = RateLimiter(limits.lookups_per_second, limits.lookup_burst)
        self.oprf = RateLimiter(limits.oprf_per_second, limits.oprf_burst)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self.checks is not None:
            self.checks.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def count(self, name: str, n: int) -> int:
        """``n``, the items of a batch request's field ``name``, once it is within bounds: at
        least one, at most ``limits.max_batch``."""
        if n == 0:
            raise InputError(f"{name}: at least one")
        if n > self.limits.max_batch:
            raise InputError(f"{name}: {n}, at most {self.limits.max_batch} per call")
        return n

    def member(self, context: Ctx, *roles: int) -> Member:
        """The authenticated member (from its client certificate), holding one of ``roles``."""
        names = list(context.auth_context().get("x509_common_name") or [])
        if not names:
            raise Unauthenticated("client certificate: none presented, or it names no member")
        member_id = names[0].decode()
        member = self.node.ledger.registry.members.get(member_id)
        if member is None:
            raise Unauthenticated(f"client certificate: {member_id!r} is not a member")
        if member.suspended:
            raise NotPermitted("suspended_member", f"client certificate: {member_id} is suspended")
        if roles and not any(member.has(r) for r in roles):
            wanted = " or ".join(pb.Role.Name(r) for r in roles)
            raise NotPermitted("role", f"{member_id} lacks the role for this call ({wanted})")
        return member


def _guard(method: Callable[..., Any]) -> Callable[..., Any]:
    """Map every error of a unary handler to its status, and count it."""
    name = method.__name__

    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        start = time.perf_counter()
        try:
            return await method(self, request, context)
        except ArrearsError as e:
            metrics.ERRORS.labels(name, type(e).__name__).inc()
            await abort(context, e)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as e:
            log.exception("internal error in %s", name)
            metrics.ERRORS.labels(name, "internal").inc()
            await abort(context, e)
        finally:
            metrics.LATENCY.labels(name).observe(time.perf_counter() - start)

    wrapper.__name__ = name
    return wrapper


def _envelope(req: spb.SubmitRequest, epoch: int) -> tuple[Envelope, Opening | None]:
    """The request's envelope and subject opening; the opening's pseudonym must be of the
    current OPRF key ``epoch``, or no lookup would ever find the record."""
    if not req.HasField("envelope"):
        raise InputError("envelope: required")
    env = Envelope(req.envelope.key_id, req.envelope.payload, req.envelope.signature)
    opening = None
    if req.HasField("opening"):
        check_pseudonym("opening.pseudonym", req.opening.pseudonym, epoch)
        opening = Opening(req.opening.pseudonym, req.opening.salt)
    return env, opening


class SubmitCore:
    """Submission shared by the Submissions and Membership services."""

    def __init__(self, s: Services) -> None:
        self.s = s

    def prepare(self, member: Member, req: spb.SubmitRequest, kinds: Iterable[str]) -> Any:
        """A submission checked (shape, kind, member, signature), ready for the ledger."""
        env, opening = _envelope(req, self.s.node.oprf_epoch)
        sub = check_kind(member.member_id, env, kinds)
        return self.s.node.ledger.prepare(env, opening, sub)

    def prepare_many(
        self, member: Member, reqs: Sequence[spb.SubmitRequest], kinds: frozenset[str]
    ) -> list[Any]:
        """``prepare`` for each request: an item for the ledger, or the error refusing it.
        Large messages are checked by the worker processes first; the rows they pass are
        taken as they are, every other row goes through ``prepare`` (for its precise error)."""
        verdicts: list[bool] | None = None
        ledger = self.s.node.ledger
        keys: list[bytes | None] = []
        if self.s.checks is not None and len(reqs) >= CHECK_POOL_MIN:
            rows: list[Row] = []
            for req in reqs:
                e, o = req.envelope, req.opening
                key = ledger.registry.keys.get(e.key_id)
                keys.append(None if key is None else key.public_key)
                rows.append(
                    (
                        e.key_id,
                        e.payload,
                        e.signature,
                        o.pseudonym if req.HasField("opening") else None,
                        o.salt if req.HasField("opening") else None,
                        b"" if key is None else key.public_key,
                    )
                )
            verdicts = self.s.checks.passes(ledger.origin, member.member_id, kinds, rows)
        out: list[Any] = []
        for i, req in enumerate(reqs):
            try:
                public_key = keys[i] if verdicts is not None and verdicts[i] else None
                if public_key is not None and req.HasField("envelope"):
                    env, opening = _envelope(req, self.s.node.oprf_epoch)
                    out.append(ledger.prepared(env, opening, public_key))
                else:
                    out.append(self.prepare(member, req, kinds))
            except ArrearsError as e:
                out.append(e)
        return out

    async def one(
        self, member: Member, req: spb.SubmitRequest, kinds: Iterable[str]
    ) -> spb.Receipt:
        item = await self.s.run(self.prepare, member, req, kinds)
        appended: Appended = await asyncio.wrap_future(self.s.node.ledger.log.submit(item))
        metrics.APPENDS.inc()
        receipt = spb.Receipt()
        await self.s.run(self.s.node.receipts, [appended], [receipt])
        return receipt


class SubmissionsServicer(sgrpc.SubmissionsServicer):
    def __init__(self, s: Services) -> None:
        self.s = s
        self.core = SubmitCore(s)

    @_guard
    async def Submit(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        member = self.s.member(context, pb.ROLE_REPORTER, pb.ROLE_OPERATOR)
        return await self.core.one(member, request, RECORD_EVENTS)

    async def SubmitStream(
        self, request_iterator: AsyncIterator[spb.SubmitBatch], context: Ctx
    ) -> AsyncIterator[spb.SubmitResults]:
        try:
            member = self.s.member(context, pb.ROLE_REPORTER, pb.ROLE_OPERATOR)
        except ArrearsError as e:
            await abort(context, e)
        queue: asyncio.Queue[asyncio.Future[spb.SubmitResults] | None] = asyncio.Queue(8)
        in_order = asyncio.Lock()  # messages reach the ledger in the order they were sent

        async def read() -> None:
            try:
                async for batch in request_iterator:
                    await queue.put(asyncio.ensure_future(self._batch(member, batch, in_order)))
            finally:
                await queue.put(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                yield await item
        finally:
            reader.cancel()

    async def _batch(
        self, member: Member, batch: spb.SubmitBatch, in_order: asyncio.Lock
    ) -> spb.SubmitResults:
        if len(batch.requests) > 1000:
            err = InputError(f"requests: {len(batch.requests)} in one message, at most 1000")
            refused = spb.SubmitResults()
            for r in batch.requests:
                _refuse(refused.results.add(client_ref=r.client_ref), err)
            return refused

        def prepare_all() -> tuple[list[Any], Future[list[Appended | BaseException]] | None]:
            out = self.core.prepare_many(member, batch.requests, RECORD_EVENTS)
            items = [p for p in out if not isinstance(p, ArrearsError)]
            # One queue item: the message's entries are committed together and consecutive.
            return out, self.s.node.ledger.log.submit_many(items) if items else None

        async with in_order:  # FIFO: queued behind every earlier message of the stream
            prepared, fut = await self.s.run(prepare_all)
        done: list[Appended | BaseException] = await asyncio.wrap_future(fut) if fut else []
        outcomes = iter(done)
        settled: list[Appended | ArrearsError] = []
        for p in prepared:
            if not isinstance(p, ArrearsError):
                p = next(outcomes)
                if isinstance(p, BaseException) and not isinstance(p, ArrearsError):
                    raise p
            settled.append(p)
        out = spb.SubmitResults()
        ok: list[Appended] = []
        slots: list[spb.Receipt] = []
        for req, a in zip(batch.requests, settled, strict=True):
            res = out.results.add(client_ref=req.client_ref)
            if isinstance(a, Appended):
                ok.append(a)
                slots.append(res.receipt)
            else:
                _refuse(res, a)
        # The receipts are written straight into the answer's results (no copies).
        await self.s.run(self.s.node.receipts, ok, slots, not batch.omit_tlog_proof)
        metrics.APPENDS.inc(len(ok))
        return out


def _refuse(r: spb.SubmitResult | spb.CheckManyResult, e: ArrearsError) -> None:
    r.error_code = code_number(e)
    r.error_message = str(e)
    r.error_rule = str(getattr(e, "rule", "") or "")


class MembershipServicer(sgrpc.MembershipServicer):
    def __init__(self, s: Services) -> None:
        self.s = s
        self.core = SubmitCore(s)

    async def _admin(self, context: Ctx, req: spb.SubmitRequest, kind: str) -> spb.Receipt:
        node = self.s.node
        if node.ledger.log.head().size == 0 and kind == "member_admitted":
            # Bootstrap: the configured operator's certificate may write the genesis entry.
            names = list(context.auth_context().get("x509_common_name") or [])
            if not names or names[0].decode() != node.operator_id:
                raise Unauthenticated("client certificate: only the operator starts the ledger")
            member = Member(node.operator_id, "", frozenset({pb.ROLE_OPERATOR}), False, 0)
        else:
            member = self.s.member(context, pb.ROLE_OPERATOR)
        return await self.core.one(member, req, [kind])

    @_guard
    async def AdmitMember(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        return await self._admin(context, request, "member_admitted")

    @_guard
    async def SuspendMember(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        return await self._admin(context, request, "member_suspended")

    @_guard
    async def ReinstateMember(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        return await self._admin(context, request, "member_reinstated")

    @_guard
    async def AddKey(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        return await self._admin(context, request, "key_added")

    @_guard
    async def RevokeKey(self, request: spb.SubmitRequest, context: Ctx) -> spb.Receipt:
        return await self._admin(context, request, "key_revoked")

    @_guard
    async def ListMembers(
        self, request: spb.ListMembersRequest, context: Ctx
    ) -> spb.ListMembersResponse:
        self.s.member(context)
        reg = self.s.node.ledger.registry
        out = spb.ListMembersResponse()
        for m in sorted(reg.members.values(), key=lambda m: m.member_id):
            info = out.members.add(
                member_id=m.member_id,
                name=m.name,
                roles=sorted(m.roles),
                suspended=m.suspended,
                admitted_at=m.admitted_at,
            )
            for k in sorted(reg.keys.values(), key=lambda k: k.added_at):
                if k.member_id == m.member_id:
                    ki = info.keys.add(
                        key_id=k.key_id, public_key=k.public_key, added_at=k.added_at
                    )
                    if k.revoked_at is not None:
                        ki.revoked_at = k.revoked_at
        return out


class PseudonymsServicer(sgrpc.PseudonymsServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @_guard
    async def GetKey(self, request: spb.OprfKeyRequest, context: Ctx) -> spb.OprfKey:
        self.s.member(context)
        node = self.s.node
        return spb.OprfKey(
            epoch=node.oprf_epoch, public_key=node.oprf.public_key, suite="ristretto255-SHA512"
        )

    @_guard
    async def Evaluate(self, request: spb.EvaluateRequest, context: Ctx) -> spb.EvaluateResponse:
        member = self.s.member(context, pb.ROLE_REPORTER, pb.ROLE_LENDER, pb.ROLE_OPERATOR)
        n = self.s.count("blinded_elements", len(request.blinded_elements))
        for i, e in enumerate(request.blinded_elements):
            if len(e) != 32:
                raise InputError(f"blinded_elements[{i}]: must be 32 bytes, got {len(e)}")
        node = self.s.node
        with self.s.oprf.charged(member.member_id, n, "blinded_elements"):
            evaluated, proof = await self.s.run(
                node.oprf.blind_evaluate_batch, list(request.blinded_elements)
            )
        metrics.OPRF.labels(member.member_id).inc(n)
        return spb.EvaluateResponse(
            epoch=node.oprf_epoch, evaluated_elements=evaluated, proof=proof or b""
        )


_NO_RECORDS = spb.Summary()


_INT64_MAX = (1 << 63) - 1


def _summary(res: CheckResult, as_of: date, rules: Rules) -> spb.Summary:
    if not res.records:
        return _NO_RECORDS  # most subjects of a pre-screen have no record
    s = summarise([r for r, _ in res.records], as_of, rules)
    return spb.Summary(
        defaults_12m=s.defaults_12m,
        defaults_24m=s.defaults_24m,
        defaults_60m=s.defaults_60m,
        active=s.active,
        settled=s.settled,
        worst_dpd_bucket=s.worst_dpd_bucket,  # type: ignore[arg-type]
        # A total beyond int64 (thousands of records at the largest amount, or amounts taken
        # before MAX_MINOR) is sent as int64's largest: the SDK sums the records itself.
        outstanding=[
            pb.Money(currency=c, minor_units=min(v, _INT64_MAX))
            for c, v in sorted(s.outstanding.items())
        ],
        open_dispute=s.open_dispute,
        overdue_dispute=s.overdue_dispute,
        reporting_members=list(s.reporting_members),
    )


class LookupServicer(sgrpc.LookupServicer):
    def __init__(self, s: Services) -> None:
        self.s = s
        self.coalescer: Coalescer[Single, spb.CheckResponse] = Coalescer(self._answer_singles)

    def _results(
        self,
        lookups: list[Lookup],
        cosigned: bool,
        add: Callable[..., spb.CheckResponse],
    ) -> tuple[list[spb.CheckResponse | BaseException], Head]:
        """Answer ``lookups``: each answer made by ``add`` (a new message or a repeated field's
        ``add``), with the records' leaves and inclusion proofs, but without the checkpoint."""
        node = self.s.node
        results, head = node.check(lookups, cosigned=cosigned)
        evidence = node.evidence(results, head.size)
        day = node.today()
        as_of = pb.Date(year=day.year, month=day.month, day=day.day)
        size = head.size
        out: list[spb.CheckResponse | BaseException] = []
        counts: dict[str, int] = {}
        for q, res in zip(lookups, results, strict=True):
            if isinstance(res, BaseException):
                out.append(res)
                continue
            counts[q.member_id] = counts.get(q.member_id, 0) + 1
            # Every field through ``add``'s keywords: one call into the protobuf runtime per
            # answer, most of a pre-screen's answers being a subject without records.
            r = add(
                pseudonym=res.pseudonym,
                as_of=as_of,
                tree_size=size,
                inquiry_id=res.inquiry_index,
                summary=_summary(res, day, node.rules),
            )
            for rec, salt in res.records:
                ev = r.records.add(
                    record=pb.RecordRef(member_id=rec.ref.member_id, record_id=rec.ref.record_id),
                    salt=salt,
                )
                for i in rec.entries:
                    leaf, proof = evidence[i]
                    ev.entries.add(index=i, leaf=leaf, inclusion_proof=proof)
            out.append(r)
        for member_id, n in counts.items():
            metrics.LOOKUPS.labels(member_id).inc(n)
        return out, head

    async def _answer_singles(self, group: list[Single]) -> list[spb.CheckResponse | BaseException]:
        """A group of concurrent single lookups, in a worker thread: those asking for the
        cosigned checkpoint apart from the others (they are answered at another tree size)."""
        out: list[spb.CheckResponse | BaseException] = [RuntimeError("unanswered")] * len(group)
        for cosigned in (False, True):
            at = [i for i, g in enumerate(group) if g[2] is cosigned]
            if at:
                try:
                    answers = await self.s.run(
                        self._singles,
                        [group[i][0] for i in at],
                        [group[i][1] for i in at],
                        cosigned,
                    )
                except ArrearsError as e:  # e.g. nothing cosigned yet: these lookups alone fail
                    answers = [e] * len(at)
                for i, a in zip(at, answers, strict=True):
                    out[i] = a
        return out

    def _known(self, known_size: int) -> None:
        """Refuse a trusted size beyond the log before the lookup is recorded. (One beyond the
        cosigned checkpoint is fine: it gets no proof.)"""
        size = self.s.node.ledger.log.head().size
        if known_size > size:
            raise InputError(f"known_tree_size: {known_size} is beyond the log's size {size}")

    def _consistency(self, known_size: int, size: int) -> list[bytes]:
        return self.s.node.consistency(known_size, size) if known_size <= size else []

    def _singles(
        self, lookups: list[Lookup], known_sizes: list[int], cosigned: bool
    ) -> list[spb.CheckResponse | BaseException]:
        out, head = self._results(lookups, cosigned, spb.CheckResponse)
        proofs: dict[int, list[bytes]] = {}
        for r, known in zip(out, known_sizes, strict=True):
            if isinstance(r, BaseException):
                continue
            if known not in proofs:
                proofs[known] = self._consistency(known, head.size)
            r.checkpoint = head.checkpoint
            r.consistency_proof.extend(proofs[known])
        return out

    def _batch(
        self, lookups: list[Lookup], known_size: int, cosigned: bool
    ) -> spb.CheckBatchResponse:
        batch = spb.CheckBatchResponse()
        out, head = self._results(lookups, cosigned, batch.results.add)
        for r in out:
            if isinstance(r, BaseException):
                raise r
        batch.tree_size = head.size
        batch.checkpoint = head.checkpoint
        batch.consistency_proof.extend(self._consistency(known_size, head.size))
        return batch

    @_guard
    async def Check(self, request: spb.CheckRequest, context: Ctx) -> spb.CheckResponse:
        member = self.s.member(context, pb.ROLE_LENDER, pb.ROLE_OPERATOR)
        self.s.node.check_lookup(
            [request.pseudonym], request.purpose, request.consent_reference, member=member
        )
        self._known(request.known_tree_size)
        lookup = Lookup(
            member.member_id, request.pseudonym, request.purpose, request.consent_reference
        )
        with self.s.lookups.charged(member.member_id, 1, "lookups"):
            return await self.coalescer.ask((lookup, request.known_tree_size, request.cosigned))

    @_guard
    async def CheckBatch(
        self, request: spb.CheckBatchRequest, context: Ctx
    ) -> spb.CheckBatchResponse:
        member = self.s.member(context, pb.ROLE_LENDER, pb.ROLE_OPERATOR)
        n = self.s.count("pseudonyms", len(request.pseudonyms))
        self.s.node.check_lookup(
            list(request.pseudonyms), request.purpose, request.consent_reference, member=member
        )
        self._known(request.known_tree_size)
        lookups = [
            Lookup(member.member_id, p, request.purpose, request.consent_reference)
            for p in request.pseudonyms
        ]
        with self.s.lookups.charged(member.member_id, n, "lookups"):
            return await self.s.run(self._batch, lookups, request.known_tree_size, request.cosigned)

    def _many(
        self, lookups: list[Lookup], known_size: int, cosigned: bool, out: spb.CheckManyResponse
    ) -> None:
        """Answer the lookups of a CheckMany into ``out``, whose results already hold the
        refusals (the results without an error, in order, are these lookups')."""
        answers, head = self._results(lookups, cosigned, spb.CheckResponse)
        slots = (r for r in out.results if not r.error_code)
        for slot, a in zip(slots, answers, strict=True):
            if isinstance(a, ArrearsError):
                _refuse(slot, a)
            elif isinstance(a, BaseException):
                raise a
            else:
                slot.answer.CopyFrom(a)
        out.tree_size = head.size
        out.checkpoint = head.checkpoint
        out.consistency_proof.extend(self._consistency(known_size, head.size))

    def _subject_report(
        self, member: Member, request: spb.SubjectReportRequest
    ) -> spb.SubjectReportResponse:
        node = self.s.node
        lookup = Lookup(
            member.member_id,
            request.pseudonym,
            pb.PURPOSE_SUBJECT_REQUEST,
            request.request_reference,
        )
        results, head = node.check([lookup], served_only=False)
        (res,) = results
        if isinstance(res, BaseException):
            raise res
        evidence = node.evidence(results, head.size)
        inquiry_head, inquiries = node.inquiry_evidence(request.pseudonym)
        today = node.today()
        out = spb.SubjectReportResponse(
            pseudonym=request.pseudonym,
            as_of=pb.Date(year=today.year, month=today.month, day=today.day),
            tree_size=head.size,
            checkpoint=head.checkpoint,
            inquiry_tree_size=inquiry_head.size,
            inquiry_checkpoint=inquiry_head.checkpoint,
            inquiries=inquiries,
            inquiry_consistency_proof=node.consistency(
                request.known_inquiry_tree_size, inquiry_head.size, spb.LOG_NAME_INQUIRIES
            ),
        )
        for rec, salt in res.records:
            ev = out.records.add(
                record=pb.RecordRef(member_id=rec.ref.member_id, record_id=rec.ref.record_id),
                salt=salt,
            )
            for i in rec.entries:
                leaf, proof = evidence[i]
                ev.entries.add(index=i, leaf=leaf, inclusion_proof=proof)
        return out

    @_guard
    async def CheckMany(self, request: spb.CheckManyRequest, context: Ctx) -> spb.CheckManyResponse:
        member = self.s.member(context, pb.ROLE_LENDER, pb.ROLE_OPERATOR)
        self.s.count("checks", len(request.checks))
        self._known(request.known_tree_size)
        out = spb.CheckManyResponse()
        lookups = []
        for i, c in enumerate(request.checks):
            r = out.results.add()
            try:
                self.s.node.check_lookup(
                    [c.pseudonym], c.purpose, c.consent_reference, at=f"checks[{i}].", member=member
                )
            except ArrearsError as e:  # this lookup is refused; the others go on
                _refuse(r, e)
                continue
            lookups.append(Lookup(member.member_id, c.pseudonym, c.purpose, c.consent_reference))
        if lookups:
            with self.s.lookups.charged(member.member_id, len(lookups), "lookups"):
                await self.s.run(
                    self._many, lookups, request.known_tree_size, request.cosigned, out
                )
        return out  # with every lookup refused: no checkpoint, nothing to prove

    @_guard
    async def SubjectReport(
        self, request: spb.SubjectReportRequest, context: Ctx
    ) -> spb.SubjectReportResponse:
        member = self.s.member(context, pb.ROLE_OPERATOR)
        self.s.node.check_lookup(
            [request.pseudonym],
            pb.PURPOSE_SUBJECT_REQUEST,
            request.request_reference,
            reference="request_reference",
        )
        known, size = request.known_inquiry_tree_size, self.s.node.inquiries.head().size
        if known > size:  # refused before the request is recorded as an inquiry
            raise InputError(f"known_inquiry_tree_size: {known} is beyond the inquiry log's {size}")
        return await self.s.run(self._subject_report, member, request)


class WatchServicer(sgrpc.WatchServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @_guard
    async def Register(self, request: spb.RegisterRequest, context: Ctx) -> spb.RegisterResponse:
        member = self.s.member(context, pb.ROLE_LENDER)
        node = self.s.node
        regs: dict[bytes, tuple[int, str]] = {}  # pseudonym: (first position, reference)
        for i, r in enumerate(request.registrations):
            check_pseudonym(f"registrations[{i}].pseudonym", r.pseudonym, node.oprf_epoch)
            check_reference(f"registrations[{i}].relationship_reference", r.relationship_reference)
            first = regs.setdefault(r.pseudonym, (i, r.relationship_reference))
            if first[1] != r.relationship_reference:  # a repeat with the same one counts once
                raise InputError(
                    f"registrations[{i}].relationship_reference: the borrower of "
                    f"registrations[{first[0]}] again, with another reference (a lender "
                    "registers a borrower once)"
                )
        if not regs:
            raise InputError("registrations: at least one")
        pairs = [(p, ref) for p, (_, ref) in regs.items()]
        await self.s.run(node.watch.register, member.member_id, pairs, node.clock())
        return spb.RegisterResponse(registered=len(pairs))

    @_guard
    async def Unregister(
        self, request: spb.UnregisterRequest, context: Ctx
    ) -> spb.RegisterResponse:
        member = self.s.member(context, pb.ROLE_LENDER)
        node = self.s.node
        for i, p in enumerate(request.pseudonyms):  # of any epoch: registrations outlive one
            if len(p) != PSEUDONYM_SIZE:
                raise InputError(
                    f"pseudonyms[{i}]: a pseudonym is {PSEUDONYM_SIZE} bytes, got {len(p)}"
                )
        if not request.pseudonyms:
            raise InputError("pseudonyms: at least one")
        n = await self.s.run(node.watch.unregister, member.member_id, list(request.pseudonyms))
        return spb.RegisterResponse(registered=n)

    async def Stream(self, request: spb.WatchRequest, context: Ctx) -> AsyncIterator[spb.Alert]:
        node = self.s.node
        try:
            member = self.s.member(context, pb.ROLE_LENDER)
            last_entry = node.ledger.log.head().size - 1
            if request.cursor > last_entry:
                raise InputError(
                    f"cursor: {request.cursor} is beyond the ledger's last entry, {last_entry}"
                )
        except ArrearsError as e:
            await abort(context, e)
        # Every alert up to entry ``last`` has been sent, or came before this stream's time:
        # the cursor, or (from now) the head read before subscribing. A stream starts behind:
        # what was committed after ``last`` and before it subscribed comes from the ledger.
        last = request.cursor if request.cursor > 0 else last_entry
        sub = node.subscribe(member.member_id, asyncio.get_running_loop())
        starting = True
        try:
            while True:
                if sub.behind and sub.queue.empty():
                    # What did not fit in the queue (or came before the stream subscribed) is
                    # in the ledger up to its head: alerts for later entries are queued again.
                    sub.behind = False
                    if not starting:
                        metrics.WATCH_CATCHUPS.inc()
                    starting = False
                    head = node.ledger.log.head().size
                    while last + 1 < head:
                        end = min(head, last + 1 + REPLAY_WINDOW)
                        for alert in await self.s.run(
                            node.replay_alerts, member.member_id, last, end
                        ):
                            metrics.ALERTS.inc()
                            yield alert
                        last = end - 1
                    continue
                alert = await sub.queue.get()
                if alert.cursor > last:  # replayed already, or raced the replay
                    last = alert.cursor
                    metrics.ALERTS.inc()
                    yield alert
        finally:
            node.unsubscribe(member.member_id, sub)


_LOG_NAMES = frozenset(spb.LogName.values())


class LogServicer(sgrpc.LogServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    def _log(self, member: Member, name: int, *roles: int) -> Any:
        """The log ``name``; the inquiry log only for the regulator (and ``roles``)."""
        if name not in _LOG_NAMES:
            raise InputError(f"log: {name} names no log (LOG_NAME_LEDGER or LOG_NAME_INQUIRIES)")
        allowed = (pb.ROLE_REGULATOR, *roles)
        if name == spb.LOG_NAME_INQUIRIES and not any(member.has(r) for r in allowed):
            names = " or ".join(pb.Role.Name(r) for r in allowed)
            raise NotPermitted(
                "role", f"{member.member_id} lacks the role for the inquiry log ({names})"
            )
        return self.s.node.log_for(name)

    @_guard
    async def GetCheckpoint(
        self, request: spb.GetCheckpointRequest, context: Ctx
    ) -> spb.SignedCheckpoint:
        member = self.s.member(context)
        log_ = self._log(member, request.log)
        node = self.s.node
        if request.cosigned:
            size, note = await self.s.run(node.latest_cosigned, request.log)
            return spb.SignedCheckpoint(note=note, tree_size=size)
        head = log_.head()
        note = (
            await self.s.run(node.cosigned_note, request.log, head.size)
            if head.size
            else head.checkpoint
        )
        return spb.SignedCheckpoint(note=note, tree_size=head.size)

    @_guard
    async def AddCosignature(
        self, request: spb.AddCosignatureRequest, context: Ctx
    ) -> spb.AddCosignatureResponse:
        member = self.s.member(context)
        self._log(member, request.log)
        note = await self.s.run(
            self.s.node.add_cosignature,
            member.member_id,
            request.log,
            request.tree_size,
            request.signature_line,
        )
        return spb.AddCosignatureResponse(note=note)

    @_guard
    async def GetInclusionProof(
        self, request: spb.InclusionProofRequest, context: Ctx
    ) -> spb.InclusionProof:
        member = self.s.member(context)
        log_ = self.s.node.ledger.log
        size = request.tree_size or log_.head().size
        hashes = await self.s.run(log_.inclusion_proof, request.index, size)
        (leaf,) = await self.s.run(log_.storage.read_leaves, request.index, request.index + 1)
        proof = spb.InclusionProof(
            index=request.index, tree_size=size, leaf_hash=leaf_hash(leaf), hashes=hashes
        )
        # The entry itself only to its submitter, the operator and regulators: a member never
        # reads the others' submissions (one index at a time would be in bulk too).
        reads_all = member.has(pb.ROLE_REGULATOR) or member.has(pb.ROLE_OPERATOR)
        if reads_all or decode_submission(Leaf.decode(leaf).payload).member_id == member.member_id:
            proof.leaf = leaf
        return proof

    @_guard
    async def GetConsistencyProof(
        self, request: spb.ConsistencyProofRequest, context: Ctx
    ) -> spb.ConsistencyProof:
        member = self.s.member(context)
        # Hashes only: the operator's subject reports need them to hold the inquiry log's
        # checkpoints consistent, like a regulator's audits.
        log_ = self._log(member, request.log, pb.ROLE_OPERATOR)
        size = request.to_size or log_.head().size
        hashes = await self.s.run(log_.consistency_proof, request.from_size, size)
        return spb.ConsistencyProof(from_size=request.from_size, to_size=size, hashes=hashes)

    async def GetEntries(
        self, request: spb.GetEntriesRequest, context: Ctx
    ) -> AsyncIterator[spb.Entries]:
        try:
            member = self.s.member(context, pb.ROLE_REGULATOR)
            log_ = self._log(member, request.log)
            size = log_.head().size
            end = min(request.end or size, size)
            if request.start > end:
                raise InputError(
                    f"start: {request.start} is beyond "
                    + (
                        f"end {end}"
                        if request.end and request.end < size
                        else f"the log's size {size}"
                    )
                )
        except ArrearsError as e:
            await abort(context, e)
        pos = request.start
        storage = self.s.node.storage_for(request.log)
        while pos < end:
            leaves = await self.s.run(storage.read_leaves, pos, min(end, pos + 1000))
            yield spb.Entries(
                entries=[spb.Entry(index=pos + i, leaf=x) for i, x in enumerate(leaves)]
            )
            pos += len(leaves)


def add_services(server: grpc.aio.Server, s: Services) -> list[str]:
    """Register every service; returns their full names (for health and reflection)."""
    sgrpc.add_SubmissionsServicer_to_server(SubmissionsServicer(s), server)  # type: ignore[no-untyped-call]
    sgrpc.add_MembershipServicer_to_server(MembershipServicer(s), server)  # type: ignore[no-untyped-call]
    sgrpc.add_PseudonymsServicer_to_server(PseudonymsServicer(s), server)  # type: ignore[no-untyped-call]
    sgrpc.add_LookupServicer_to_server(LookupServicer(s), server)  # type: ignore[no-untyped-call]
    sgrpc.add_WatchServicer_to_server(WatchServicer(s), server)  # type: ignore[no-untyped-call]
    sgrpc.add_LogServicer_to_server(LogServicer(s), server)  # type: ignore[no-untyped-call]
    return [
        spb.DESCRIPTOR.services_by_name[n].full_name
        for n in ("Submissions", "Membership", "Pseudonyms", "Lookup", "Watch", "Log")
    ]
