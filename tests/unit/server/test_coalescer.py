"""The lookup coalescer: concurrent single lookups answered in groups, each caller getting its
own answer or its own error."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from arrears.server.node import Lookup
from arrears.server.service import Coalescer


class _Pool:
    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)


def _lookup(i: int) -> Lookup:
    return Lookup(f"bank-{i % 3}", bytes([i]) * 36, 1, f"consent-{i}")


class _Answers:
    """Answers each lookup with its consent reference; can hold the first group back."""

    def __init__(self, hold: bool = False) -> None:
        self.groups: list[list[tuple[str, int, bool]]] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, lookups: list[Lookup], known: list[int], cosigned: bool) -> list[Any]:
        self.release.wait(5)
        self.groups.append(
            [(q.consent_reference, k, cosigned) for q, k in zip(lookups, known, strict=True)]
        )
        return [
            ValueError(q.consent_reference) if q.consent_reference.endswith("-7") else q
            for q in lookups
        ]


def test_a_lone_lookup_is_answered_at_once_in_a_group_of_one() -> None:
    answers = _Answers()

    async def go() -> Any:
        c = Coalescer(_Pool(), answers)  # type: ignore[arg-type]
        return await c.ask(_lookup(1), 5, False)

    assert asyncio.run(go()) == _lookup(1)
    assert answers.groups == [[("consent-1", 5, False)]]


def test_lookups_arriving_while_groups_are_answered_share_a_group() -> None:
    answers = _Answers(hold=True)

    async def go() -> list[Any]:
        c = Coalescer(_Pool(), answers, limit=64, lanes=2)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(c.ask(_lookup(i), i, False)) for i in range(40)]
        await asyncio.sleep(0.05)
        answers.release.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    got = asyncio.run(go())
    # Each caller gets the answer to its own lookup, or the error of its own lookup.
    for i, a in enumerate(got):
        if i == 7:
            assert isinstance(a, ValueError) and str(a) == "consent-7"
        else:
            assert a == _lookup(i)
    # The lanes were busy when the rest arrived: far fewer groups than lookups, none lost,
    # each lookup with its own known size.
    assert len(answers.groups) <= 4
    assert sorted(k for g in answers.groups for _, k, _ in g) == list(range(40))


def test_a_group_never_exceeds_the_limit_and_cosigned_lookups_are_answered_apart() -> None:
    answers = _Answers(hold=True)

    async def go() -> None:
        c = Coalescer(_Pool(), answers, limit=8, lanes=1)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(c.ask(_lookup(i), 0, i % 2 == 0)) for i in range(30)]
        await asyncio.sleep(0.05)
        answers.release.set()
        await asyncio.gather(*calls, return_exceptions=True)

    asyncio.run(go())
    assert all(len(g) <= 8 for g in answers.groups)
    assert all(len({cos for _, _, cos in g}) == 1 for g in answers.groups)
    assert sum(len(g) for g in answers.groups) == 30


def test_a_failing_group_fails_each_of_its_callers_and_the_next_group_still_runs() -> None:
    calls = {"n": 0}

    def answer(lookups: list[Lookup], known: list[int], cosigned: bool) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database gone")
        return list(lookups)

    async def go() -> tuple[list[Any], Any]:
        c = Coalescer(_Pool(), answer, lanes=1)  # type: ignore[arg-type]
        first = await asyncio.gather(
            *(c.ask(_lookup(i), 0, False) for i in range(3)), return_exceptions=True
        )
        return first, await c.ask(_lookup(9), 0, False)

    first, later = asyncio.run(go())
    assert isinstance(first[0], RuntimeError)
    assert later == _lookup(9)


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    answers = _Answers(hold=True)

    async def go() -> list[Any]:
        c = Coalescer(_Pool(), answers, lanes=1)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(c.ask(_lookup(i), 0, False)) for i in range(4)]
        await asyncio.sleep(0.02)
        calls[2].cancel()
        answers.release.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    got = asyncio.run(go())
    assert isinstance(got[2], asyncio.CancelledError)
    assert [got[i] for i in (0, 1, 3)] == [_lookup(i) for i in (0, 1, 3)]


@pytest.mark.parametrize("lanes", [1, 3])
def test_no_lane_is_left_busy_after_the_work_is_done(lanes: int) -> None:
    async def go() -> int:
        c = Coalescer(_Pool(), _Answers(), lanes=lanes)  # type: ignore[arg-type]
        await asyncio.gather(
            *(c.ask(_lookup(i), 0, False) for i in range(20)), return_exceptions=True
        )
        await asyncio.sleep(0)
        return c.busy

    assert asyncio.run(go()) == 0
