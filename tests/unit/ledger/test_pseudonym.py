"""Pseudonyms from OPRF outputs, and the salted commitments leaves carry instead."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger import oprf
from arrears.ledger.errors import InputError
from arrears.ledger.pseudonym import (
    SALT_SIZE,
    Pseudonym,
    derive_pseudonym,
    new_salt,
    new_salts,
    subject_commitment,
    subject_commitments,
)

OUTPUT = bytes(range(64))
SALT = b"\xaa" * 32
# Pinned values, checked with coreutils sha256sum / openssl dgst over the same bytes:
#   "arrears/pseudonym/v1" 0x00 || 00000007 || 00 01 .. 3f
PSEUDONYM_EPOCH_7 = "75f8a23dc448d526591eff91c06aaaf9be5e3c6141593fe4d1965ab909d41fd7"
#   "arrears/pseudonym/v1" 0x00 || ffffffff || 00 01 .. 3f
PSEUDONYM_EPOCH_MAX = "33e0cd3104bff026f9f1a2606cec96b340dadc66280aeebe7ee6709430f5e62f"
#   "arrears/subject-commitment/v1" 0x00 || aa * 32 || 00000007 || PSEUDONYM_EPOCH_7
COMMITMENT = "a8ffda9a3801548326c8d50a2fe3a38bb38f7f264eda448e320ca4186ba3fc9e"

SETTINGS = settings(max_examples=50, deadline=None)


def test_pinned_pseudonym() -> None:
    pseudonym = derive_pseudonym(OUTPUT, 7)
    assert pseudonym == Pseudonym(7, bytes.fromhex(PSEUDONYM_EPOCH_7))
    assert derive_pseudonym(OUTPUT, 2**32 - 1).value.hex() == PSEUDONYM_EPOCH_MAX


def test_pinned_commitment() -> None:
    pseudonym = Pseudonym(7, bytes.fromhex(PSEUDONYM_EPOCH_7))
    assert subject_commitment(SALT, pseudonym).hex() == COMMITMENT


def test_definitions_spelled_out() -> None:
    pseudonym = derive_pseudonym(OUTPUT, 7)
    expected = hashlib.sha256(b"arrears/pseudonym/v1\x00" + b"\x00\x00\x00\x07" + OUTPUT).digest()
    assert pseudonym.value == expected
    assert pseudonym.to_bytes() == b"\x00\x00\x00\x07" + expected
    assert (
        subject_commitment(SALT, pseudonym)
        == hashlib.sha256(
            b"arrears/subject-commitment/v1\x00" + SALT + b"\x00\x00\x00\x07" + expected
        ).digest()
    )


def test_pseudonym_from_a_real_oprf_output() -> None:
    key = oprf.ServerKey.derive(bytes(32), b"pseudonyms", oprf.Mode.VOPRF)
    identifier = b"11010519491231002X"
    blind, blinded = oprf.blind(identifier, oprf.Mode.VOPRF)
    evaluated, proof = key.blind_evaluate_batch([blinded])
    assert proof is not None
    [output] = oprf.finalize_batch(
        key.public_key, [identifier], [blind], [blinded], evaluated, proof
    )
    pseudonym = derive_pseudonym(output, 1)
    assert pseudonym == derive_pseudonym(key.evaluate(identifier), 1)
    # No plain hash of the identifier is the pseudonym.
    assert pseudonym.value != hashlib.sha256(identifier).digest()


@SETTINGS
@given(epoch=st.integers(0, 2**32 - 1), value=st.binary(min_size=32, max_size=32))
def test_bytes_round_trip(epoch: int, value: bytes) -> None:
    pseudonym = Pseudonym(epoch, value)
    encoded = pseudonym.to_bytes()
    assert len(encoded) == 36
    assert encoded[:4] == epoch.to_bytes(4, "big")
    assert Pseudonym.from_bytes(encoded) == pseudonym


@SETTINGS
@given(output=st.binary(min_size=64, max_size=64), epoch=st.integers(0, 2**32 - 2))
def test_epochs_rotate_pseudonyms(output: bytes, epoch: int) -> None:
    assert derive_pseudonym(output, epoch).value != derive_pseudonym(output, epoch + 1).value


@SETTINGS
@given(salt=st.binary(min_size=32, max_size=32), other=st.binary(min_size=32, max_size=32))
def test_commitment_depends_on_salt_and_pseudonym(salt: bytes, other: bytes) -> None:
    pseudonym = derive_pseudonym(OUTPUT, 7)
    commitment = subject_commitment(salt, pseudonym)
    assert len(commitment) == 32
    if other != salt:
        assert subject_commitment(other, pseudonym) != commitment
    assert subject_commitment(salt, derive_pseudonym(OUTPUT, 8)) != commitment


def test_new_salt_is_fresh() -> None:
    salts = {new_salt() for _ in range(64)}
    assert len(salts) == 64
    assert all(len(salt) == SALT_SIZE == 32 for salt in salts)


def test_new_salts_are_fresh() -> None:
    salts = new_salts(64) + new_salts(64)
    assert len(set(salts)) == 128
    assert all(type(salt) is bytes and len(salt) == SALT_SIZE for salt in salts)
    assert new_salts(0) == []


@SETTINGS
@given(
    subjects=st.lists(
        st.tuples(
            st.binary(min_size=32, max_size=32),
            st.integers(0, 2**32 - 1),
            st.binary(min_size=32, max_size=32),
        ),
        max_size=8,
    )
)
def test_commitments_in_bulk_are_the_single_ones(
    subjects: list[tuple[bytes, int, bytes]],
) -> None:
    pseudonyms = [Pseudonym(epoch, value) for _, epoch, value in subjects]
    salts = [salt for salt, _, _ in subjects]
    assert subject_commitments(salts, [p.to_bytes() for p in pseudonyms]) == [
        subject_commitment(salt, p) for salt, p in zip(salts, pseudonyms, strict=True)
    ]


def test_commitments_in_bulk_check_sizes() -> None:
    p = derive_pseudonym(OUTPUT, 7).to_bytes()
    with pytest.raises(InputError, match=r"^salt and pseudonym: expected 32 and 36 bytes, got 31"):
        subject_commitments([bytes(31)], [p])
    with pytest.raises(InputError, match=r"^salt and pseudonym: .* got 32 and 32$"):
        subject_commitments([SALT], [p[4:]])
    with pytest.raises(InputError, match=r"^salts: 2 for 1 pseudonyms$"):
        subject_commitments([SALT, SALT], [p])


@pytest.mark.parametrize("salt", [bytes(31), bytes(33), b""])
def test_salt_of_wrong_length(salt: bytes) -> None:
    with pytest.raises(InputError, match=rf"^salt: expected 32 bytes, got {len(salt)}"):
        subject_commitment(salt, derive_pseudonym(OUTPUT, 7))


def test_salt_must_be_bytes() -> None:
    with pytest.raises(InputError, match=r"^salt: expected bytes, got str"):
        subject_commitment("aa" * 16, derive_pseudonym(OUTPUT, 7))  # type: ignore[arg-type]


def test_commitment_needs_a_pseudonym() -> None:
    with pytest.raises(InputError, match=r"^pseudonym: expected a Pseudonym"):
        subject_commitment(SALT, bytes(36))  # type: ignore[arg-type]


@pytest.mark.parametrize("epoch", [-1, 2**32, 1.0, True, "7"])
def test_bad_epoch(epoch: Any) -> None:
    with pytest.raises(InputError, match=r"^epoch: "):
        derive_pseudonym(OUTPUT, epoch)
    with pytest.raises(InputError, match=r"^epoch: "):
        Pseudonym(epoch, bytes(32))


@pytest.mark.parametrize("size", [0, 32, 63, 65])
def test_oprf_output_of_wrong_length(size: int) -> None:
    with pytest.raises(InputError, match=rf"^oprf_output: expected 64 bytes, got {size}"):
        derive_pseudonym(bytes(size), 0)


def test_bad_pseudonym_value_and_encoding() -> None:
    with pytest.raises(InputError, match=r"^value: expected 32 bytes, got 31"):
        Pseudonym(0, bytes(31))
    with pytest.raises(InputError, match=r"^pseudonym: expected 36 bytes, got 35"):
        Pseudonym.from_bytes(bytes(35))


def test_pseudonym_is_frozen() -> None:
    pseudonym = derive_pseudonym(OUTPUT, 7)
    with pytest.raises(AttributeError):
        pseudonym.epoch = 8  # type: ignore[misc]
