"""Re-verifying a stored log in parallel segments finds the same faults as one pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from arrears.ledger import schema
from arrears.ledger.errors import ChainError, RootMismatchError, StorageError
from arrears.ledger.log import Entry, Log
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.sql import SqlStorage
from arrears.ledger.verify import SEGMENT, verify_log

SIGNER = Ed25519Signer.generate("arrears.test/log")
SIZE = 2 * SEGMENT + 4321  # two full segments and a tail


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "ledger.db"
    st = SqlStorage.open(f"sqlite:///{path}")
    log = Log(st, SIGNER)
    for start in range(0, SIZE, 20_000):
        n = min(20_000, SIZE - start)
        log.append_batch([Entry(os.urandom(32), os.urandom(60), b"") for _ in range(n)])
    log.close()
    st.close()
    return path


def copy_of(db: Path, tmp_path: Path) -> SqlStorage:
    # A new name each time: an old copy's WAL must not be replayed into the new one.
    target = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*.db')))}.db"
    target.write_bytes(db.read_bytes())
    return SqlStorage.open(f"sqlite:///{target}")


@pytest.mark.slow
def test_parallel_and_serial_agree_on_a_sound_log(db: Path, tmp_path: Path) -> None:
    st = copy_of(db, tmp_path)
    serial = verify_log(st, [SIGNER.verifier])
    parallel = verify_log(st, [SIGNER.verifier], workers=2, opener=st.opener())
    assert serial == parallel
    assert parallel.size == SIZE


@pytest.mark.slow
def test_parallel_verification_names_faults(db: Path, tmp_path: Path) -> None:
    st = copy_of(db, tmp_path)
    lv = schema.leaves
    # A changed byte in the second segment's payload breaks the chain at the next leaf.
    bad = SEGMENT + 17
    with st.engine.begin() as conn:
        leaf = conn.execute(sa.select(lv.c.leaf).where(lv.c.idx == bad)).scalar_one()
        changed = leaf[:100] + bytes([leaf[100] ^ 1]) + leaf[101:]
        conn.execute(lv.update().where(lv.c.idx == bad).values(leaf=changed))
    with pytest.raises(ChainError) as e:
        verify_log(st, [SIGNER.verifier], workers=2, opener=st.opener())
    assert e.value.index == bad + 1
    # The first leaf of a segment no longer links to the last one of the segment before (its
    # previous-hash field changed): named at that leaf, whichever check sees it first.
    st = copy_of(db, tmp_path)
    with st.engine.begin() as conn:
        leaf = conn.execute(sa.select(lv.c.leaf).where(lv.c.idx == SEGMENT)).scalar_one()
        changed = leaf[:20] + bytes([leaf[20] ^ 1]) + leaf[21:]
        conn.execute(lv.update().where(lv.c.idx == SEGMENT).values(leaf=changed))
    with pytest.raises((ChainError, StorageError), match=str(SEGMENT)):
        verify_log(st, [SIGNER.verifier], workers=2, opener=st.opener())
    # A tile above the segments' own (level 1) that does not hold the recomputed hashes.
    st = copy_of(db, tmp_path)
    tt = schema.tiles
    with st.engine.begin() as conn:
        data = conn.execute(
            sa.select(tt.c.hashes).where(tt.c.level == 1, tt.c.idx == 0)
        ).scalar_one()
        conn.execute(
            tt.update().where(tt.c.level == 1, tt.c.idx == 0).values(hashes=bytes(len(data)))
        )
    with pytest.raises((StorageError, RootMismatchError), match="tile 1/0"):
        verify_log(st, [SIGNER.verifier], workers=2, opener=st.opener())
