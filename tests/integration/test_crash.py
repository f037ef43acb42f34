"""Kill a writing process (SIGKILL) at random points, many times; after each restart every
acknowledged entry is present, nothing unacknowledged is half there, and the ledger verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.ledger import schema
from arrears.ledger.merkle import leaf_hash
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.sql import SqlStorage
from arrears.ledger.verify import verify_log

WRITER = Path(__file__).with_name("crash_writer.py")
SEED = bytes(range(32))
SIGNER = Ed25519Signer("arrears.test/crash", Ed25519PrivateKey.from_private_bytes(SEED))


def run_and_kill(url: str, rng: random.Random) -> dict[int, bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), url, SEED.hex(), "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read() if proc.stderr else ""
    time.sleep(rng.uniform(0.05, 0.6))
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    acked: dict[int, bytes] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ACK" and len(parts[2]) == 64:
            acked[int(parts[1])] = bytes.fromhex(parts[2])
    return acked


def check_after_crash(url: str, acked: dict[int, bytes]) -> int:
    st = SqlStorage.open(url)
    try:
        verified = verify_log(st, [SIGNER.verifier]) if st.head().size else None
        size = st.head().size
        leaves = st.read_leaves(0, size + 10)
        # Nothing beyond the committed head, no gap, every acknowledged entry as acknowledged.
        assert len(leaves) == size
        with st.engine.connect() as conn:
            top = conn.execute(sa.select(sa.func.max(schema.checkpoints.c.tree_size))).scalar()
        assert (top or 0) == size
        for index, h in acked.items():
            assert index < size, f"acknowledged entry {index} lost (size {size})"
            assert leaf_hash(leaves[index]) == h
        if verified is not None:
            assert verified.size == size
        return size
    finally:
        st.close()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_sigkill_mid_batch_loses_nothing_acknowledged(
    engine: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if engine == "sqlite" else "pg_url"))
    SqlStorage.open(url).close()  # migrate once, outside the loop
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    total_acked = 0
    sizes = []
    for _ in range(10):
        acked = run_and_kill(url, rng)
        total_acked += len(acked)
        sizes.append(check_after_crash(url, acked))
    assert sizes == sorted(sizes)
    assert total_acked > 0, "the writer never got going: the test would prove nothing"
