"""Answering calls that arrive together in one go: the server groups concurrent single lookups
into one records query and one inquiry commit, the SDK groups concurrent lookups and OPRF
evaluations into one round trip each.

Pure asyncio, no I/O of its own: the caller gives the function that answers a group. A lone
call is answered at once (no timer, no added latency on an idle system); calls that arrive
while ``lanes`` groups are being answered wait and go together in the next group, ``limit``
at most. Each caller gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 -- an item asked about
R = TypeVar("R")  # its answer

Answer = Callable[[list[I]], Awaitable[Sequence[R | BaseException]]]
"""Answers a group: one result or error per item, in order. Raising fails every item."""


class Coalescer(Generic[I, R]):
    """Groups concurrent ``ask`` calls; at most ``lanes`` groups in flight, ``limit`` items
    each. Use from one event loop."""

    def __init__(self, answer: Answer[I, R], *, limit: int = 256, lanes: int = 2) -> None:
        if limit < 1 or lanes < 1:
            raise ValueError("a coalescer needs a limit and lanes of at least 1")
        self.answer, self.limit, self.lanes = answer, limit, lanes
        self.pending: list[tuple[I, asyncio.Future[R]]] = []
        self.busy = 0
        self._lanes: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak refs

    async def ask(self, item: I) -> R:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self.pending.append((item, fut))
        if self.busy < self.lanes:
            self.busy += 1
            lane = loop.create_task(self._drain())
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await fut

    async def _drain(self) -> None:
        try:
            while self.pending:
                group, self.pending = self.pending[: self.limit], self.pending[self.limit :]
                live = [(item, fut) for item, fut in group if not fut.done()]
                if live:
                    await self._answer(live)
        finally:
            self.busy -= 1

    async def _answer(self, group: list[tuple[I, asyncio.Future[R]]]) -> None:
        answers: Sequence[R | BaseException]
        try:
            answers = await self.answer([item for item, _ in group])
            if len(answers) != len(group):
                raise RuntimeError(f"{len(answers)} answers for a group of {len(group)}")
        except asyncio.CancelledError:
            for _, fut in group:
                fut.cancel()
            raise
        except Exception as e:  # every waiting caller gets the error
            answers = [e] * len(group)
        for (_, fut), a in zip(group, answers, strict=True):
            if fut.done():  # the caller went away (cancelled, deadline)
                continue
            if isinstance(a, BaseException):
                fut.set_exception(a)
            else:
                fut.set_result(a)
