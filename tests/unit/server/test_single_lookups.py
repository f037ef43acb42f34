"""Concurrent single Check calls are answered in groups; those asking for the cosigned
checkpoint are answered apart from the others, each caller with its own known size."""

from __future__ import annotations

import asyncio
from typing import Any

from arrears.server.node import Lookup
from arrears.server.service import LookupServicer


class _Services:
    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)


def _lookup(i: int) -> Lookup:
    return Lookup(f"bank-{i % 3}", bytes([i]) * 36, 1, f"consent-{i}")


def test_cosigned_lookups_are_answered_apart_in_order() -> None:
    servicer = LookupServicer(_Services())  # type: ignore[arg-type]
    groups: list[tuple[bool, list[str], list[int]]] = []

    def singles(lookups: list[Lookup], known: list[int], cosigned: bool) -> list[Any]:
        groups.append((cosigned, [q.consent_reference for q in lookups], known))
        return [
            ValueError(q.consent_reference) if q.consent_reference == "consent-4" else q
            for q in lookups
        ]

    servicer._singles = singles  # type: ignore[method-assign]
    group = [(_lookup(i), 100 + i, i % 2 == 0) for i in range(6)]
    answers = asyncio.run(servicer._answer_singles(group))
    assert groups == [
        (False, ["consent-1", "consent-3", "consent-5"], [101, 103, 105]),
        (True, ["consent-0", "consent-2", "consent-4"], [100, 102, 104]),
    ]
    assert [a for i, a in enumerate(answers) if i != 4] == [_lookup(i) for i in (0, 1, 2, 3, 5)]
    assert isinstance(answers[4], ValueError) and str(answers[4]) == "consent-4"
