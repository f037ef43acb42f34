"""Backups as docs/operations.md describes them: SQLite's online backup, taken while the server
appends, is a ledger that verifies on its own, a prefix of the live one; a client that trusted
a later checkpoint refuses a server restored from it."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arrears.client import Trust
from arrears.client.testing import LocalConsortium
from arrears.ledger.errors import InconsistentCheckpointError
from arrears.ledger.sql import SqlStorage
from arrears.server.cli import app
from tests.integration.test_sdk import DAY, default, resident_id


def test_an_online_backup_taken_while_appending_verifies_and_is_a_prefix(
    tmp_path: Path,
) -> None:
    with LocalConsortium(["bank-a"]) as net:
        net.clock.set(DAY)
        c = net.client("bank-a")
        done = threading.Event()

        def reports() -> None:
            for i in range(120):
                c.report(resident_id(i), f"B-{i:04d}", **default(DAY - timedelta(days=60)))
            done.set()

        writer = threading.Thread(target=reports, daemon=True)
        writer.start()
        live = net.dir / "ledger.db"
        copy = tmp_path / "backup.db"
        while net.node.ledger.log.head().size < 40:
            assert writer.is_alive() and not done.wait(0.01), "the reports stopped short"
        with sqlite3.connect(live) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)  # what `sqlite3 ledger.db ".backup backup.db"` does
        writer.join()
        live_size = net.node.ledger.log.head().size

        key = net.verifier_key
        r = CliRunner().invoke(app, ["--verifier-key", key, "verify", "-d", f"sqlite:///{copy}"])
        assert r.exit_code == 0, r.output
        assert "the projection equals the one rebuilt" in r.output

        backup = SqlStorage.open(f"sqlite:///{copy}")
        size = backup.head().size
        assert 40 <= size < live_size
        live_leaves = net.node.storage.read_leaves(0, size)
        assert backup.read_leaves(0, size) == live_leaves
        backup.close()

        # A client that trusted the live log's later checkpoint refuses the restored one:
        # the entries after the backup are gone, and it says so instead of trusting anew.
        trust = Trust(key)
        trust.accept(net.node.ledger.log.head().checkpoint)
        restored = SqlStorage.open(f"sqlite:///{copy}")
        with pytest.raises(InconsistentCheckpointError):
            trust.accept(restored.head().checkpoint)
        restored.close()
