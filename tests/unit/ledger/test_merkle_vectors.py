"""The transparency-dev/merkle RFC 6962 proof vectors (tests/vectors/merkle, see its
ATTRIBUTION.md) run through ``verify_inclusion`` and ``verify_consistency``.

Each file is one probe: the happy path of a published proof, or that proof broken in one way
(``wantErr`` true). Upstream's own consumer is ``proof/verify_test.go``
(``TestVerifyInclusionProbes`` / ``TestVerifyConsistencyProbes``): it walks every ``*.json``
under ``testdata/inclusion`` and ``testdata/consistency``, decodes it with ``encoding/json``
and expects ``VerifyInclusion(leafIdx, treeSize, leafHash, proof, root)`` or
``VerifyConsistency(size1, size2, proof, root1, root2)`` to fail exactly when ``wantErr`` is
true. ``desc`` only labels its messages. This test reads the fields the same way:

* hashes are standard base64 (Go's ``[]byte``); ``null`` decodes to nil, which Go's verifier
  treats like empty bytes, so ``null`` becomes ``b""`` here;
* ``proof: null`` (the one-leaf trees of ``inclusion/0`` and ``consistency/0``, whose proof
  is nil) is a nil slice in Go, i.e. an empty proof, so it becomes ``[]`` here;
* sizes and indices are ``uint64``: a probe that subtracts one from index 0 carries
  ``2**64 - 1``, which reaches our verifier as that large int and must be rejected;
* the generator writes every field (no ``omitempty``), so every key is present.

Upstream's verifier compares roots byte for byte without checking their length. Two
probes rely on that, both in ``consistency/additional``: the ones named
``sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-zero.json`` and ``...-one.json``
pass equal 12-byte placeholder roots with equal sizes and an empty proof, and expect no error.
Our verifier refuses any hash that is not 32 bytes (a root of another length cannot be an
RFC 6962 SHA-256 root), so for exactly those two probes this test expects the refusal instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from arrears.ledger.errors import ArrearsError, InputError
from arrears.ledger.merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "merkle"


def _names(kind: str) -> list[str]:
    """Every vector file of one kind, as its path relative to VECTORS (the test id)."""
    return sorted(p.relative_to(VECTORS).as_posix() for p in (VECTORS / kind).rglob("*.json"))


INCLUSION = _names("inclusion")
CONSISTENCY = _names("consistency")


# Probes where we are deliberately stricter than upstream (see the module docstring).
STRICTER_ON_HASH_LENGTH = {
    "consistency/additional/sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-zero.json",
    "consistency/additional/sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-one.json",
}


def _load(name: str) -> dict[str, Any]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name}: not a JSON object"
    assert isinstance(data["wantErr"], bool), f"{name}: wantErr is not a bool"
    return data


def _hash(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value, validate=True)


def _proof(value: list[str] | None) -> Sequence[bytes]:
    return [] if value is None else [_hash(h) for h in value]


def test_every_vector_file_is_collected() -> None:
    # 98 inclusion and 97 consistency probes at the pinned upstream commit; an empty or
    # partial directory would otherwise just collect fewer cases.
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 97
    for names in (INCLUSION, CONSISTENCY):
        wants = {_load(n)["wantErr"] for n in names}
        assert wants == {False, True}


@pytest.mark.parametrize("name", INCLUSION)
def test_inclusion_vector(name: str) -> None:
    v = _load(name)
    args = (v["leafIdx"], v["treeSize"], _hash(v["leafHash"]), _proof(v["proof"]))
    root = _hash(v["root"])
    if v["wantErr"]:
        with pytest.raises(ArrearsError):
            verify_inclusion(*args, root)
    else:
        verify_inclusion(*args, root)


@pytest.mark.parametrize("name", CONSISTENCY)
def test_consistency_vector(name: str) -> None:
    v = _load(name)
    args = (v["size1"], v["size2"], _hash(v["root1"]), _hash(v["root2"]), _proof(v["proof"]))
    if name in STRICTER_ON_HASH_LENGTH:
        assert len(args[2]) != 32
        with pytest.raises(InputError, match="root1: hash must be 32 bytes"):
            verify_consistency(*args)
    elif v["wantErr"]:
        with pytest.raises(ArrearsError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)
