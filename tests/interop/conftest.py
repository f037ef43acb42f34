from __future__ import annotations

from pathlib import Path

import pytest

from .gotool import build_verifier, go_available


@pytest.fixture(scope="session")
def go() -> Path:
    """The Go verifier binary; the test skips, saying why, where Go is not installed."""
    reason = go_available()
    if reason is not None:
        pytest.skip(reason)
    return build_verifier()
