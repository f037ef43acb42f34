"""The server process's own tuning."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from arrears.server.app import GC_THRESHOLD, tune_gc


@pytest.fixture
def thresholds() -> Iterator[None]:
    was = gc.get_threshold()
    yield
    gc.set_threshold(*was)


@pytest.mark.usefixtures("thresholds")
def test_tune_gc_sets_the_server_thresholds() -> None:
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLD
    assert gc.isenabled()  # rarer collections, never none: cyclic garbage is still freed
