"""The server as an operator runs it: health, reflection, configuration, graceful shutdown,
metrics."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from arrears.client.testing import LocalConsortium
from arrears.ledger.errors import InputError
from arrears.ledger.records import Rules
from arrears.ledger.sql import SqlStorage
from arrears.server.app import build_node
from arrears.server.config import ServerConfig, load_rules
from arrears.server.pki import create_dev_pki

ID = "11010519491231002X"


def channel(net: LocalConsortium, member: str = "bank-a") -> grpc.Channel:
    files = net.pki.member(member)
    creds = grpc.ssl_channel_credentials(
        net.pki.ca.read_bytes(), files.key.read_bytes(), files.cert.read_bytes()
    )
    return grpc.secure_channel(
        net.target, creds, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def test_health_and_reflection() -> None:
    with LocalConsortium() as net, channel(net) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "arrears.v1.Lookup", "arrears.v1.Submissions"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        (resp,) = list(
            refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
        )
        names = {s.name for s in resp.list_services_response.service}
        assert {
            "arrears.v1.Lookup",
            "arrears.v1.Log",
            "arrears.v1.Watch",
            "grpc.health.v1.Health",
        } <= names


def test_config_from_file_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "arrears.toml"
    f.write_text(
        'listen = "127.0.0.1:9999"\norigin = "bank.example/ledger"\n'
        "[limits]\nlookups_per_second = 5\n[rules]\nretention_years = 6\n"
    )
    cfg = ServerConfig.load(
        f, env={"ARREARS_LISTEN": "127.0.0.1:0", "ARREARS_LIMITS_LOOKUP_BURST": "9"}
    )
    assert cfg.listen == "127.0.0.1:0"  # the environment wins
    assert cfg.origin == "bank.example/ledger"
    assert (cfg.limits.lookups_per_second, cfg.limits.lookup_burst) == (5.0, 9.0)
    assert cfg.rules.retention_years == 6
    f.write_text("lisen = 1\n")
    with pytest.raises(InputError, match="unknown setting lisen"):
        ServerConfig.load(f, env={})
    f.write_text("[limits]\nmax_batch = 'many'\n")
    with pytest.raises(InputError, match=r"limits\.max_batch"):
        ServerConfig.load(f, env={})


def test_a_client_reads_only_the_rules_of_the_servers_file(tmp_path: Path) -> None:
    f = tmp_path / "arrears.toml"
    f.write_text(
        'listen = "127.0.0.1:9999"\nlog_key = "/nowhere"\n'
        "[rules]\nretention_years = 3\nutc_offset_minutes = -300\n"
    )
    rules = load_rules(f, env={"ARREARS_RULES_DISPUTE_DEADLINE_DAYS": "30"})
    assert (rules.retention_years, rules.utc_offset_minutes) == (3, -300)
    assert rules.dispute_deadline_days == 30  # the environment's, as the server reads it
    assert load_rules(None, env={}) == Rules()  # no file, no variables: the defaults
    # The server's other settings are not the client's business, even misspelt ones.
    f.write_text("lisen = 1\n[rules]\nretention_years = 4\n")
    assert load_rules(f, env={}).retention_years == 4
    f.write_text("[rules]\nretention_year = 4\n")
    with pytest.raises(InputError, match=r"unknown setting rules\.retention_year"):
        load_rules(f, env={})
    f.write_text("rules = 5\n")
    with pytest.raises(InputError, match="must be a table"):
        load_rules(f, env={})
    with pytest.raises(InputError, match="cannot read"):
        load_rules(tmp_path / "missing.toml", env={})


def test_sqlite_cache_setting_reaches_the_servers_connections(tmp_path: Path) -> None:
    pki = create_dev_pki(tmp_path / "pki", ["operator"])
    config = ServerConfig.from_dict(
        {
            "database_url": f"sqlite:///{tmp_path / 'ledger.db'}",
            "log_key": str(pki.log_key),
            "oprf_key": str(pki.oprf_key),
        },
        {"ARREARS_SQLITE_CACHE_MIB": "8"},
    )
    assert config.sqlite_cache_mib == 8
    node = build_node(config)
    try:
        with node.storage.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -8 * 1024
    finally:
        node.close()


def test_graceful_shutdown_commits_what_it_acknowledged(tmp_path: Path) -> None:
    net = LocalConsortium(directory=tmp_path)
    net.start()
    net.clock.set(date(2026, 11, 20))
    a = net.client("bank-a")
    done: list[int] = []
    errors: list[BaseException] = []

    def report(i: int) -> None:
        try:
            r = a.report(
                ID,
                f"L-{i}",
                principal_minor=1000,
                outstanding_minor=900,
                days_past_due=40,
                first_missed_payment=date(2026, 9, 1),
                borrower_notified_on=date(2026, 10, 1),
            )
            done.append(r.index)
        except BaseException as e:  # calls refused by the shutdown are fine; lost ones are not
            errors.append(e)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads[:10]:
        t.join()
    running = net._running
    assert running is not None
    asyncio.run_coroutine_threadsafe(running.stop(5.0), net._loop).result()
    net._running = None
    for t in threads:
        t.join()
    storage = SqlStorage.open(net.database_url)
    size = storage.head().size
    assert done and all(i < size for i in done)  # every acknowledged report is in the ledger
    storage.close()
    net.stop()


def test_metrics_count_calls() -> None:
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("arrears_appends_total") or 0.0
    batches = REGISTRY.get_sample_value("arrears_batch_entries_count") or 0.0
    with LocalConsortium() as net:
        net.clock.set(date(2026, 11, 20))
        net.client("bank-a").report(
            ID,
            "L-1",
            principal_minor=1000,
            outstanding_minor=900,
            days_past_due=40,
            first_missed_payment=date(2026, 9, 1),
            borrower_notified_on=date(2026, 10, 1),
        )
        assert (REGISTRY.get_sample_value("arrears_appends_total") or 0.0) >= before + 1
        assert REGISTRY.get_sample_value("arrears_tree_size") == net.node.ledger.log.head().size
        # the admissions and the report, each committed in a batch of its own
        assert (REGISTRY.get_sample_value("arrears_batch_entries_count") or 0.0) >= batches + 2
