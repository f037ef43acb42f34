"""Record states as earlier versions stored them: rows in these formats stay in databases
written before, and every reader must read them as they did (unit and storage tests)."""

from __future__ import annotations

from datetime import date

from arrears.ledger.records import Dispute, RecordRef, RecordState, Status

# A state as format 1 stored it (a JSON object with short keys): databases written before
# format 2 hold these, and they must read as they did.
FORMAT_1 = (
    '{"m":"bank-a","r":"L-1001","c":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d'
    '1e1f","sk":1,"lt":2,"cur":"CNY","p":5000000,"o":4200050,"dpd":45,"b":2,"fm":"2026-09-01",'
    '"cs":1,"n":"2026-10-01","ra":7,"ro":"2026-10-20","st":"settled","so":"2026-11-21","sk2":1,'
    '"wr":"","sup":false,"er":false,"d":[["D-42","2026-11-02",9,"repaid in June",2,'
    '"2026-11-10",12]],"e":[7,9,12,15]}'
)


# The same state as format 2 stored it (every field, in order).
FORMAT_2 = (
    '[2,["bank-a","L-1001"],"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",'
    '1,2,"CNY",5000000,4200050,45,2,"2026-09-01",1,"2026-10-01",7,"2026-10-20","settled",'
    '"2026-11-21",1,"",false,false,[["D-42","2026-11-02",9,"repaid in June",2,"2026-11-10",12]],'
    "[7,9,12,15]]"
)
FORMAT_1_STATE = RecordState(
    RecordRef("bank-a", "L-1001"),
    bytes(range(32)),
    1,
    2,
    "CNY",
    5000000,
    4200050,
    45,
    2,
    date(2026, 9, 1),
    1,
    date(2026, 10, 1),
    7,
    date(2026, 10, 20),
    Status.SETTLED,
    date(2026, 11, 21),
    1,
    "",
    False,
    False,
    (Dispute("D-42", date(2026, 11, 2), 9, "repaid in June", 2, date(2026, 11, 10), 12),),
    (7, 9, 12, 15),
)
