"""arrears.client: the SDK lenders embed.

It validates and blinds identifiers (they never leave the process), verifies every answer
(checkpoint signatures, consistency with the last trusted checkpoint, inclusion proofs,
subject commitments), and returns domain objects. See ``Client`` / ``AsyncClient``.
"""

from arrears.client.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    RpcError,
    Unauthenticated,
    Unavailable,
)
from arrears.client.policy import Decision, Policy, Rule
from arrears.client.sdk import Alert, AsyncClient, Client, Identity, StreamResult
from arrears.client.trust import Trust, WitnessPolicy
from arrears.client.verify import CheckResult, Receipt
from arrears.ledger.identifiers import SubjectId, SubjectKind, parse_subject
from arrears.ledger.records import RecordRef, RecordState, Rules, Summary

__all__ = [
    "Alert",
    "AlreadyExists",
    "AsyncClient",
    "CheckResult",
    "Client",
    "Decision",
    "FailedPrecondition",
    "Identity",
    "InvalidArgument",
    "PermissionDenied",
    "Policy",
    "Receipt",
    "RecordRef",
    "RecordState",
    "ResourceExhausted",
    "RpcError",
    "Rule",
    "Rules",
    "StreamResult",
    "SubjectId",
    "SubjectKind",
    "Summary",
    "Trust",
    "Unauthenticated",
    "Unavailable",
    "WitnessPolicy",
    "parse_subject",
]
