"""Prometheus metrics of the server (served on ``metrics_port`` when configured)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

APPENDS = Counter("arrears_appends_total", "Entries appended to the ledger")
LOOKUPS = Counter("arrears_lookups_total", "Subjects looked up", ["member"])
OPRF = Counter("arrears_oprf_evaluations_total", "Blinded elements evaluated", ["member"])
ALERTS = Counter("arrears_watch_alerts_total", "Watch alerts delivered")
WATCH_CATCHUPS = Counter(
    "arrears_watch_catchups_total",
    "Times a watch stream fell a full queue behind and caught up from the ledger",
)
ERRORS = Counter("arrears_errors_total", "Refused or failed calls", ["method", "error"])
LATENCY = Histogram(
    "arrears_call_seconds",
    "Time to answer a unary call",
    ["method"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0),
)
BATCH_SIZE = Histogram(
    "arrears_batch_entries",
    "Entries per committed ledger batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
TREE_SIZE = Gauge("arrears_tree_size", "Entries in the ledger")
OVERDUE_DISPUTES = Gauge("arrears_overdue_disputes", "Open disputes past their deadline")
