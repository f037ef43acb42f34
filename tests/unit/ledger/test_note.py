"""Signed notes and cosignatures: the golang.org/x/mod/sumdb/note example, the signed-note
rules for opening, strict parsing, verifier keys and cosignature/v1."""

from __future__ import annotations

import base64
import hashlib
import string
import struct
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from arrears.ledger.errors import NoteError, SignatureError
from arrears.ledger.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    NoteSignature,
    add_signatures,
    b64decode_canonical,
    cosigned_message,
    key_id,
    open_note,
    parse_verifier_key,
    sign_note,
    split_note,
)

# The example in the package documentation of golang.org/x/mod/sumdb/note (note.go and
# example_test.go). Go writes a private key as PRIVATE+KEY+<name>+<key id>+base64(0x01 || seed).
NEUMANN_SIGNER_KEY = (
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
)
NEUMANN_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
NEUMANN_KEY_ID = 0xC74F20A3
NEUMANN_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
NEUMANN_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
NEUMANN_NOTE = NEUMANN_TEXT + b"\n" + f"— PeterNeumann {NEUMANN_SIGNATURE}\n".encode()
# ExampleSign_add_signatures: a second signer whose key Go generates from a reader of zeros.
ENOCH_SIGNATURE = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
ENOCH_NOTE = NEUMANN_NOTE + f"— EnochRoot {ENOCH_SIGNATURE}\n".encode()

BODY = b"example.test/log\n7\n" + base64.b64encode(bytes(range(32))) + b"\n"
B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def neumann_signer() -> Ed25519Signer:
    _, _, name, kid, encoded = NEUMANN_SIGNER_KEY.split("+", 4)
    raw = base64.b64decode(encoded)
    assert (name, kid, raw[0], len(raw)) == ("PeterNeumann", "c74f20a3", 0x01, 33)
    return Ed25519Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))


def seeded(name: str, seed: int) -> Ed25519Signer:
    return Ed25519Signer(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def witness(name: str = "witness.example.test", seed: int = 9) -> CosignatureSigner:
    return CosignatureSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


LOG = seeded("example.test/log", 1)
OTHER = seeded("other.example.test", 2)


def non_canonical(encoded: str) -> str:
    """The same bytes in base64 with a padding bit set: a second, non-canonical spelling."""
    i = len(encoded.rstrip("=")) - 1
    assert i < len(encoded) - 1, "needs padding"
    changed = encoded[:i] + B64_ALPHABET[B64_ALPHABET.index(encoded[i]) | 1] + encoded[i + 1 :]
    assert changed != encoded
    assert base64.b64decode(changed) == base64.b64decode(encoded)
    return changed


def signature_line(name: str, kid: int, signature: bytes) -> bytes:
    return NoteSignature(name, kid, signature).line().encode()


# --- the published example -----------------------------------------------------------------------


def test_go_example_key_name_and_verifier_key() -> None:
    signer = neumann_signer()
    assert signer.name == "PeterNeumann"
    assert signer.key_id == NEUMANN_KEY_ID
    assert signer.verifier_key == NEUMANN_VERIFIER_KEY


def test_go_example_note_is_reproduced_exactly() -> None:
    assert sign_note(NEUMANN_TEXT, [neumann_signer()]) == NEUMANN_NOTE


def test_go_example_note_opens() -> None:
    verifier = parse_verifier_key(NEUMANN_VERIFIER_KEY)
    assert isinstance(verifier, Ed25519Verifier)
    assert (verifier.name, verifier.key_id) == ("PeterNeumann", NEUMANN_KEY_ID)
    note = open_note(NEUMANN_NOTE, [verifier])
    assert note.body == NEUMANN_TEXT
    assert note.verified == ("PeterNeumann",)
    assert [(s.name, s.key_id) for s in note.signatures] == [("PeterNeumann", NEUMANN_KEY_ID)]
    assert note.text() == NEUMANN_NOTE


def test_go_example_added_signature_is_reproduced_exactly() -> None:
    enoch = Ed25519Signer("EnochRoot", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    extra = NoteSignature(enoch.name, enoch.key_id, enoch.sign(NEUMANN_TEXT))
    assert add_signatures(NEUMANN_NOTE, [extra]) == ENOCH_NOTE
    note = open_note(ENOCH_NOTE, [parse_verifier_key(NEUMANN_VERIFIER_KEY), enoch.verifier])
    assert note.verified == ("PeterNeumann", "EnochRoot")


def test_key_id_definition() -> None:
    signer = neumann_signer()
    public = signer.verifier.public_key
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()
    assert key_id("PeterNeumann", ALG_ED25519, public) == int.from_bytes(digest[:4], "big")


# --- opening ------------------------------------------------------------------------------------


def test_open_ignores_unknown_signers() -> None:
    note = sign_note(BODY, [OTHER, LOG, seeded("example.test/log", 3)])
    opened = open_note(note, [LOG.verifier])
    assert opened.verified == ("example.test/log",)
    assert opened.body == BODY
    assert len(opened.signatures) == 3  # kept, not trusted
    assert opened.text() == note


def test_open_ignores_an_unknown_signature_even_when_it_is_garbage() -> None:
    note = sign_note(BODY, [LOG]) + signature_line("stranger", 1234, b"\x00" * 10)
    assert open_note(note, [LOG.verifier]).verified == ("example.test/log",)


def test_open_rejects_a_bad_signature_by_a_known_key() -> None:
    sig = LOG.sign(BODY)
    for bad in (
        bytes([sig[0] ^ 1]) + sig[1:],
        sig[:-1] + bytes([sig[-1] ^ 0x80]),
        sig[:63],
        sig + b"\x00",
        b"\x00",
    ):
        note = BODY + b"\n" + signature_line(LOG.name, LOG.key_id, bad)
        with pytest.raises(SignatureError, match=r"invalid signature by example.test/log"):
            open_note(note, [LOG.verifier])


def test_open_rejects_a_bad_known_signature_beside_a_good_one() -> None:
    note = sign_note(BODY, [LOG]) + signature_line(OTHER.name, OTHER.key_id, bytes(64))
    with pytest.raises(SignatureError, match=r"invalid signature by other\.example\.test"):
        open_note(note, [LOG.verifier, OTHER.verifier])


def test_open_rejects_a_changed_body() -> None:
    note = sign_note(BODY, [LOG])
    with pytest.raises(SignatureError, match="invalid signature"):
        open_note(note.replace(b"\n7\n", b"\n8\n"), [LOG.verifier])


def test_open_rejects_a_note_with_no_known_signer() -> None:
    note = sign_note(BODY, [OTHER])
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(note, [LOG.verifier])
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(note, [])
    # Same name, another key: a different key id, so not the known key.
    impostor = seeded(LOG.name, 99)
    with pytest.raises(SignatureError, match="no signature by a known key"):
        open_note(sign_note(BODY, [impostor]), [LOG.verifier])


def test_open_counts_a_signer_once() -> None:
    line = signature_line(LOG.name, LOG.key_id, LOG.sign(BODY))
    note = BODY + b"\n" + line + line
    assert open_note(note, [LOG.verifier]).verified == ("example.test/log",)


def test_a_body_may_contain_a_blank_line() -> None:
    body = b"first\n\nsecond\n"
    opened = open_note(sign_note(body, [LOG]), [LOG.verifier])
    assert opened.body == body


def test_open_accepts_100_signatures() -> None:
    strangers = b"".join(signature_line(f"s{i}", i, bytes(64)) for i in range(MAX_SIGNATURES - 1))
    note = sign_note(BODY, [LOG]) + strangers
    assert len(split_note(note)[1]) == MAX_SIGNATURES == 100
    assert open_note(note, [LOG.verifier]).verified == ("example.test/log",)


def test_open_rejects_more_than_100_signatures() -> None:
    strangers = b"".join(signature_line(f"s{i}", i, bytes(64)) for i in range(MAX_SIGNATURES))
    note = sign_note(BODY, [LOG]) + strangers
    with pytest.raises(NoteError, match="101 signatures, at most 100"):
        open_note(note, [LOG.verifier])


# --- malformed notes ----------------------------------------------------------------------------

GOOD = sign_note(BODY, [LOG])
GOOD_LINE = GOOD[len(BODY) + 1 :]
GOOD_B64 = GOOD_LINE.decode().split(" ")[2].rstrip("\n")


@pytest.mark.parametrize(
    ("note", "pattern"),
    [
        (BODY + GOOD_LINE, "no blank line"),
        (GOOD[:-1], "must end in a newline"),
        (BODY + b"\n", "must end in a newline"),
        (BODY + b"\n" + GOOD_LINE + b"\n", "signature block must end in a newline"),
        (GOOD.replace(b"\n7\n", b"\n7\t\n"), "control character"),
        (GOOD.replace(b"\n7\n", b"\n7\r\n"), "control character"),
        (GOOD.replace(b"\n7\n", b"\n\x007\n"), "control character"),
        (GOOD.replace(b"\n7\n", b"\n\x1b7\n"), "control character"),
        (GOOD.replace(b"\n7\n", b"\n7\x7f\n"), "control character"),
        (GOOD.replace(b"\n7\n", b"\n\xff7\n"), "not UTF-8"),
        (BODY + b"\n" + GOOD_LINE.replace("—".encode(), b"-"), "does not start with"),
        (BODY + b"\n" + GOOD_LINE.replace("— ".encode(), "—".encode()), "does not start"),
        (BODY + b"\n " + GOOD_LINE, "does not start with"),
        (BODY + b"\n" + GOOD_LINE.replace(b" ", b"  ", 1), "wants a name and a signature"),
        (BODY + b"\n" + f"— {LOG.name}\n".encode(), "wants a name and a signature"),
        (BODY + b"\n" + f"— a b {GOOD_B64}\n".encode(), "wants a name and a signature"),
        (BODY + b"\n" + f"— {LOG.name} {GOOD_B64} x\n".encode(), "wants a name and"),
        (BODY + b"\n" + f"— {LOG.name} !!{GOOD_B64[2:]}\n".encode(), "not base64"),
        (BODY + b"\n" + f"— {LOG.name} {GOOD_B64.rstrip('=')}\n".encode(), "not base64"),
        (BODY + b"\n" + f"— {LOG.name} {non_canonical(GOOD_B64)}\n".encode(), "non-canonical"),
        (BODY + b"\n" + f"— {LOG.name} AAAA\n".encode(), "too short"),
        (BODY + b"\n" + f"— a+b {GOOD_B64}\n".encode(), "key name"),
    ],
)
def test_malformed_notes_raise_note_error(note: bytes, pattern: str) -> None:
    with pytest.raises(NoteError, match=pattern):
        open_note(note, [LOG.verifier])
    with pytest.raises(NoteError, match=pattern):
        split_note(note)


def test_the_good_note_used_above_opens() -> None:
    assert open_note(GOOD, [LOG.verifier]).verified == (LOG.name,)


def test_sign_note_checks_the_body_and_signers() -> None:
    with pytest.raises(NoteError, match="must end in a newline"):
        sign_note(b"no newline", [LOG])
    with pytest.raises(NoteError, match="control character"):
        sign_note(b"tab\there\n", [LOG])
    with pytest.raises(NoteError, match="not UTF-8"):
        sign_note(b"\xff\n", [LOG])
    with pytest.raises(NoteError, match="no signers"):
        sign_note(BODY, [])


def test_b64decode_canonical() -> None:
    assert b64decode_canonical("f", "AAEC") == b"\x00\x01\x02"
    assert b64decode_canonical("f", b"AAEC", size=3) == b"\x00\x01\x02"
    with pytest.raises(NoteError, match=r"^f: non-canonical base64"):
        b64decode_canonical("f", "AAF=")
    with pytest.raises(NoteError, match=r"^f: not base64"):
        b64decode_canonical("f", "AAE")
    with pytest.raises(NoteError, match=r"^f: not base64"):
        b64decode_canonical("f", "AA\nEC")
    with pytest.raises(NoteError, match=r"^f: not base64"):
        b64decode_canonical("f", "AAÉC")
    with pytest.raises(NoteError, match=r"^f: not base64"):
        b64decode_canonical("f", b"AA\xc3\x89C")
    with pytest.raises(NoteError, match=r"^f: must decode to 4 bytes, got 3"):
        b64decode_canonical("f", "AAEC", size=4)


# --- key names and verifier keys -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\nb", "a\x00b", "a\u2028b"])
def test_bad_key_names_are_rejected(name: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    with pytest.raises(NoteError, match="key name"):
        Ed25519Signer(name, key)
    with pytest.raises(NoteError, match="key name"):
        CosignatureSigner(name, key)
    with pytest.raises(NoteError, match="key name"):
        Ed25519Verifier(name, bytes(32))


def test_public_keys_must_be_32_bytes() -> None:
    with pytest.raises(NoteError, match="must be 32 bytes, got 31"):
        Ed25519Verifier("a", bytes(31))
    with pytest.raises(NoteError, match="must be 32 bytes, got 33"):
        CosignatureVerifier("a", bytes(33))


def test_verifier_keys_round_trip() -> None:
    for signer in (LOG, OTHER, neumann_signer()):
        parsed = parse_verifier_key(signer.verifier_key)
        assert parsed == signer.verifier
        assert isinstance(parsed, Ed25519Verifier)
    w = witness()
    parsed = parse_verifier_key(w.verifier_key)
    assert isinstance(parsed, CosignatureVerifier)
    assert parsed == w.verifier


def vkey_with(name: str, kid: str, alg: int, public: bytes) -> str:
    return f"{name}+{kid}+{base64.b64encode(bytes([alg]) + public).decode()}"


def test_parse_verifier_key_rejects_a_wrong_key_id() -> None:
    name, kid, key = NEUMANN_VERIFIER_KEY.split("+")
    wrong = f"{int(kid, 16) ^ 1:08x}"
    with pytest.raises(NoteError, match=f"key id {wrong} does not match the key"):
        parse_verifier_key(f"{name}+{wrong}+{key}")
    # Right key id, but for the other key type.
    public = neumann_signer().verifier.public_key
    cosig_kid = f"{key_id(name, ALG_COSIGNATURE_V1, public):08x}"
    with pytest.raises(NoteError, match="does not match the key"):
        parse_verifier_key(vkey_with(name, cosig_kid, ALG_ED25519, public))
    # Another name with the same key.
    with pytest.raises(NoteError, match="does not match the key"):
        parse_verifier_key(f"PeterNeumanm+{kid}+{key}")


@pytest.mark.parametrize("alg", [0x00, 0x02, 0x03, 0x05, 0xFF])
def test_parse_verifier_key_rejects_a_bad_type_byte(alg: int) -> None:
    public = neumann_signer().verifier.public_key
    vkey = vkey_with("PeterNeumann", f"{key_id('PeterNeumann', alg, public):08x}", alg, public)
    with pytest.raises(NoteError, match="type byte"):
        parse_verifier_key(vkey)


@pytest.mark.parametrize(
    ("vkey", "pattern"),
    [
        ("PeterNeumann+c74f20a+" + NEUMANN_VERIFIER_KEY.split("+")[2], "8 lower-case hex"),
        ("PeterNeumann+c74f20a3a+" + NEUMANN_VERIFIER_KEY.split("+")[2], "8 lower-case hex"),
        ("PeterNeumann+C74F20A3+" + NEUMANN_VERIFIER_KEY.split("+")[2], "8 lower-case hex"),
        ("PeterNeumann+c74f20g3+" + NEUMANN_VERIFIER_KEY.split("+")[2], "8 lower-case hex"),
        ("PeterNeumann+-74f20a3+" + NEUMANN_VERIFIER_KEY.split("+")[2], "8 lower-case hex"),
        ("Peter+Neumann+" + NEUMANN_VERIFIER_KEY.split("+", 1)[1], "8 lower-case hex"),
        ("Peter Neumann+" + NEUMANN_VERIFIER_KEY.split("+", 1)[1], "key name"),
        ("+" + NEUMANN_VERIFIER_KEY.split("+", 1)[1], "key name"),
        ("PeterNeumann+c74f20a3", "want name\\+keyid\\+key"),
        ("PeterNeumann", "want name\\+keyid\\+key"),
        (NEUMANN_VERIFIER_KEY[:-1], "not base64"),
        (NEUMANN_VERIFIER_KEY + "=", "non-canonical"),
        (NEUMANN_VERIFIER_KEY.replace("+ARpc", "+ ARpc"), "not base64"),
        ("PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "32-byte"),
        ("PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + bytes(33)).decode(), "32-byte"),
    ],
)
def test_parse_verifier_key_rejects_malformed_keys(vkey: str, pattern: str) -> None:
    with pytest.raises(NoteError, match=pattern):
        parse_verifier_key(vkey)


# --- cosignature/v1 ------------------------------------------------------------------------------


def test_cosignature_round_trip_and_exact_message() -> None:
    w = witness()
    t = 1_700_000_000
    sig = w.sign_at(BODY, t)
    assert len(sig) == 8 + 64
    assert sig[:8] == struct.pack(">Q", t)
    message = b"cosignature/v1\ntime 1700000000\n" + BODY
    assert cosigned_message(BODY, t) == message
    # The raw Ed25519 signature is over exactly that message.
    Ed25519PublicKey.from_public_bytes(w.verifier.public_key).verify(sig[8:], message)
    assert w.verifier.verify(BODY, sig)


def test_cosignature_rejections() -> None:
    w = witness()
    sig = w.sign_at(BODY, 1_700_000_000)
    assert not w.verifier.verify(BODY + b"x\n", sig)
    assert not w.verifier.verify(BODY, struct.pack(">Q", 1_700_000_001) + sig[8:])
    assert not w.verifier.verify(BODY, sig[:-1])
    assert not w.verifier.verify(BODY, sig + b"\x00")
    assert not w.verifier.verify(BODY, sig[8:])
    assert not witness(seed=10).verifier.verify(BODY, sig)
    # A note signature by the same key is not a cosignature, and the other way round.
    key = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)
    assert not w.verifier.verify(BODY, bytes(8) + key.sign(BODY))
    assert not Ed25519Verifier(w.name, w.verifier.public_key).verify(BODY, sig[8:])


@pytest.mark.parametrize("t", [0, 1, 1_700_000_000, 2**63 - 1, 2**64 - 1])
def test_cosignature_timestamps(t: int) -> None:
    w = witness()
    sig = w.sign_at(BODY, t)
    assert int.from_bytes(sig[:8], "big") == t
    assert w.verifier.verify(BODY, sig)
    assert cosigned_message(BODY, t) == b"cosignature/v1\ntime " + str(t).encode() + b"\n" + BODY


def test_cosignature_sign_uses_the_current_time() -> None:
    before = int(time.time())
    sig = witness().sign(BODY)
    assert before <= int.from_bytes(sig[:8], "big") <= int(time.time())
    assert witness().verifier.verify(BODY, sig)


def test_cosignature_key_id_uses_type_byte_4() -> None:
    w = witness()
    public = w.verifier.public_key
    digest = hashlib.sha256(w.name.encode() + b"\n\x04" + public).digest()
    assert ALG_COSIGNATURE_V1 == 0x04
    assert w.key_id == int.from_bytes(digest[:4], "big")
    assert w.key_id != key_id(w.name, ALG_ED25519, public)
    encoded = base64.b64encode(b"\x04" + public).decode()
    assert w.verifier_key == f"{w.name}+{w.key_id:08x}+{encoded}"


def test_cosigned_note_opens_with_log_and_witness() -> None:
    w = witness()
    note = sign_note(BODY, [LOG])
    cosigned = add_signatures(note, [NoteSignature(w.name, w.key_id, w.sign_at(BODY, 42))])
    opened = open_note(cosigned, [LOG.verifier, w.verifier])
    assert opened.verified == (LOG.name, w.name)
    # Unknown to a verifier that only knows the log.
    assert open_note(cosigned, [LOG.verifier]).verified == (LOG.name,)
    # A cosignature over another body is a bad signature by a known key.
    wrong = add_signatures(note, [NoteSignature(w.name, w.key_id, w.sign_at(b"x\n", 42))])
    with pytest.raises(SignatureError, match=f"invalid signature by {w.name}"):
        open_note(wrong, [LOG.verifier, w.verifier])


# --- adding signatures ---------------------------------------------------------------------------


def test_add_signatures_appends_lines() -> None:
    w1, w2 = witness("w1.example", 11), witness("w2.example", 12)
    s1 = NoteSignature(w1.name, w1.key_id, w1.sign_at(BODY, 5))
    s2 = NoteSignature(w2.name, w2.key_id, w2.sign_at(BODY, 6))
    note = sign_note(BODY, [LOG])
    merged = add_signatures(note, [s1, s2])
    assert merged == note + s1.line().encode() + s2.line().encode()
    assert add_signatures(note, []) == note


def test_add_signatures_skips_a_signer_already_present() -> None:
    w = witness()
    note = sign_note(BODY, [LOG])
    first = NoteSignature(w.name, w.key_id, w.sign_at(BODY, 5))
    once = add_signatures(note, [first])
    assert add_signatures(once, [first]) == once
    # The signature already in the note is kept over a newer one by the same key.
    later = NoteSignature(w.name, w.key_id, w.sign_at(BODY, 6))
    assert add_signatures(once, [later]) == once
    log_again = NoteSignature(LOG.name, LOG.key_id, LOG.sign(BODY))
    assert add_signatures(note, [log_again]) == note


def test_add_signatures_does_not_duplicate_within_the_new_signatures() -> None:
    w = witness()
    note = sign_note(BODY, [LOG])
    sig = NoteSignature(w.name, w.key_id, w.sign_at(BODY, 5))
    merged = add_signatures(note, [sig, sig])
    assert merged == add_signatures(note, [sig])
    assert [s.name for s in split_note(merged)[1]] == [LOG.name, w.name]
