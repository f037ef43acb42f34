"""RFC 9497 OPRF / VOPRF, suite ristretto255-SHA512: vectors, properties, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger import oprf
from arrears.ledger.errors import InputError, OprfError
from arrears.ledger.oprf import Mode, ServerKey

VECTORS_PATH = Path(__file__).resolve().parents[2] / "vectors" / "oprf" / "ristretto255-sha512.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
SUITES: list[dict[str, Any]] = VECTORS["suites"]
# The order of ristretto255, little-endian: the smallest non-canonical scalar.
ORDER_LE = (2**252 + 27742317777372353535851937790883648493).to_bytes(32, "little")

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)


def _hexes(value: str) -> list[bytes]:
    return [bytes.fromhex(part) for part in value.split(",")]


def _cases() -> list[Any]:
    cases = []
    for suite in SUITES:
        for vector in suite["vectors"]:
            cases.append(pytest.param(suite, vector, id=vector["section"]))
    return cases


CASES = _cases()


def _key(suite: dict[str, Any]) -> ServerKey:
    seed = bytes.fromhex(suite["Seed"])
    info = bytes.fromhex(suite["KeyInfo"])
    return ServerKey.derive(seed, info, Mode(suite["mode"]))


# ---------------------------------------------------------------------------
# RFC 9497 Appendix A.1 vectors
# ---------------------------------------------------------------------------


def test_vector_file_covers_both_modes_and_the_batch() -> None:
    assert VECTORS["identifier"] == "ristretto255-SHA512"
    assert "RFC 9497" in VECTORS["attribution"]
    assert sorted(suite["mode"] for suite in SUITES) == [0, 1]
    assert sum(len(suite["vectors"]) for suite in SUITES) == 5
    assert any(vector["Batch"] == 2 for suite in SUITES for vector in suite["vectors"])


@pytest.mark.parametrize("suite", SUITES, ids=[s["section"] for s in SUITES])
def test_group_dst_matches_the_context_string(suite: dict[str, Any]) -> None:
    context = b"OPRFV1-" + bytes([suite["mode"]]) + b"-ristretto255-SHA512"
    assert bytes.fromhex(suite["groupDST"]) == b"HashToGroup-" + context


@pytest.mark.parametrize("suite", SUITES, ids=[s["section"] for s in SUITES])
def test_derive_key_pair(suite: dict[str, Any]) -> None:
    key = _key(suite)
    assert key.secret.hex() == suite["skSm"]
    assert key.mode == suite["mode"]
    if "pkSm" in suite:
        assert key.public_key.hex() == suite["pkSm"]
    # The key from the secret alone is the same key.
    assert ServerKey(bytes.fromhex(suite["skSm"]), Mode(suite["mode"])) == key


@pytest.mark.parametrize(("suite", "vector"), CASES)
def test_blind(suite: dict[str, Any], vector: dict[str, Any]) -> None:
    mode = Mode(suite["mode"])
    inputs, blinds = _hexes(vector["Input"]), _hexes(vector["Blind"])
    blinded = _hexes(vector["BlindedElement"])
    assert len(inputs) == len(blinds) == len(blinded) == vector["Batch"]
    for data, blind_scalar, expected in zip(inputs, blinds, blinded, strict=True):
        assert oprf.blind(data, mode, blind_scalar=blind_scalar) == (blind_scalar, expected)


@pytest.mark.parametrize(("suite", "vector"), CASES)
def test_blind_evaluate(suite: dict[str, Any], vector: dict[str, Any]) -> None:
    key = _key(suite)
    blinded = _hexes(vector["BlindedElement"])
    evaluated = _hexes(vector["EvaluationElement"])
    for element, expected in zip(blinded, evaluated, strict=True):
        assert key.blind_evaluate(element) == expected
    if key.mode is Mode.OPRF:
        assert key.blind_evaluate_batch(blinded) == (evaluated, None)
    else:
        r = bytes.fromhex(vector["Proof"]["r"])
        got, proof = key.blind_evaluate_batch(blinded, proof_scalar=r)
        assert got == evaluated
        assert proof is not None
        assert proof.hex() == vector["Proof"]["proof"]


@pytest.mark.parametrize(("suite", "vector"), CASES)
def test_finalize(suite: dict[str, Any], vector: dict[str, Any]) -> None:
    mode = Mode(suite["mode"])
    inputs, blinds = _hexes(vector["Input"]), _hexes(vector["Blind"])
    evaluated, outputs = _hexes(vector["EvaluationElement"]), _hexes(vector["Output"])
    for data, blind_scalar, element, expected in zip(
        inputs, blinds, evaluated, outputs, strict=True
    ):
        assert oprf.finalize(data, blind_scalar, element, mode) == expected


@pytest.mark.parametrize(("suite", "vector"), CASES)
def test_evaluate(suite: dict[str, Any], vector: dict[str, Any]) -> None:
    key = _key(suite)
    for data, expected in zip(_hexes(vector["Input"]), _hexes(vector["Output"]), strict=True):
        assert key.evaluate(data) == expected


@pytest.mark.parametrize(("suite", "vector"), [c for c in CASES if c.values[0]["mode"] == 1])
def test_verify_and_finalize_batch(suite: dict[str, Any], vector: dict[str, Any]) -> None:
    public_key = bytes.fromhex(suite["pkSm"])
    blinded = _hexes(vector["BlindedElement"])
    evaluated = _hexes(vector["EvaluationElement"])
    proof = bytes.fromhex(vector["Proof"]["proof"])
    oprf.verify_proof(public_key, blinded, evaluated, proof)
    outputs = oprf.finalize_batch(
        public_key, _hexes(vector["Input"]), _hexes(vector["Blind"]), blinded, evaluated, proof
    )
    assert outputs == _hexes(vector["Output"])


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

KEYS = {mode: ServerKey.generate(mode) for mode in Mode}
VOPRF_KEY = KEYS[Mode.VOPRF]


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=256), mode=st.sampled_from(Mode))
def test_oblivious_evaluation_equals_direct_evaluation(data: bytes, mode: Mode) -> None:
    key = KEYS[mode]
    blind_scalar, blinded = oprf.blind(data, mode)
    assert oprf.finalize(data, blind_scalar, key.blind_evaluate(blinded), mode) == key.evaluate(
        data
    )


@PROPERTY_SETTINGS
@given(inputs=st.lists(st.binary(max_size=64), min_size=1, max_size=5))
def test_verifiable_batch_equals_direct_evaluation(inputs: list[bytes]) -> None:
    pairs = [oprf.blind(data, Mode.VOPRF) for data in inputs]
    blinds, blinded = [p[0] for p in pairs], [p[1] for p in pairs]
    evaluated, proof = VOPRF_KEY.blind_evaluate_batch(blinded)
    assert proof is not None
    outputs = oprf.finalize_batch(VOPRF_KEY.public_key, inputs, blinds, blinded, evaluated, proof)
    assert outputs == [VOPRF_KEY.evaluate(data) for data in inputs]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _batch(size: int) -> tuple[list[bytes], list[bytes], bytes]:
    blinded = [oprf.blind(bytes([i]) * 9, Mode.VOPRF)[1] for i in range(size)]
    evaluated, proof = VOPRF_KEY.blind_evaluate_batch(blinded)
    assert proof is not None
    return blinded, evaluated, proof


BATCH = _batch(3)


@PROPERTY_SETTINGS
@given(bit=st.integers(0, 8 * oprf.PROOF_SIZE - 1))
def test_flipped_proof_bit_is_rejected(bit: int) -> None:
    blinded, evaluated, proof = BATCH
    oprf.verify_proof(VOPRF_KEY.public_key, blinded, evaluated, proof)
    with pytest.raises(OprfError, match=r"^proof: "):
        oprf.verify_proof(VOPRF_KEY.public_key, blinded, evaluated, _flip(proof, bit))


@PROPERTY_SETTINGS
@given(index=st.integers(0, 2), bit=st.integers(0, 255))
def test_flipped_evaluated_element_bit_is_rejected(index: int, bit: int) -> None:
    blinded, evaluated, proof = BATCH
    tampered = list(evaluated)
    tampered[index] = _flip(tampered[index], bit)
    with pytest.raises(OprfError, match=r"^(proof|evaluated_elements\[\d\]): "):
        oprf.verify_proof(VOPRF_KEY.public_key, blinded, tampered, proof)


@PROPERTY_SETTINGS
@given(index=st.integers(0, 2), bit=st.integers(0, 255))
def test_flipped_blinded_element_bit_is_rejected(index: int, bit: int) -> None:
    blinded, evaluated, proof = BATCH
    tampered = list(blinded)
    tampered[index] = _flip(tampered[index], bit)
    with pytest.raises(OprfError, match=r"^(proof|blinded_elements\[\d\]): "):
        oprf.verify_proof(VOPRF_KEY.public_key, tampered, evaluated, proof)


def test_proof_under_another_key_is_rejected() -> None:
    blinded, evaluated, proof = BATCH
    other = ServerKey.generate(Mode.VOPRF)
    with pytest.raises(OprfError, match=r"^proof: does not verify"):
        oprf.verify_proof(other.public_key, blinded, evaluated, proof)


def test_reordered_batch_is_rejected() -> None:
    blinded, evaluated, proof = BATCH
    with pytest.raises(OprfError, match=r"^proof: "):
        oprf.verify_proof(VOPRF_KEY.public_key, blinded[::-1], evaluated[::-1], proof)


def test_evaluation_under_another_key_fails_the_proof() -> None:
    blinded, _, proof = BATCH
    other = ServerKey.generate(Mode.VOPRF)
    forged = [other.blind_evaluate(element) for element in blinded]
    with pytest.raises(OprfError, match=r"^proof: "):
        oprf.verify_proof(VOPRF_KEY.public_key, blinded, forged, proof)


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=64), mode=st.sampled_from(Mode))
def test_different_keys_give_different_outputs(data: bytes, mode: Mode) -> None:
    other = ServerKey.generate(mode)
    assert other.evaluate(data) != KEYS[mode].evaluate(data)


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=64))
def test_modes_are_domain_separated(data: bytes) -> None:
    secret = KEYS[Mode.OPRF].secret
    assert ServerKey(secret, Mode.OPRF).evaluate(data) != ServerKey(secret, Mode.VOPRF).evaluate(
        data
    )


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=64))
def test_blinding_hides_the_input(data: bytes) -> None:
    _, first = oprf.blind(data, Mode.OPRF)
    _, second = oprf.blind(data, Mode.OPRF)
    assert first != second


def test_generated_keys_and_proofs_are_fresh() -> None:
    assert ServerKey.generate(Mode.OPRF).secret != ServerKey.generate(Mode.OPRF).secret
    blinded, _, proof = BATCH
    assert VOPRF_KEY.blind_evaluate_batch(blinded)[1] != proof


def test_derive_depends_on_seed_info_and_mode() -> None:
    seed = bytes(range(32))
    key = ServerKey.derive(seed, b"info", Mode.OPRF)
    assert key == ServerKey.derive(seed, b"info", Mode.OPRF)
    assert key.secret != ServerKey.derive(seed, b"other", Mode.OPRF).secret
    assert key.secret != ServerKey.derive(bytes(32), b"info", Mode.OPRF).secret
    assert key.secret != ServerKey.derive(seed, b"info", Mode.VOPRF).secret


def test_secret_is_not_in_repr() -> None:
    key = KEYS[Mode.OPRF]
    assert key.secret.hex() not in repr(key)
    assert repr(key.secret) not in repr(key)


# ---------------------------------------------------------------------------
# Malformed input: every rejection names its field
# ---------------------------------------------------------------------------

VALID_ELEMENT = KEYS[Mode.OPRF].public_key
IDENTITY = bytes(32)
# All-ones is not a canonical field element, so not a point encoding.
INVALID_POINT = b"\xff" * 32
# A canonical field element whose square root is negative: no ristretto255 point.
NEGATIVE_S = b"\x01" + bytes(31)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (VALID_ELEMENT[:31], InputError, "expected 32 bytes, got 31"),
        (VALID_ELEMENT + b"\x00", InputError, "expected 32 bytes, got 33"),
        ("00" * 32, InputError, "expected bytes"),
        (IDENTITY, OprfError, "identity element"),
        (INVALID_POINT, OprfError, "not a valid ristretto255 point"),
        (NEGATIVE_S, OprfError, "not a valid ristretto255 point"),
    ],
)
def test_bad_blinded_element(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=rf"^blinded_element: .*{message}"):
        KEYS[Mode.OPRF].blind_evaluate(value)
    with pytest.raises(error, match=rf"^blinded_elements\[1\]: .*{message}"):
        KEYS[Mode.VOPRF].blind_evaluate_batch([VALID_ELEMENT, value])


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (bytes(31), InputError, "expected 32 bytes, got 31"),
        (bytes(32), OprfError, "zero scalar"),
        (ORDER_LE, OprfError, "not a canonical scalar"),
        (b"\xff" * 32, OprfError, "not a canonical scalar"),
    ],
)
def test_bad_scalars(value: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=rf"^secret: .*{message}"):
        ServerKey(value, Mode.OPRF)
    with pytest.raises(error, match=rf"^blind_scalar: .*{message}"):
        oprf.blind(b"x", Mode.OPRF, blind_scalar=value)
    with pytest.raises(error, match=rf"^blind: .*{message}"):
        oprf.finalize(b"x", value, VALID_ELEMENT, Mode.OPRF)
    with pytest.raises(error, match=rf"^proof_scalar: .*{message}"):
        VOPRF_KEY.blind_evaluate_batch([VALID_ELEMENT], proof_scalar=value)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (IDENTITY, OprfError, "identity element"),
        (INVALID_POINT, OprfError, "not a valid ristretto255 point"),
        (VALID_ELEMENT[:16], InputError, "expected 32 bytes"),
    ],
)
def test_bad_evaluated_element(value: bytes, error: type[Exception], message: str) -> None:
    blind_scalar, _ = oprf.blind(b"x", Mode.OPRF)
    with pytest.raises(error, match=rf"^evaluated_element: .*{message}"):
        oprf.finalize(b"x", blind_scalar, value, Mode.OPRF)


def test_input_too_long() -> None:
    data = bytes(oprf.MAX_INPUT_SIZE + 1)
    with pytest.raises(InputError, match=r"^input: 65536 bytes"):
        oprf.blind(data, Mode.OPRF)
    with pytest.raises(InputError, match=r"^input: "):
        KEYS[Mode.OPRF].evaluate(data)
    with pytest.raises(InputError, match=r"^input: "):
        oprf.finalize(data, KEYS[Mode.OPRF].secret, VALID_ELEMENT, Mode.OPRF)
    # The longest allowed input works.
    assert len(KEYS[Mode.OPRF].evaluate(data[:-1])) == oprf.OUTPUT_SIZE


def test_input_must_be_bytes() -> None:
    with pytest.raises(InputError, match=r"^input: expected bytes, got str"):
        oprf.blind("12345", Mode.OPRF)  # type: ignore[arg-type]
    secret = KEYS[Mode.OPRF].secret
    from_bytearray = oprf.blind(bytearray(b"ab"), Mode.OPRF, blind_scalar=secret)  # type: ignore[arg-type]
    assert from_bytearray == oprf.blind(b"ab", Mode.OPRF, blind_scalar=secret)


def test_bad_mode() -> None:
    with pytest.raises(InputError, match=r"^mode: 2 is not an RFC 9497 mode"):
        oprf.blind(b"x", 2)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^mode: "):
        ServerKey.generate(7)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^mode: "):
        ServerKey(KEYS[Mode.OPRF].secret, 3)  # type: ignore[arg-type]


def test_bad_derive_arguments() -> None:
    with pytest.raises(InputError, match=r"^seed: expected 32 bytes, got 31"):
        ServerKey.derive(bytes(31), b"", Mode.OPRF)
    with pytest.raises(InputError, match=r"^info: 65536 bytes"):
        ServerKey.derive(bytes(32), bytes(65536), Mode.OPRF)


def test_bad_batches() -> None:
    key = KEYS[Mode.VOPRF]
    with pytest.raises(InputError, match=r"^blinded_elements: empty batch"):
        key.blind_evaluate_batch([])
    with pytest.raises(InputError, match=r"^blinded_elements: expected a sequence"):
        key.blind_evaluate_batch(VALID_ELEMENT)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^proof_scalar: only used in VOPRF mode"):
        KEYS[Mode.OPRF].blind_evaluate_batch([VALID_ELEMENT], proof_scalar=key.secret)


def test_bad_proof_arguments() -> None:
    blinded, evaluated, proof = BATCH
    pk = VOPRF_KEY.public_key
    with pytest.raises(InputError, match=r"^proof: expected 64 bytes, got 63"):
        oprf.verify_proof(pk, blinded, evaluated, proof[:63])
    with pytest.raises(InputError, match=r"^evaluated_elements: 2 elements for 3 blinded"):
        oprf.verify_proof(pk, blinded, evaluated[:2], proof)
    with pytest.raises(InputError, match=r"^blinded_elements: empty batch"):
        oprf.verify_proof(pk, [], [], proof)
    with pytest.raises(OprfError, match=r"^public_key: the identity element"):
        oprf.verify_proof(IDENTITY, blinded, evaluated, proof)
    with pytest.raises(OprfError, match=r"^public_key: not a valid ristretto255 point"):
        oprf.verify_proof(INVALID_POINT, blinded, evaluated, proof)
    with pytest.raises(OprfError, match=r"^proof: not a canonical scalar"):
        oprf.verify_proof(pk, blinded, evaluated, ORDER_LE + proof[32:])
    with pytest.raises(OprfError, match=r"^proof: the zero scalar"):
        oprf.verify_proof(pk, blinded, evaluated, proof[:32] + bytes(32))


def test_bad_finalize_batch_arguments() -> None:
    blinded, evaluated, proof = BATCH
    pk = VOPRF_KEY.public_key
    blinds = [VOPRF_KEY.secret] * 3
    with pytest.raises(InputError, match=r"^inputs: 2 inputs for 3 evaluated elements"):
        oprf.finalize_batch(pk, [b"a", b"b"], blinds, blinded, evaluated, proof)
    with pytest.raises(InputError, match=r"^blinds: 1 blinds for 3 evaluated elements"):
        oprf.finalize_batch(pk, [b"a", b"b", b"c"], blinds[:1], blinded, evaluated, proof)
    with pytest.raises(OprfError, match=r"^blinds\[2\]: the zero scalar"):
        oprf.finalize_batch(
            pk, [b"a", b"b", b"c"], [*blinds[:2], bytes(32)], blinded, evaluated, proof
        )
    # The proof is checked before anything is unblinded.
    with pytest.raises(OprfError, match=r"^proof: "):
        oprf.finalize_batch(pk, [b"a", b"b", b"c"], blinds, blinded, evaluated, _flip(proof, 0))
