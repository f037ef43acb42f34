"""Server configuration: a TOML file, overridden by ``ARREARS_*`` environment variables.

Example ``arrears.toml``::

    listen = "127.0.0.1:7443"
    database_url = "sqlite:///var/arrears.db"      # or postgresql+psycopg://...
    origin = "arrears.example/ledger"
    operator_id = "operator"
    tls_cert = "pki/server.pem"
    tls_key = "pki/server-key.pem"
    client_ca = "pki/ca.pem"
    log_key = "pki/log-key.pem"
    oprf_key = "pki/oprf-key.bin"
    check_processes = 1        # workers checking bulk uploads; 0: in the server process
    sqlite_cache_mib = 64      # SQLite's page cache per connection

    [limits]
    lookups_per_second = 200
    lookup_burst = 400
    oprf_per_second = 200
    oprf_burst = 2000
    max_message_bytes = 4194304
    max_batch = 1000

    [rules]
    retention_years = 5
    dispute_deadline_days = 20

Every key can be set from the environment as ``ARREARS_<KEY>`` (``ARREARS_DATABASE_URL``,
``ARREARS_LIMITS_LOOKUPS_PER_SECOND``, ...).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arrears.ledger.errors import InputError
from arrears.ledger.records import Rules


@dataclass(frozen=True)
class Limits:
    lookups_per_second: float = 200.0
    lookup_burst: float = 400.0
    oprf_per_second: float = 200.0
    oprf_burst: float = 2000.0
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch: int = 1000  # pseudonyms per CheckBatch, elements per Evaluate


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:7443"
    database_url: str = "sqlite:///arrears.db"
    origin: str = "arrears.example/ledger"
    operator_id: str = "operator"
    tls_cert: Path = Path("pki/server.pem")
    tls_key: Path = Path("pki/server-key.pem")
    client_ca: Path = Path("pki/ca.pem")
    log_key: Path = Path("pki/log-key.pem")
    oprf_key: Path = Path("pki/oprf-key.bin")
    oprf_epoch: int = 1
    metrics_port: int = 0  # 0: no Prometheus endpoint
    grace_seconds: float = 10.0
    # worker processes checking bulk uploads (decoding, signatures); 0: the server checks them
    check_processes: int = 1
    sqlite_cache_mib: int = 64  # SQLite's page cache per connection (filled as pages are read)
    limits: Limits = field(default_factory=Limits)
    rules: Rules = field(default_factory=Rules)

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None) -> ServerConfig:
        return cls.from_dict(_read(path), os.environ if env is None else env)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], env: Mapping[str, str]) -> ServerConfig:
        config: ServerConfig = _build(cls, data, "", env)
        _check_listen(config.listen)
        return config


def _check_listen(address: str) -> None:
    """Refuse a ``listen`` address that is not ``HOST:PORT`` (port 0 to 65535; an IPv6 host in
    brackets) or a ``unix:PATH`` socket: gRPC would otherwise fail only once the database is
    open, or bind a port of its own choosing for one out of range."""
    if address.startswith(("unix:", "unix-abstract:")):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise InputError(
            f"config: listen: {address!r} is not HOST:PORT (e.g. 127.0.0.1:7443 or [::]:7443)"
        )
    if int(port) > 65535:
        raise InputError(f"config: listen: port {port} is out of range (0 to 65535)")


def load_rules(path: Path | None = None, env: Mapping[str, str] | None = None) -> Rules:
    """The consortium's rules for a client: the ``[rules]`` table of the server's TOML file
    (when given), overridden by ``ARREARS_RULES_*`` variables, as the server reads them. Only
    that table is read, so a client needs no other server setting."""
    data = _read(path).get("rules", {})
    if not isinstance(data, Mapping):
        raise InputError(f"config: {path}: [rules] must be a table")
    rules: Rules = _build(Rules, data, "rules.", os.environ if env is None else env)
    return rules


def _read(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"config: cannot read {path}: {e}") from None


_NESTED: dict[str, type[Any]] = {"limits": Limits, "rules": Rules}


def _build(kind: type[Any], values: Mapping[str, Any], prefix: str, env: Mapping[str, str]) -> Any:
    """``kind`` from a TOML table, each field overridden by ``ARREARS_<PREFIX_NAME>``."""
    kwargs: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(kind)}
    for k in values:
        if k not in known:
            raise InputError(f"config: unknown setting {prefix}{k}")
    for name, f in known.items():
        nested = _NESTED.get(name) if kind is ServerConfig else None
        if nested is not None:
            table = values.get(name, {})
            if not isinstance(table, Mapping):
                raise InputError(f"config: {name}: must be a [{name}] table, not {table!r}")
            kwargs[name] = _build(nested, table, f"{name}.", env)
            continue
        env_key = "ARREARS_" + (prefix + name).replace(".", "_").upper()
        raw = env.get(env_key, values.get(name))
        if raw is None:
            continue
        kwargs[name] = _coerce(f"{prefix}{name}", raw, f.default)
    return kind(**kwargs)


def _coerce(name: str, raw: Any, default: Any) -> Any:
    try:
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise InputError(f"config: {name}: cannot use {raw!r}") from None
