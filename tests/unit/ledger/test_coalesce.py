"""The coalescer: concurrent calls answered in groups, each caller getting its own answer or its
own error; callers that went away are not asked about."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arrears.ledger.coalesce import Coalescer


class _Answers:
    """Answers each item with itself, 7 with its own error; can hold the first group back."""

    def __init__(self, hold: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self, items: list[int]) -> list[Any]:
        await self.release.wait()
        self.groups.append(items)
        return [ValueError(str(i)) if i == 7 else i * 10 for i in items]


def test_a_lone_call_is_answered_at_once_in_a_group_of_one() -> None:
    async def go() -> tuple[int, list[list[int]]]:
        answers = _Answers()
        return await Coalescer(answers).ask(1), answers.groups

    assert asyncio.run(go()) == (10, [[1]])


def test_calls_arriving_while_groups_are_answered_share_a_group() -> None:
    async def go() -> tuple[list[Any], list[list[int]]]:
        answers = _Answers(hold=True)
        c: Coalescer[int, int] = Coalescer(answers, limit=64, lanes=2)
        calls = [asyncio.ensure_future(c.ask(i)) for i in range(40)]
        await asyncio.sleep(0.02)
        answers.release.set()
        return await asyncio.gather(*calls, return_exceptions=True), answers.groups

    got, groups = asyncio.run(go())
    # Each caller gets the answer to its own item, or the error of its own item.
    for i, a in enumerate(got):
        if i == 7:
            assert isinstance(a, ValueError) and str(a) == "7"
        else:
            assert a == i * 10
    # The lanes were busy when the rest arrived: far fewer groups than calls, none lost.
    assert len(groups) <= 4
    assert sorted(i for g in groups for i in g) == list(range(40))


def test_a_group_never_exceeds_the_limit() -> None:
    async def go() -> list[list[int]]:
        answers = _Answers(hold=True)
        c: Coalescer[int, int] = Coalescer(answers, limit=8, lanes=1)
        calls = [asyncio.ensure_future(c.ask(i)) for i in range(30)]
        await asyncio.sleep(0.02)
        answers.release.set()
        await asyncio.gather(*calls, return_exceptions=True)
        return answers.groups

    groups = asyncio.run(go())
    assert all(len(g) <= 8 for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(30))


def test_a_failing_group_fails_each_of_its_callers_and_the_next_group_still_runs() -> None:
    calls = {"n": 0}

    async def answer(items: list[int]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database gone")
        return items

    async def go() -> tuple[list[Any], Any]:
        c: Coalescer[int, int] = Coalescer(answer, lanes=1)
        first = await asyncio.gather(*(c.ask(i) for i in range(3)), return_exceptions=True)
        return first, await c.ask(9)

    first, later = asyncio.run(go())
    assert all(isinstance(a, RuntimeError) and str(a) == "database gone" for a in first)
    assert later == 9


def test_an_answer_of_the_wrong_length_fails_the_group() -> None:
    async def answer(items: list[int]) -> list[int]:
        return items[1:]

    async def go() -> list[Any]:
        c: Coalescer[int, int] = Coalescer(answer)
        return await asyncio.gather(*(c.ask(i) for i in range(2)), return_exceptions=True)

    got = asyncio.run(go())
    assert [str(a) for a in got] == ["1 answers for a group of 2"] * 2


def test_a_caller_that_goes_away_is_not_asked_about_and_does_not_disturb_the_others() -> None:
    async def go() -> tuple[list[Any], list[list[int]]]:
        answers = _Answers(hold=True)
        c: Coalescer[int, int] = Coalescer(answers, lanes=1)
        calls = [asyncio.ensure_future(c.ask(0))]
        await asyncio.sleep(0.02)  # 0 is being answered; 1, 2 and 3 wait for the lane
        calls += [asyncio.ensure_future(c.ask(i)) for i in range(1, 4)]
        await asyncio.sleep(0.02)
        calls[2].cancel()
        await asyncio.sleep(0)
        answers.release.set()
        return await asyncio.gather(*calls, return_exceptions=True), answers.groups

    got, groups = asyncio.run(go())
    assert isinstance(got[2], asyncio.CancelledError)
    assert [got[i] for i in (0, 1, 3)] == [0, 10, 30]
    assert groups == [[0], [1, 3]]


@pytest.mark.parametrize("lanes", [1, 3])
def test_no_lane_is_left_busy_after_the_work_is_done(lanes: int) -> None:
    async def go() -> int:
        c: Coalescer[int, int] = Coalescer(_Answers(), lanes=lanes)
        await asyncio.gather(*(c.ask(i) for i in range(20)), return_exceptions=True)
        await asyncio.sleep(0)
        return c.busy

    assert asyncio.run(go()) == 0


def test_a_coalescer_needs_a_limit_and_a_lane() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(_Answers(), limit=0)
