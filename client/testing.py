"""A testing harness for banks' own tests: a real arrears server in the same process.

    with LocalConsortium(["bank-a", "bank-b"]) as net:
        a = net.client("bank-a")
        a.report("11010519491231002X", "loan-1", principal_minor=..., ...)
        result = net.client("bank-b").check("11010519491231002X", consent_reference="c-1")

It serves gRPC over mutual TLS on 127.0.0.1 (a free port) from SQLite in a temporary
directory, with a development PKI, the operator's genesis entry and the members admitted
(reporter and lender roles unless told otherwise). The clock can be set, so retention and
dispute deadlines can be tested without waiting; the clients it makes (``client``,
``async_client``) share that clock, as the SDK holds a server's "today" to its own. Bulk
uploads are checked by one worker process, as by ``arrears serve`` (``check_processes=0``
keeps every check in this process).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from arrears.client.sdk import AsyncClient, Client, Identity
from arrears.client.trust import Trust
from arrears.ledger import events as ev
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.records import DEFAULT_RULES, Rules
from arrears.ledger.sql import SqlStorage, create_engine
from arrears.server.app import Running, create_server
from arrears.server.config import Limits, ServerConfig
from arrears.server.node import Node
from arrears.server.pki import create_dev_pki, load_ed25519
from arrears.v1 import events_pb2 as pb

ORIGIN = "arrears.test/ledger"
DEFAULT_ROLES = (pb.ROLE_REPORTER, pb.ROLE_LENDER)


class SettableClock:
    """A clock (unix microseconds) that tests set; it starts at the real time."""

    # Tests set it back as well as forward, and the server takes it as it is: entries then
    # carry the times set, out of order (an audit of such a ledger says so). A real clock
    # stepped back is not followed: the log keeps its last time.
    may_go_back = True

    def __init__(self) -> None:
        self.now_us = int(datetime.now(UTC).timestamp() * 1e6)

    def __call__(self) -> int:
        return self.now_us

    def set(self, day: date, hour: int = 4) -> None:
        """Move to ``day`` (hour in UTC: 04:00 UTC is noon in China)."""
        self.now_us = int(
            datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1e6
        )

    def advance(self, seconds: float) -> None:
        self.now_us += int(seconds * 1e6)


class LocalConsortium:
    """A running server and its members, for tests. Use as a context manager."""

    def __init__(
        self,
        members: Sequence[str] | Mapping[str, Sequence[int]] = ("bank-a", "bank-b"),
        *,
        operator_id: str = "operator",
        rules: Rules = DEFAULT_RULES,
        limits: Limits | None = None,
        database_url: str | None = None,
        directory: Path | None = None,
        check_processes: int = 1,
    ) -> None:
        self.operator_id = operator_id
        self.check_processes = check_processes  # as the server's; 0: checked in-process
        self.members: dict[str, tuple[int, ...]] = (
            {m: tuple(r) for m, r in members.items()}
            if isinstance(members, Mapping)
            else {m: DEFAULT_ROLES for m in members}
        )
        self.rules = rules
        self.limits = limits or Limits(
            lookups_per_second=1e6, lookup_burst=1e6, oprf_per_second=1e6, oprf_burst=1e6
        )
        self._own_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="arrears-test-"))
        self.database_url = database_url or f"sqlite:///{self.dir / 'ledger.db'}"
        self.clock = SettableClock()
        self.pki = create_dev_pki(self.dir / "pki", [operator_id, *self.members])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: Running | None = None
        self._clients: list[Client] = []

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalConsortium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config(self) -> ServerConfig:
        return ServerConfig(
            listen="127.0.0.1:0",
            database_url=self.database_url,
            origin=ORIGIN,
            operator_id=self.operator_id,
            tls_cert=self.pki.server_cert,
            tls_key=self.pki.server_key,
            client_ca=self.pki.ca,
            log_key=self.pki.log_key,
            oprf_key=self.pki.oprf_key,
            limits=self.limits,
            rules=self.rules,
            check_processes=self.check_processes,
        )

    def start(self) -> None:
        self._thread.start()
        config = self.config
        node = Node(
            SqlStorage(create_engine(config.database_url)),
            load_ed25519(config.log_key),
            origin=config.origin,
            oprf_seed=config.oprf_key.read_bytes(),
            operator_id=config.operator_id,
            rules=config.rules,
            clock=self.clock,
        )
        self._running = asyncio.run_coroutine_threadsafe(
            create_server(config, node), self._loop
        ).result()
        if node.ledger.log.head().size == 0:
            self._admit_everyone()

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.stop(1.0), self._loop).result()
            self._running = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def port(self) -> int:
        assert self._running is not None, "not started"
        return self._running.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def node(self) -> Node:
        assert self._running is not None, "not started"
        return self._running.node

    @property
    def verifier_key(self) -> str:
        return Ed25519Signer(ORIGIN, load_ed25519(self.pki.log_key)).verifier_key

    # --- members -------------------------------------------------------------------------

    def identity(self, member_id: str) -> Identity:
        return Identity.from_dev_pki(self.pki.root, member_id)

    def trust(self, state_file: Path | None = None) -> Trust:
        return Trust(self.verifier_key, state_file=state_file)

    def client(self, member_id: str, **kwargs: Any) -> Client:
        """A blocking client for a member (closed with the consortium)."""
        trust = kwargs.pop("trust", None) or self.trust()
        kwargs.setdefault("clock", self.clock)  # the server's day is the client's
        c = Client(self.target, self.identity(member_id), trust, rules=self.rules, **kwargs)
        self._clients.append(c)
        return c

    def async_client(self, member_id: str, **kwargs: Any) -> AsyncClient:
        """An asyncio client for a member; use ``async with`` (it is not closed for you)."""
        kwargs.setdefault("clock", self.clock)
        trust = kwargs.pop("trust", None) or self.trust()
        return AsyncClient(self.target, self.identity(member_id), trust, rules=self.rules, **kwargs)

    def _admit_everyone(self) -> None:
        op = self.client(self.operator_id)
        signer = op.aio.identity.signer
        assert signer is not None
        op.admin(
            ev.member_admitted(
                self.operator_id, "Consortium operator", [pb.ROLE_OPERATOR], [signer.public_key]
            )
        )
        for member_id, roles in self.members.items():
            self.admit(member_id, roles)

    def admit(
        self, member_id: str, roles: Sequence[int] = DEFAULT_ROLES, name: str | None = None
    ) -> None:
        """Admit a member (making its credentials first if needed)."""
        create_dev_pki(self.pki.root, [member_id])
        identity = self.identity(member_id)
        assert identity.signer is not None
        role_list = cast(list[pb.Role], list(roles))
        event = ev.member_admitted(
            member_id, name or member_id, role_list, [identity.signer.public_key]
        )
        self.client(self.operator_id).admin(event)
