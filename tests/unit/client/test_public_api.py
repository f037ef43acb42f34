"""The SDK's public surface is what `arrears.client.__all__` names, and nothing moves silently."""

from __future__ import annotations

import arrears.client

PINNED = {
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
}


def test_public_names_are_pinned() -> None:
    assert set(arrears.client.__all__) == PINNED
    for name in PINNED:
        assert getattr(arrears.client, name) is not None
