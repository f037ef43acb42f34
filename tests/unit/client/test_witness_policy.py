"""A witness policy counts cosignatures by key (name and key id), never by name: a second key
under a witness's name, the log's own signature, or a key listed twice cannot stand in for a
witness that did not cosign."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from arrears.client.trust import Trust, WitnessPolicy
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InputError, VerificationError
from arrears.ledger.note import CosignatureSigner, Ed25519Signer, Signer, sign_note

ORIGIN = "arrears.test/ledger"
LOG = Ed25519Signer.generate(ORIGIN)
BODY = Checkpoint(ORIGIN, 5, hashlib.sha256(b"x").digest()).body()


def witness(name: str) -> CosignatureSigner:
    return CosignatureSigner(name, Ed25519PrivateKey.generate())


def note(*cosigners: Signer) -> bytes:
    return sign_note(BODY, [LOG, *cosigners])


def test_two_keys_under_one_name_need_a_cosignature_by_each() -> None:
    k1, k2 = witness("regulator"), witness("regulator")  # the same name, two keys
    t = Trust(
        LOG.verifier_key,
        witness_policy=WitnessPolicy(any_of=[k1.verifier, k2.verifier], threshold=2),
    )
    with pytest.raises(VerificationError, match="cosigned by 1 of"):
        t.accept(note(k1), witnessed=True)
    assert t.accept(note(k1, k2), witnessed=True).size == 5


def test_a_policy_listing_a_key_twice_is_refused() -> None:
    bank = witness("bank-x")
    with pytest.raises(InputError, match="listed twice"):
        WitnessPolicy(any_of=[bank.verifier, bank.verifier], threshold=2)
    with pytest.raises(InputError, match="listed twice"):
        WitnessPolicy(required=[bank.verifier], any_of=[bank.verifier], threshold=1)


def test_a_witness_named_like_the_log_is_refused_and_never_met_by_the_logs_signature() -> None:
    as_log = witness(ORIGIN)
    policy = WitnessPolicy(required=[as_log.verifier])
    with pytest.raises(InputError, match="like the log"):
        Trust(LOG.verifier_key, witness_policy=policy)
    # Counted by key, the log's own signature does not meet it either.
    with pytest.raises(VerificationError, match="not cosigned"):
        policy.check({(LOG.name, LOG.key_id)})
