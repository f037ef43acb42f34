"""The server process's own tuning."""

from __future__ import annotations

import asyncio
import gc
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from arrears.ledger.errors import StorageError
from arrears.server.app import GC_THRESHOLD, tune_gc
from arrears.server.config import ServerConfig
from arrears.server.pki import create_dev_pki


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


def test_the_server_does_not_share_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process listens on the address, letting the port be shared (SO_REUSEPORT, as
    gRPC servers do by default). Even when the check before binding misses it (it started in
    between), gRPC refuses the port, and the database is never opened."""
    from arrears.server import app

    pki = create_dev_pki(tmp_path / "pki", [])
    database = tmp_path / "second.db"
    monkeypatch.setattr(app, "_in_use", lambda address: False)
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        config = ServerConfig(
            listen=address,
            database_url=f"sqlite:///{database}",
            tls_cert=pki.server_cert,
            tls_key=pki.server_key,
            client_ca=pki.ca,
            log_key=pki.log_key,
            oprf_key=pki.oprf_key,
        )
        with pytest.raises(StorageError, match=f"^cannot listen on {re.escape(address)}$"):
            asyncio.run(app.create_server(config))
    assert not database.exists()
