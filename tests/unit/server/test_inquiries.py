"""Inquiry-log entries: the payload framed once per caller must be byte for byte the
deterministic protobuf serialisation, and every inquiry gets its own fresh salt."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger.pseudonym import SALT_SIZE, Pseudonym, subject_commitment
from arrears.server.node import (
    InquirySequencer,
    Lookup,
    inquiry_payload,
    inquiry_payload_frame,
)
from arrears.v1 import events_pb2 as pb

SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(
    member_id=st.text(max_size=140),
    at_unix_ms=st.integers(-(2**63), 2**63 - 1),
    commitment=st.binary(min_size=32, max_size=32),
    purpose=st.integers(-(2**31), 2**31 - 1),
    consent_reference=st.text(max_size=200),
)
def test_framed_payload_is_protobufs_own(
    member_id: str, at_unix_ms: int, commitment: bytes, purpose: int, consent_reference: str
) -> None:
    head, tail = inquiry_payload_frame(member_id, at_unix_ms, purpose, consent_reference)
    framed = head + commitment + tail
    assert framed == inquiry_payload(member_id, at_unix_ms, commitment, purpose, consent_reference)
    parsed = pb.Inquiry.FromString(framed)
    assert (
        parsed.member_id,
        parsed.at_unix_ms,
        parsed.subject_commitment,
        parsed.purpose,
        parsed.consent_reference,
    ) == (member_id, at_unix_ms, commitment, purpose, consent_reference)


def _pseudonym(i: int) -> bytes:
    return Pseudonym(1, bytes([i % 256]) * 32).to_bytes()


def test_sequenced_inquiries_open_with_their_own_fresh_salt() -> None:
    lookups = [
        Lookup(f"bank-{i % 3}", _pseudonym(i % 5), 1 + i % 2, f"consent-{i % 4}") for i in range(40)
    ]
    now_us = 1_764_000_000_123_456
    seq = InquirySequencer().sequence(lookups, 1000, now_us)
    assert seq.outcomes == list(range(40))
    assert sorted(seq.changes.inquiries) == list(range(1000, 1040))
    salts = [salt for _, salt in seq.changes.inquiries.values()]
    assert len(set(salts)) == 40 and all(len(s) == SALT_SIZE for s in salts)
    for i, (q, entry) in enumerate(zip(lookups, seq.entries, strict=True)):
        pseudonym, salt = seq.changes.inquiries[1000 + i]
        assert pseudonym == q.pseudonym
        commitment = subject_commitment(salt, Pseudonym.from_bytes(q.pseudonym))
        assert entry.payload == inquiry_payload(
            q.member_id, now_us // 1000, commitment, q.purpose, q.consent_reference
        )
        assert entry.key_id == bytes(32) and entry.signature == b""
