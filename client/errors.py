"""The one place where gRPC statuses become typed errors again, on the SDK's side.

Every failed call raises an ``RpcError`` subclass chosen by its status code, with the server's
message (it names the field), the rule it broke (``rule``), the field (``field``) and, for rate
limits, how long to wait (``retry_after``). Verification failures of the SDK's own checks are
the core's ``VerificationError`` family (``ProofError``, ``SignatureError``,
``InconsistentCheckpointError``...), never an ``RpcError``.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from arrears.ledger.errors import ArrearsError, ConflictError, InputError, field_of


class RpcError(ArrearsError):
    """A call the server refused or could not answer."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        rule: str = "",
        field: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.rule = rule
        self.field = field
        self.retry_after = retry_after


class InvalidArgument(RpcError, InputError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(RpcError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(RpcError):
    code = grpc.StatusCode.PERMISSION_DENIED


class AlreadyExists(RpcError, ConflictError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(RpcError, ConflictError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(RpcError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotFound(RpcError):
    code = grpc.StatusCode.NOT_FOUND


class Unavailable(RpcError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RpcError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    c.code: c
    for c in (
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        AlreadyExists,
        FailedPrecondition,
        ResourceExhausted,
        NotFound,
        Unavailable,
        DeadlineExceeded,
    )
}


def from_code(code_number: int, message: str, rule: str = "") -> RpcError:
    """An error from a numeric google.rpc code (as in stream results), with the field its
    message names when it is about bad input."""
    code = next((c for c in grpc.StatusCode if c.value[0] == code_number), grpc.StatusCode.UNKNOWN)
    field = field_of(message) if code == grpc.StatusCode.INVALID_ARGUMENT else ""
    return _BY_CODE.get(code, RpcError)(message, code=code, rule=rule, field=field)


def from_grpc(e: grpc.RpcError) -> RpcError:
    """The typed error for a failed call, with the details the server attached."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    message = e.details() if hasattr(e, "details") else str(e)
    rule = field = ""
    retry_after = None
    status = _status(e)
    if status is not None:
        for d in status.details:
            if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                d.Unpack(info)
                rule = info.metadata.get("rule", "")
            elif d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                d.Unpack(bad)
                if bad.field_violations:
                    field = bad.field_violations[0].field
            elif d.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                d.Unpack(retry)
                retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    cls = _BY_CODE.get(code, RpcError)
    return cls(message or code.name, code=code, rule=rule, field=field, retry_after=retry_after)


def _status(e: Any) -> status_pb2.Status | None:
    try:
        md = e.trailing_metadata() or ()
    except Exception:
        return None
    for key, value in md:
        if key == "grpc-status-details-bin":
            st = status_pb2.Status()
            st.ParseFromString(value)
            return st
    return None
