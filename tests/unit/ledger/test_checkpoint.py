"""C2SP tlog-checkpoint bodies: the format, strict parsing, and the round trip."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import InputError, NoteError
from arrears.ledger.merkle import EMPTY_ROOT
from arrears.ledger.note import Ed25519Signer, open_note, sign_note

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
ORIGIN = "example.test/arrears"
MALFORMED = r"^malformed checkpoint: "

line_text = st.text(st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=30)


def body(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def test_body_format() -> None:
    cp = Checkpoint(ORIGIN, 5, ROOT)
    assert cp.body() == f"{ORIGIN}\n5\n{ROOT_B64}\n".encode()
    assert cp.body() == b"example.test/arrears\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


def test_body_of_the_empty_tree() -> None:
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert cp.body() == body(ORIGIN, "0", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    assert Checkpoint.parse(cp.body()) == cp


def test_body_with_extension_lines_round_trips() -> None:
    cp = Checkpoint(ORIGIN, 123456, ROOT, ("map 7 abc=", "— not a signature, just text"))
    assert cp.body() == body(
        ORIGIN, "123456", ROOT_B64, "map 7 abc=", "— not a signature, just text"
    )
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(cp.body()).extensions == ("map 7 abc=", "— not a signature, just text")


def test_checkpoint_in_a_signed_note() -> None:
    signer = Ed25519Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    cp = Checkpoint(ORIGIN, 42, ROOT, ("ext",))
    opened = open_note(sign_note(cp.body(), [signer]), [signer.verifier])
    assert Checkpoint.parse(opened.body) == cp


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (body(ORIGIN, "05", ROOT_B64), "invalid size"),
        (body(ORIGIN, "00", ROOT_B64), "invalid size"),
        (body(ORIGIN, "+5", ROOT_B64), "invalid size"),
        (body(ORIGIN, "-5", ROOT_B64), "invalid size"),
        (body(ORIGIN, " 5", ROOT_B64), "invalid size"),
        (body(ORIGIN, "5 ", ROOT_B64), "invalid size"),
        (body(ORIGIN, "", ROOT_B64), "invalid size"),
        (body(ORIGIN, "5_0", ROOT_B64), "invalid size"),
        (body(ORIGIN, "0x5", ROOT_B64), "invalid size"),
        (body(ORIGIN, "٥", ROOT_B64), "invalid size"),
        (body(ORIGIN, "５", ROOT_B64), "invalid size"),
        (body(ORIGIN, "²", ROOT_B64), "invalid size"),
        (body(ORIGIN, "5", ROOT_B64[:-2] + "9="), "invalid root"),
        (body(ORIGIN, "5", base64.b64encode(ROOT[:31]).decode()), "invalid root"),
        (body(ORIGIN, "5", base64.b64encode(ROOT + b"\x00").decode()), "invalid root"),
        (body(ORIGIN, "5", ROOT_B64.rstrip("=")), "invalid root"),
        (body(ORIGIN, "5", " " + ROOT_B64), "invalid root"),
        (body(ORIGIN, "5", ROOT.hex()), "invalid root"),
        (body(ORIGIN, "5", ""), "invalid root"),
        (body(ORIGIN, "5", ROOT_B64)[:-1], "must end in a newline"),
        (b"", "must end in a newline"),
        (body("", "5", ROOT_B64), "invalid origin"),
        (body(ORIGIN, "5"), "want origin, size and root"),
        (body(ORIGIN), "want origin, size and root"),
        (b"\n", "want origin, size and root"),
        (body(ORIGIN, "5", ROOT_B64, ""), "invalid extension line"),
        (body(ORIGIN, "5", ROOT_B64, "ext", "", "ext"), "invalid extension line"),
        (body(ORIGIN, "5", ROOT_B64, "tab\there"), "invalid extension line"),
        (body("tab\torigin", "5", ROOT_B64), "invalid origin"),
        (body(ORIGIN, "5", ROOT_B64).replace(b"example", b"ex\xffample"), "not UTF-8"),
        pytest.param(body(ORIGIN, "1" * 5000, ROOT_B64), "invalid size", id="size-5000-digits"),
    ],
)
def test_parse_is_strict(text: bytes, why: str) -> None:
    with pytest.raises(NoteError, match=MALFORMED + why) as caught:
        Checkpoint.parse(text)
    assert str(caught.value).startswith("malformed checkpoint:")
    assert isinstance(caught.value, InputError)


def test_parse_root_error_names_the_cause() -> None:
    with pytest.raises(NoteError, match=r"invalid root \(.*non-canonical base64\)"):
        Checkpoint.parse(body(ORIGIN, "5", ROOT_B64[:-2] + "9="))
    with pytest.raises(NoteError, match=r"invalid root \(.*must decode to 32 bytes, got 31\)"):
        Checkpoint.parse(body(ORIGIN, "5", base64.b64encode(ROOT[:31]).decode()))


def test_non_canonical_root_decodes_to_the_same_bytes() -> None:
    # The rejected spelling above is a real alias of the canonical one, not garbage.
    alias = ROOT_B64[:-2] + "9="
    assert alias != ROOT_B64
    assert base64.b64decode(alias) == ROOT


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions", "why"),
    [
        ("", 1, ROOT, (), "invalid origin"),
        ("a\nb", 1, ROOT, (), "invalid origin"),
        ("a\x00b", 1, ROOT, (), "invalid origin"),
        (ORIGIN, -1, ROOT, (), "invalid size"),
        (ORIGIN, 1, ROOT[:31], (), "root must be 32 bytes"),
        (ORIGIN, 1, ROOT + b"\x00", (), "root must be 32 bytes"),
        (ORIGIN, 1, ROOT, ("",), "invalid extension line"),
        (ORIGIN, 1, ROOT, ("a\nb",), "invalid extension line"),
    ],
)
def test_constructor_is_strict(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...], why: str
) -> None:
    with pytest.raises(NoteError, match=MALFORMED + why):
        Checkpoint(origin, size, root, extensions)


@settings(max_examples=200, deadline=None)
@given(
    line_text,
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(line_text, max_size=4).map(tuple),
)
def test_round_trip(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> None:
    cp = Checkpoint(origin, size, root, extensions)
    text = cp.body()
    assert text.count(b"\n") == 3 + len(extensions)
    assert Checkpoint.parse(text) == cp
    assert Checkpoint.parse(text).body() == text
