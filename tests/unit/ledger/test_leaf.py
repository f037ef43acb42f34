"""The canonical leaf: its byte layout, strict decoding, and the hash chain through it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger.errors import ChainError, EncodingError, InputError, VerificationError
from arrears.ledger.leaf import (
    INDEX_SLICE,
    KEY_ID_SIZE,
    LEAF_VERSION,
    MAX_PAYLOAD,
    MAX_SIGNATURE,
    PREV_HASH_SLICE,
    ZERO_HASH,
    Leaf,
    chain_hashes,
    check_chain,
)

SETTINGS = settings(max_examples=200, deadline=None)

leaves = st.builds(
    Leaf,
    index=st.integers(0, 2**63 - 1),
    prev_leaf_hash=st.binary(min_size=32, max_size=32),
    integrated_at_us=st.integers(0, 2**63 - 1),
    key_id=st.binary(min_size=KEY_ID_SIZE, max_size=KEY_ID_SIZE),
    payload=st.binary(max_size=300),
    signature=st.binary(max_size=100),
)

SAMPLE = Leaf(
    index=0x0102030405060708,
    prev_leaf_hash=bytes(range(100, 132)),
    integrated_at_us=0x1112131415161718,
    key_id=bytes(range(200, 232)),
    payload=b"payload bytes",
    signature=b"sig" * 20,
)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chain(n: int, start: int = 0, prev: bytes = ZERO_HASH) -> list[bytes]:
    """n encoded leaves that each commit to their predecessor's leaf hash."""
    out = []
    for i in range(start, start + n):
        data = Leaf(i, prev, 1_700_000_000_000_000 + i, bytes(32), b"p%d" % i, b"s").encode()
        out.append(data)
        prev = sha256(b"\x00" + data)
    return out


def first_broken(run: list[bytes], **kwargs: object) -> int:
    with pytest.raises(ChainError) as caught:
        check_chain(run, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, VerificationError)
    assert f"{caught.value.index}" in str(caught.value)
    return caught.value.index


def flipped(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- layout --------------------------------------------------------------------------------------


def test_documented_byte_offsets() -> None:
    data = SAMPLE.encode()
    n, s = len(SAMPLE.payload), len(SAMPLE.signature)
    assert data[0] == LEAF_VERSION == 1
    assert data[1:9] == bytes.fromhex("0102030405060708")
    assert data[9:41] == SAMPLE.prev_leaf_hash
    assert data[41:49] == bytes.fromhex("1112131415161718")
    assert data[49:81] == SAMPLE.key_id
    assert data[81:85] == n.to_bytes(4, "big")
    assert data[85 : 85 + n] == SAMPLE.payload
    assert data[85 + n : 87 + n] == s.to_bytes(2, "big")
    assert data[87 + n :] == SAMPLE.signature
    assert len(data) == 87 + n + s
    assert data[INDEX_SLICE] == data[1:9]
    assert data[PREV_HASH_SLICE] == data[9:41]


def test_empty_payload_and_signature() -> None:
    leaf = Leaf(0, ZERO_HASH, 0, bytes(32), b"", b"")
    data = leaf.encode()
    assert data == b"\x01" + bytes(8) + bytes(32) + bytes(8) + bytes(32) + bytes(4) + bytes(2)
    assert Leaf.decode(data) == leaf


@SETTINGS
@given(leaves)
def test_round_trip(leaf: Leaf) -> None:
    data = leaf.encode()
    assert Leaf.decode(data) == leaf
    assert Leaf.decode(data).encode() == data
    assert data[INDEX_SLICE] == leaf.index.to_bytes(8, "big")
    assert data[PREV_HASH_SLICE] == leaf.prev_leaf_hash


def test_round_trip_at_the_limits() -> None:
    leaf = Leaf(2**63 - 1, b"\xff" * 32, 2**63 - 1, b"\xee" * 32, bytes(MAX_PAYLOAD), bytes(1024))
    assert Leaf.decode(leaf.encode()) == leaf


# --- strict decoding -----------------------------------------------------------------------------


def test_decode_rejects_every_truncation() -> None:
    data = SAMPLE.encode()
    for cut in range(len(data)):
        with pytest.raises(EncodingError, match=r"^leaf: "):
            Leaf.decode(data[:cut])


@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 7])
def test_decode_rejects_extra_bytes(extra: bytes) -> None:
    with pytest.raises(EncodingError, match="signature length does not match"):
        Leaf.decode(SAMPLE.encode() + extra)


@pytest.mark.parametrize("version", [0, 2, 0x7F, 0xFF])
def test_decode_rejects_an_unknown_version(version: int) -> None:
    data = bytes([version]) + SAMPLE.encode()[1:]
    with pytest.raises(EncodingError, match=f"unknown version {version}"):
        Leaf.decode(data)


def test_decode_rejects_inconsistent_lengths() -> None:
    data = bytearray(SAMPLE.encode())
    data[81:85] = (len(SAMPLE.payload) + 100).to_bytes(4, "big")
    with pytest.raises(EncodingError, match="runs past the end"):
        Leaf.decode(bytes(data))
    data = bytearray(SAMPLE.encode())
    data[81:85] = (len(SAMPLE.payload) - 1).to_bytes(4, "big")
    with pytest.raises(EncodingError, match=r"^leaf: "):
        Leaf.decode(bytes(data))


def test_decode_errors_are_input_errors() -> None:
    with pytest.raises(InputError):
        Leaf.decode(b"")


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"prev_leaf_hash": bytes(31)}, "^prev_leaf_hash: must be 32 bytes"),
        ({"prev_leaf_hash": bytes(33)}, "^prev_leaf_hash: must be 32 bytes"),
        ({"key_id": bytes(31)}, "^key_id: must be 32 bytes, got 31"),
        ({"payload": bytes(MAX_PAYLOAD + 1)}, f"^payload: {MAX_PAYLOAD + 1} bytes"),
        ({"signature": bytes(MAX_SIGNATURE + 1)}, f"^signature: {MAX_SIGNATURE + 1} bytes"),
        ({"index": -1}, "index and integrated_at_us"),
        ({"index": 2**63}, "index and integrated_at_us"),
        ({"integrated_at_us": -1}, "index and integrated_at_us"),
        ({"integrated_at_us": 2**63}, "index and integrated_at_us"),
    ],
)
def test_encode_rejects_out_of_range_fields(change: dict[str, object], pattern: str) -> None:
    fields = {
        "index": SAMPLE.index,
        "prev_leaf_hash": SAMPLE.prev_leaf_hash,
        "integrated_at_us": SAMPLE.integrated_at_us,
        "key_id": SAMPLE.key_id,
        "payload": SAMPLE.payload,
        "signature": SAMPLE.signature,
    }
    fields.update(change)
    with pytest.raises(EncodingError, match=pattern):
        Leaf(**fields).encode()  # type: ignore[arg-type]


# --- the hash chain ------------------------------------------------------------------------------


def test_good_chain() -> None:
    run = chain(10)
    hashes = chain_hashes(run)
    assert hashes == [sha256(b"\x00" + d) for d in run]
    assert check_chain(run) == hashes[-1]
    for i, data in enumerate(run):
        leaf = Leaf.decode(data)
        assert leaf.index == i
        assert leaf.prev_leaf_hash == (hashes[i - 1] if i else ZERO_HASH)


def test_chain_checked_in_runs() -> None:
    run = chain(10)
    last = check_chain(run[:4])
    assert check_chain(run[4:], start=4, prev_leaf_hash=last) == check_chain(run)
    assert check_chain([], start=4, prev_leaf_hash=last) == last
    assert check_chain([]) == ZERO_HASH
    assert chain_hashes([]) == []


def test_chain_run_with_the_wrong_start_or_predecessor() -> None:
    run = chain(10)
    last = check_chain(run[:4])
    assert first_broken(run[4:], start=4, prev_leaf_hash=flipped(last, 3)) == 4
    assert first_broken(run[4:], start=5, prev_leaf_hash=last) == 5
    assert first_broken(run[4:]) == 0


@pytest.mark.parametrize("broken", [0, 1, 5, 9])
def test_flipped_bit_in_a_prev_hash_field_names_that_leaf(broken: int) -> None:
    for bit in (0, 7, 100, 255):
        run = chain(10)
        run[broken] = flipped(run[broken], 8 * PREV_HASH_SLICE.start + bit)
        assert first_broken(run) == broken


@SETTINGS
@given(st.integers(2, 12), st.data())
def test_flipped_bit_anywhere_names_the_first_broken_link(n: int, data: st.DataObject) -> None:
    run = chain(n)
    broken = data.draw(st.integers(0, n - 2), label="leaf")
    bit = data.draw(st.integers(0, 8 * len(run[broken]) - 1), label="bit")
    run[broken] = flipped(run[broken], bit)
    in_index_or_prev = INDEX_SLICE.start * 8 <= bit < PREV_HASH_SLICE.stop * 8
    # A changed index or prev-hash field breaks this leaf; anything else breaks the next link.
    assert first_broken(run) == (broken if in_index_or_prev else broken + 1)


@pytest.mark.parametrize("at", [0, 1, 4, 8])
def test_swapped_pair_names_the_first_of_the_pair(at: int) -> None:
    run = chain(10)
    run[at], run[at + 1] = run[at + 1], run[at]
    assert first_broken(run) == at


@pytest.mark.parametrize("at", [0, 1, 4, 8])
def test_deleted_leaf_names_its_position(at: int) -> None:
    run = chain(10)
    del run[at]
    assert first_broken(run) == at


def test_inserted_leaf_names_its_position() -> None:
    run = chain(10)
    run.insert(3, run[3])
    assert first_broken(run) == 4


@pytest.mark.parametrize("at", [0, 3, 9])
def test_wrong_index_field_names_that_leaf(at: int) -> None:
    run = chain(10)
    data = bytearray(run[at])
    data[INDEX_SLICE] = (at + 1).to_bytes(8, "big")
    run[at] = bytes(data)
    with pytest.raises(ChainError, match=f"leaf at position {at} carries another index") as e:
        check_chain(run)
    assert e.value.index == at


def test_chain_error_message_names_the_index() -> None:
    run = chain(5)
    run[3] = flipped(run[3], 8 * 9)
    with pytest.raises(ChainError, match="hash chain broken at index 3"):
        check_chain(run)


def test_chain_rejects_a_truncated_leaf() -> None:
    run = chain(3)
    run[1] = run[1][:20]
    assert first_broken(run) == 1
