"""The ledger on SQLite and PostgreSQL at a million entries, and the tree alone at ten million.

Figures and targets:

* durable batched appends (``Log.append_batch``, 10,000 per batch): at least 50,000 leaves/s;
* one entry per call through the group commit, 64 threads calling ``Log.append``: at least
  5,000 appends/s;
* inclusion and consistency proofs from a cold process (new engine, empty tile cache):
  p99 at most 2 ms;
* verifying a proof: at most 100 µs;
* inclusion proof p50 at 10 M leaves against 10 k leaves: at most 2x;
* re-verifying the whole stored log (``verify_log``): at least 500,000 entries/s;
* bytes on disk per entry: information.

``ARREARS_BENCH_QUICK=1`` (or ``python -m bench --quick``) divides the entry counts by ten.
``ARREARS_BENCH_PG`` names the PostgreSQL server's admin database
(default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from arrears.ledger import tiles
from arrears.ledger.log import Appended, Entry, Log
from arrears.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.sql import SqlStorage
from arrears.ledger.storage import MemoryStorage
from arrears.ledger.verify import verify_log
from bench import report

BATCH = 10_000
THREADS = 64
PROOFS = 2_000
VERIFY_ROUNDS = 2_000

APPEND_BATCH_TARGET = 50_000.0
GROUP_COMMIT_TARGET = 5_000.0
PROOF_P99_TARGET_MS = 2.0
VERIFY_PROOF_TARGET_US = 100.0
SCALING_TARGET = 2.0
VERIFY_LOG_TARGET = 500_000.0

KEY_ID_BYTES = 32
PAYLOAD_BYTES = 150
SIGNATURE_BYTES = 64

PG_ADMIN_URL = os.environ.get("ARREARS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    entries: int
    group_appends: int
    small_tree: int
    large_tree: int


def _sizes() -> Sizes:
    if os.environ.get("ARREARS_BENCH_QUICK", "") not in ("", "0"):
        return Sizes(100_000, 2_000, 10_000, 1_000_000)
    return Sizes(1_000_000, 20_000, 10_000, 10_000_000)


def info(name: str, value: float, unit: str, note: str = "information") -> None:
    """A figure printed for information: it has no target and is not counted."""
    print(f"  [info] {name:<58} {value:>14,.3f} {unit:<10} {note}", flush=True)


def progress(text: str) -> None:
    print(f"  .. {text}", flush=True)


def _entries(count: int) -> list[Entry]:
    width = KEY_ID_BYTES + PAYLOAD_BYTES + SIGNATURE_BYTES
    raw = os.urandom(width * count)
    a, b = KEY_ID_BYTES, KEY_ID_BYTES + PAYLOAD_BYTES
    return [
        Entry(raw[o : o + a], raw[o + a : o + b], raw[o + b : o + width])
        for o in range(0, width * count, width)
    ]


# --- the appends -------------------------------------------------------------------------


def _build(label: str, log: Log, total: int) -> None:
    """Bring the log to ``total`` entries in batches of BATCH; print the rate of the appends."""
    spent = 0.0
    done = log.head().size
    step = max(total // 10, BATCH)
    next_report = done + step
    while done < total:
        entries = _entries(min(BATCH, total - done))
        t0 = time.perf_counter()
        log.append_batch(entries)
        spent += time.perf_counter() - t0
        done += len(entries)
        if done >= next_report or done == total:
            progress(f"{done:>10,} entries, {report.rate(done, spent):,.0f} leaves/s so far")
            next_report += step
    value = report.rate(total, spent)
    report.figure(
        f"{label}: durable append_batch of {BATCH:,}, to {total:,}",
        value,
        "leaves/s",
        f"≥ {APPEND_BATCH_TARGET:,.0f}/s",
        value >= APPEND_BATCH_TARGET,
    )


def _group_commit(label: str, log: Log, count: int) -> None:
    """``count`` appends, one per call, from THREADS threads at once."""
    per_thread = [count // THREADS + (1 if i < count % THREADS else 0) for i in range(THREADS)]
    work = [_entries(n) for n in per_thread]
    latencies: list[list[float]] = [[] for _ in range(THREADS)]
    results: list[list[Appended]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def worker(i: int) -> None:
        try:
            start.wait()
            lat, res = latencies[i], results[i]
            for entry in work[i]:
                t0 = time.perf_counter()
                res.append(log.append(entry))
                lat.append(time.perf_counter() - t0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    value = report.rate(count, seconds)
    report.figure(
        f"{label}: group commit, {THREADS} threads, {count:,} appends",
        value,
        "appends/s",
        f"≥ {GROUP_COMMIT_TARGET:,.0f}/s",
        value >= GROUP_COMMIT_TARGET,
    )
    flat = [x for lat in latencies for x in lat]
    commits = len({a.tree_size for res in results for a in res})
    info("  append latency p50", report.percentile(flat, 50) * 1e3, "ms")
    info("  append latency p99", report.percentile(flat, 99) * 1e3, "ms")
    info("  mean entries per commit", count / max(commits, 1), "entries")


# --- proofs from a cold process ----------------------------------------------------------


def cold_proofs(url: str, kind: str, size: int, count: int, seed: int) -> dict[str, object]:
    """Run in a fresh process: open a new storage and time ``count`` random proofs."""
    t0 = time.perf_counter()
    storage = SqlStorage.open(url)
    opened = time.perf_counter() - t0
    rng = random.Random(seed)
    read = storage.read_tiles
    samples: list[float] = []
    try:
        if kind == "inclusion":
            for _ in range(count):
                index = rng.randrange(size)
                t0 = time.perf_counter()
                tiles.inclusion_proof(index, size, read)
                samples.append(time.perf_counter() - t0)
        else:
            for _ in range(count):
                old = rng.randrange(1, size)
                t0 = time.perf_counter()
                tiles.consistency_proof(old, size, read)
                samples.append(time.perf_counter() - t0)
    finally:
        storage.close()
    return {"open_s": opened, "samples": samples}


_COLD_CHILD = (
    "import json, sys\n"
    "from bench.bench_ledger import cold_proofs\n"
    "url, kind, size, count, seed = sys.argv[1:6]\n"
    "print(json.dumps(cold_proofs(url, kind, int(size), int(count), int(seed))))\n"
)


def _cold_proof_figures(label: str, url: str, size: int) -> None:
    for kind in ("inclusion", "consistency"):
        args = [url, kind, str(size), str(PROOFS), str(random.randrange(1 << 30))]
        done = subprocess.run(
            [sys.executable, "-c", _COLD_CHILD, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"  cold {kind} proofs failed:\n{done.stderr}", flush=True)
            continue
        out = json.loads(done.stdout.strip().splitlines()[-1])
        samples = [s * 1e3 for s in out["samples"]]
        p99 = report.percentile(samples, 99)
        report.figure(
            f"{label}: {kind} proof p99, cold, at {size:,}",
            p99,
            "ms",
            f"≤ {PROOF_P99_TARGET_MS:g} ms",
            p99 <= PROOF_P99_TARGET_MS,
        )
        info(f"  {kind} proof p50", report.percentile(samples, 50), "ms")
        info(f"  {kind} proof, the first one", samples[0], "ms")
        info("  SqlStorage.open in the new process", out["open_s"] * 1e3, "ms")


# --- proof verification ------------------------------------------------------------------


def _verification(storage: SqlStorage, log: Log) -> None:
    head = log.head()
    size, root = head.size, head.root
    rng = random.Random()
    inclusion = []
    for _ in range(VERIFY_ROUNDS):
        index = rng.randrange(size)
        (leaf,) = storage.read_leaves(index, index + 1)
        inclusion.append((index, leaf_hash(leaf), log.inclusion_proof(index, size)))
    t0 = time.perf_counter()
    for index, lh, proof in inclusion:
        verify_inclusion(index, size, lh, proof, root)
    value = (time.perf_counter() - t0) / VERIFY_ROUNDS * 1e6
    report.figure(
        f"verify_inclusion per proof, tree of {size:,}",
        value,
        "µs",
        f"≤ {VERIFY_PROOF_TARGET_US:g} µs",
        value <= VERIFY_PROOF_TARGET_US,
    )

    consistency = []
    for _ in range(VERIFY_ROUNDS):
        old = rng.randrange(1, size)
        old_root = tiles.tree_root(old, storage.read_tiles)
        consistency.append((old, old_root, log.consistency_proof(old, size)))
    t0 = time.perf_counter()
    for old, old_root, proof in consistency:
        verify_consistency(old, size, old_root, root, proof)
    value = (time.perf_counter() - t0) / VERIFY_ROUNDS * 1e6
    report.figure(
        f"verify_consistency per proof, to a tree of {size:,}",
        value,
        "µs",
        f"≤ {VERIFY_PROOF_TARGET_US:g} µs",
        value <= VERIFY_PROOF_TARGET_US,
    )


# --- the whole log again -----------------------------------------------------------------


def _verify_whole(label: str, url: str, signer: Ed25519Signer) -> None:
    """As `arrears verify` does it: segments in 2 processes (the figure), and one pass."""
    storage = SqlStorage.open(url)
    try:
        t0 = time.perf_counter()
        verified = verify_log(storage, [signer.verifier], workers=2, opener=storage.opener())
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        verify_log(storage, [signer.verifier])
        serial = time.perf_counter() - t0
    finally:
        storage.close()
    value = report.rate(verified.size, seconds)
    report.figure(
        f"{label}: verify_log, 2 processes, {verified.size:,} entries",
        value,
        "entries/s",
        f"≥ {VERIFY_LOG_TARGET:,.0f}/s",
        value >= VERIFY_LOG_TARGET,
    )
    print(
        f"  [info]   one process: {report.rate(verified.size, serial):,.0f} entries/s",
        flush=True,
    )


# --- one backend -------------------------------------------------------------------------


def _backend(label: str, url: str, sizes: Sizes, *, verification: bool) -> int:
    """Build, append, prove and verify on ``url``; return the final log size."""
    signer = Ed25519Signer.generate("bench.arrears.example/log")
    storage = SqlStorage.open(url)
    log = Log(storage, signer)
    try:
        progress(f"building the log to {sizes.entries:,} entries")
        _build(label, log, sizes.entries)
        progress(f"{sizes.group_appends:,} appends from {THREADS} threads")
        _group_commit(label, log, sizes.group_appends)
        size = log.head().size
        progress(f"cold proofs at {size:,}, each kind in a new process")
        _cold_proof_figures(label, url, size)
        if verification:
            progress("proof verification")
            _verification(storage, log)
    finally:
        log.close()
        storage.close()
    progress(f"verify_log over {size:,} entries")
    _verify_whole(label, url, signer)
    return size


def _sqlite(sizes: Sizes) -> None:
    report.section(f"Ledger on SQLite (file, WAL, synchronous=FULL), {sizes.entries:,} entries")
    with tempfile.TemporaryDirectory(prefix="arrears-bench-") as tmp:
        path = Path(tmp) / "ledger.db"
        size = _backend("SQLite", f"sqlite:///{path}", sizes, verification=True)
        on_disk = sum(
            p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
        info("database size on disk (file + WAL)", on_disk / 2**20, "MiB")
        info("  per entry", on_disk / size, "bytes")


def _pg_admin() -> psycopg.Connection[tuple[Any, ...]] | None:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except Exception as exc:
        reason = " ".join(str(exc).split())
        print(f"  skipped: PostgreSQL at {PG_ADMIN_URL} is unreachable ({reason})", flush=True)
        return None


def _postgres(sizes: Sizes) -> None:
    report.section(f"Ledger on PostgreSQL, {sizes.entries:,} entries")
    admin = _pg_admin()
    if admin is None:
        return
    name = f"arrears_bench_{os.urandom(6).hex()}"
    with admin:
        version = admin.execute("SHOW server_version").fetchone()
        settings = {
            k: admin.execute(f"SHOW {k}").fetchone()
            for k in ("fsync", "synchronous_commit", "shared_buffers")
        }
        shown = ", ".join(f"{k}={v[0] if v else '?'}" for k, v in settings.items())
        print(f"  PostgreSQL {version[0] if version else '?'}: {shown}", flush=True)
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            size = _backend("PG", f"{base}/{name}", sizes, verification=False)
            row = admin.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
            on_disk = int(row[0]) if row else 0
            info("pg_database_size", on_disk / 2**20, "MiB")
            info("  per entry", on_disk / size, "bytes")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the tree alone at ten million -------------------------------------------------------


def _memory_tree(leaves: int) -> MemoryStorage:
    """Only the tiles of a tree of ``leaves`` random leaf hashes."""
    storage = MemoryStorage()
    edge = tiles.RightEdge()
    chunk = 1 << 16
    done = 0
    step = max(leaves // 5, chunk)
    next_report = step
    t0 = time.perf_counter()
    while done < leaves:
        n = min(chunk, leaves - done)
        raw = os.urandom(32 * n)
        result = tiles.integrate(edge, [raw[o : o + 32] for o in range(0, 32 * n, 32)])
        storage.tiles.update(result.tiles)
        edge = result.edge
        done += n
        if done >= next_report and leaves >= 1_000_000:
            progress(f"{done:>12,} leaf hashes integrated, {time.perf_counter() - t0:.1f} s")
            next_report += step
    return storage


def _inclusion_p50(storage: MemoryStorage, size: int) -> float:
    rng = random.Random()
    read = storage.read_tiles
    samples = []
    for _ in range(PROOFS):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        tiles.inclusion_proof(index, size, read)
        samples.append(time.perf_counter() - t0)
    return report.percentile(samples, 50) * 1e6


def _scaling(sizes: Sizes) -> None:
    report.section(
        f"Proof cost against tree size, tiles in memory ({sizes.small_tree:,} vs "
        f"{sizes.large_tree:,} leaves)"
    )
    small = _memory_tree(sizes.small_tree)
    progress(f"integrating {sizes.large_tree:,} leaf hashes")
    large = _memory_tree(sizes.large_tree)
    p50_small = _inclusion_p50(small, sizes.small_tree)
    p50_large = _inclusion_p50(large, sizes.large_tree)
    info(f"inclusion proof p50 at {sizes.small_tree:,}", p50_small, "µs")
    info(f"inclusion proof p50 at {sizes.large_tree:,}", p50_large, "µs")
    ratio = p50_large / p50_small
    report.figure(
        f"inclusion proof p50, {sizes.large_tree:,} / {sizes.small_tree:,}",
        ratio,
        "x",
        f"≤ {SCALING_TARGET:g}x",
        ratio <= SCALING_TARGET,
    )


def main() -> None:
    sizes = _sizes()
    failed = []
    for section in (_sqlite, _postgres, _scaling):
        try:
            section(sizes)
        except Exception:
            traceback.print_exc()
            failed.append(section.__name__.strip("_"))
    if failed:
        raise RuntimeError(f"ledger benchmark sections failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
