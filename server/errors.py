"""The one place where errors become gRPC statuses.

Every ``ArrearsError`` maps to a status code, a message that names the field, and
google.rpc details: ``ErrorInfo`` (domain ``arrears``, reason = the rule), ``BadRequest`` field
violations for bad input, and ``RetryInfo`` for rate limits. The SDK maps them back in
``arrears.client.errors``.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from arrears.ledger.errors import (
    ArrearsError,
    ConflictError,
    InconsistentCheckpointError,
    InputError,
    InternalError,
    OprfError,
    SignatureError,
    StaleStateError,
    StorageError,
    VerificationError,
    field_of,
)
from arrears.ledger.records import AlreadyExists, NotPermitted

DOMAIN = "arrears"


class Unauthenticated(ArrearsError):
    """The caller has no valid client certificate, or it names no current member."""


class RateLimited(ArrearsError):
    """The caller's quota is spent for now; ``retry_after`` seconds until it refills."""

    def __init__(self, message: str, retry_after: float, rule: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rule = rule  # "over_burst": more at once than the limit ever allows


class NotFound(ArrearsError):
    """The thing asked for does not exist."""


def status_code(e: BaseException) -> grpc.StatusCode:
    """The status code for an error (most specific class first)."""
    table: list[tuple[type[BaseException], grpc.StatusCode]] = [
        (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (SignatureError, grpc.StatusCode.UNAUTHENTICATED),
        (RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (NotFound, grpc.StatusCode.NOT_FOUND),
        (NotPermitted, grpc.StatusCode.PERMISSION_DENIED),
        (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (OprfError, grpc.StatusCode.INVALID_ARGUMENT),
        (InputError, grpc.StatusCode.INVALID_ARGUMENT),
        (StaleStateError, grpc.StatusCode.ABORTED),
        (InconsistentCheckpointError, grpc.StatusCode.INTERNAL),
        (ConflictError, grpc.StatusCode.FAILED_PRECONDITION),
        (VerificationError, grpc.StatusCode.FAILED_PRECONDITION),
        (StorageError, grpc.StatusCode.UNAVAILABLE),
        (InternalError, grpc.StatusCode.INTERNAL),
    ]
    for cls, code in table:
        if isinstance(e, cls):
            return code
    return grpc.StatusCode.INTERNAL


def to_status(e: BaseException) -> status_pb2.Status:
    """The google.rpc.Status for an error, with its details."""
    code = status_code(e)
    message = str(e) if isinstance(e, ArrearsError) else "internal error"
    status = status_pb2.Status(code=code.value[0], message=message)
    rule = str(getattr(e, "rule", "") or "")
    info = error_details_pb2.ErrorInfo(
        reason=(rule or type(e).__name__).upper(), domain=DOMAIN, metadata={"rule": rule}
    )
    status.details.add().Pack(info)
    field = field_of(message)
    if field and code == grpc.StatusCode.INVALID_ARGUMENT:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=field, description=message[len(field) + 2 :]
                )
            ]
        )
        status.details.add().Pack(bad)
    if isinstance(e, RateLimited):
        secs = max(e.retry_after, 0.001)
        retry = error_details_pb2.RetryInfo(
            retry_delay=Duration(seconds=int(secs), nanos=int((secs % 1) * 1e9))
        )
        status.details.add().Pack(retry)
    return status


async def abort(context: grpc.aio.ServicerContext[Any, Any], e: BaseException) -> NoReturn:
    """End the call with the status for ``e``."""
    await context.abort_with_status(rpc_status.to_status(to_status(e)))  # type: ignore[attr-defined]
    raise AssertionError("unreachable")  # abort_with_status raises


def code_number(e: BaseException) -> int:
    return int(status_code(e).value[0]) if isinstance(e, ArrearsError) else code_pb2.INTERNAL
