"""A writer process for the crash tests: appends from many threads until it is killed.

Prints ``ACK <index> <leaf hash hex>`` for every acknowledged entry, flushed at once, so the
test knows exactly what was acknowledged before the SIGKILL.
"""

from __future__ import annotations

import os
import sys
import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.ledger.log import Entry, Log
from arrears.ledger.note import Ed25519Signer
from arrears.ledger.sql import SqlStorage


def main() -> None:
    url, seed_hex, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signer = Ed25519Signer(
        "arrears.test/crash", Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    )
    storage = SqlStorage.open(url)
    log = Log(storage, signer, max_batch=64)
    out = sys.stdout
    lock = threading.Lock()
    print("READY", flush=True)

    def work(k: int) -> None:
        i = 0
        while True:
            a = log.append(Entry(k.to_bytes(32, "big"), os.urandom(100), i.to_bytes(64, "big")))
            with lock:
                out.write(f"ACK {a.index} {a.leaf_hash.hex()}\n")
                out.flush()
            i += 1

    for k in range(threads):
        threading.Thread(target=work, args=(k,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
