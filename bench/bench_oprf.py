"""OPRF throughput on one core: client blind+finalize, server evaluation, VOPRF batches.

Targets: a lender's client blinds and finalizes at least 2,000 identifiers/s; the
server evaluates at least 2,000 blinded elements/s one at a time, and at least
5,000 elements/s in VOPRF batches of 100 with one batch proof each.
"""

from __future__ import annotations

import os
import time

from arrears.ledger import oprf
from arrears.ledger.oprf import Mode, ServerKey
from bench import report

CLIENT_ROUNDS = 3000
SERVER_ROUNDS = 4000
BATCH_SIZE = 100
BATCHES = 40

CLIENT_TARGET = 2000.0
SERVER_TARGET = 2000.0
BATCH_TARGET = 5000.0


def _identifiers(count: int) -> list[bytes]:
    # 18-character resident-ID-shaped inputs.
    return [os.urandom(9).hex().upper()[:18].encode() for _ in range(count)]


def _client_rate(key: ServerKey) -> float:
    """blind + finalize per second; the server's evaluation is not timed."""
    inputs = _identifiers(CLIENT_ROUNDS)
    t0 = time.perf_counter()
    blinded = [oprf.blind(data, key.mode) for data in inputs]
    blind_seconds = time.perf_counter() - t0
    evaluated = [key.blind_evaluate(element) for _, element in blinded]
    t0 = time.perf_counter()
    for data, (blind, _), element in zip(inputs, blinded, evaluated, strict=True):
        oprf.finalize(data, blind, element, key.mode)
    finalize_seconds = time.perf_counter() - t0
    return report.rate(CLIENT_ROUNDS, blind_seconds + finalize_seconds)


def _server_rate(key: ServerKey) -> float:
    elements = [oprf.blind(data, key.mode)[1] for data in _identifiers(SERVER_ROUNDS)]
    t0 = time.perf_counter()
    for element in elements:
        key.blind_evaluate(element)
    return report.rate(SERVER_ROUNDS, time.perf_counter() - t0)


def _batch_rate(key: ServerKey) -> float:
    elements = [oprf.blind(data, key.mode)[1] for data in _identifiers(BATCH_SIZE * BATCHES)]
    batches = [elements[i : i + BATCH_SIZE] for i in range(0, len(elements), BATCH_SIZE)]
    t0 = time.perf_counter()
    for batch in batches:
        _, proof = key.blind_evaluate_batch(batch)
        assert proof is not None
    return report.rate(len(elements), time.perf_counter() - t0)


def main() -> None:
    report.section("OPRF (RFC 9497, ristretto255-SHA512), one core")
    oprf_key = ServerKey.generate(Mode.OPRF)
    voprf_key = ServerKey.generate(Mode.VOPRF)

    value = _client_rate(oprf_key)
    report.figure(
        "client blind + finalize (OPRF mode)",
        value,
        "/s",
        f"≥ {CLIENT_TARGET:,.0f}/s",
        value >= CLIENT_TARGET,
    )
    value = _server_rate(oprf_key)
    report.figure(
        "server blind_evaluate, one element per call",
        value,
        "/s",
        f"≥ {SERVER_TARGET:,.0f}/s",
        value >= SERVER_TARGET,
    )
    value = _batch_rate(voprf_key)
    report.figure(
        f"server batch evaluation, VOPRF, {BATCH_SIZE} per batch + proof",
        value,
        "elements/s",
        f"≥ {BATCH_TARGET:,.0f}/s",
        value >= BATCH_TARGET,
    )


if __name__ == "__main__":
    main()
