"""Build and run the arrears gRPC server.

``create_server(config)`` returns a started server bound to ``config.listen`` (port 0 picks a
free port) with TLS that requires a client certificate from the consortium CA, gRPC health and
server reflection, and Prometheus metrics if configured. ``serve`` runs it until SIGINT or
SIGTERM, then shuts down gracefully: no new calls, in-flight calls and queued batches finish.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from arrears.ledger.errors import StorageError
from arrears.ledger.sql import SqlStorage, create_engine
from arrears.server import metrics
from arrears.server.config import ServerConfig
from arrears.server.node import Node
from arrears.server.pki import load_ed25519
from arrears.server.service import Services, add_services

log = logging.getLogger("arrears.server")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k.startswith("arrears_"):
                out[k[8:]] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("arrears")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@dataclass
class Running:
    server: grpc.aio.Server
    port: int
    node: Node
    services: Services
    health: health.aio.HealthServicer  # type: ignore[name-defined]

    async def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, let in-flight ones finish, then commit what is queued and close."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await asyncio.get_running_loop().run_in_executor(None, self.node.close)
        self.services.close()


def build_node(config: ServerConfig) -> Node:
    storage = SqlStorage(
        create_engine(config.database_url, cache_kib=config.sqlite_cache_mib * 1024)
    )
    try:
        log_key = load_ed25519(config.log_key)
        oprf_seed = config.oprf_key.read_bytes()
    except (OSError, ValueError) as e:
        raise StorageError(f"cannot read the server's keys: {e}") from e
    return Node(
        storage,
        log_key,
        origin=config.origin,
        oprf_seed=oprf_seed,
        oprf_epoch=config.oprf_epoch,
        operator_id=config.operator_id,
        rules=config.rules,
    )


def _safe(fn: Callable[[], float]) -> Callable[[], float]:
    """A gauge's value, or NaN when it cannot be read (a scrape must never fail)."""

    def read() -> float:
        try:
            return float(fn())
        except Exception:
            return float("nan")

    return read


def _listen(server: grpc.aio.Server, address: str, creds: grpc.ServerCredentials) -> int:
    """Bind ``address`` (HOST:PORT); the port bound."""
    if _in_use(address):
        raise StorageError(f"cannot listen on {address}: the address is in use")
    try:
        port = server.add_secure_port(address, creds)
    except RuntimeError:  # gRPC's message names no reason; its log has it
        port = 0
    if port == 0:
        raise StorageError(f"cannot listen on {address}")
    return port


def _in_use(address: str) -> bool:
    """Whether a socket already listens on ``address``: asked before gRPC binds, which would
    say only that it failed."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return False
    try:
        found = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False  # gRPC will say it cannot resolve the host
    for family, kind, proto, _, sockaddr in found:
        try:
            with socket.socket(family, kind, proto) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(sockaddr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
    return False


async def create_server(config: ServerConfig, node: Node | None = None) -> Running:
    """Start a server for ``config``; bind to port 0 for a free port. Its address is bound
    before the database is opened (when no ``node`` is given), so a server that cannot listen
    leaves nothing behind."""
    limits = config.limits
    try:
        creds = grpc.ssl_server_credentials(
            [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
            root_certificates=config.client_ca.read_bytes(),
            require_client_auth=True,
        )
    except OSError as e:
        raise StorageError(f"cannot read the server's TLS files: {e}") from e
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            ("grpc.max_send_message_length", max(limits.max_message_bytes, 64 * 1024 * 1024)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            # gRPC's default (SO_REUSEPORT) would let a second server start on the same
            # address and take a share of the clients to its own ledger.
            ("grpc.so_reuseport", 0),
        ]
    )
    port = _listen(server, config.listen, creds)
    try:
        node = node or build_node(config)
    except BaseException:
        await server.stop(None)
        raise
    services = Services(node, limits, check_processes=config.check_processes)
    names = add_services(server, services)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    metrics.TREE_SIZE.set_function(lambda: node.ledger.log.head().size)
    node.ledger.listeners.append(lambda batch: metrics.BATCH_SIZE.observe(len(batch.entries)))
    metrics.OVERDUE_DISPUTES.set_function(_safe(lambda: len(node.overdue_disputes())))
    log.info("serving", extra={"arrears_port": port, "arrears_origin": node.origin})
    return Running(server, port, node, services, health_servicer)


GC_THRESHOLD = (10_000, 10, 10)
"""The server process's collector thresholds (CPython's default: 700, 10, 10)."""


def tune_gc() -> None:
    """Collect cyclic garbage less often in the server process. A bulk upload allocates
    thousands of short-lived containers per message (items, record states, proof plans), so
    with the default thresholds the collector runs constantly and, every few hundred runs,
    walks the whole heap: measured on a stream of reports, about a fifth of the server's CPU
    per record. The garbage is the same; it is collected in larger, rarer steps. Only for the
    server's own process (``serve``), never for a program that embeds the SDK or a
    ``LocalConsortium``."""
    gc.set_threshold(*GC_THRESHOLD)


async def serve(config: ServerConfig) -> None:
    """Run until SIGINT/SIGTERM; then shut down gracefully."""
    tune_gc()
    if config.metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(config.metrics_port, addr="127.0.0.1")
        except OSError as e:
            raise StorageError(
                f"cannot serve metrics on 127.0.0.1:{config.metrics_port}: {e.strerror}"
            ) from e
    running = await create_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"arrears serving {running.node.origin} on port {running.port}", flush=True)
    await stop.wait()
    log.info("shutting down", extra={"arrears_grace_seconds": config.grace_seconds})
    await running.stop(config.grace_seconds)
