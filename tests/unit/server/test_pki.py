"""The development PKI: member ids name one directory each, and nothing is written for a
list that holds one that does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from arrears.server.pki import check_member_id, create_dev_pki, load_ed25519


@pytest.mark.parametrize("member_id", ["bank-a", "operator", "Bank_B.2", "9", "x" * 128])
def test_member_ids_that_name_one_directory(member_id: str) -> None:
    assert check_member_id(member_id) == member_id


@pytest.mark.parametrize(
    "member_id", ["", ".", "..", ".hidden", "-m", "a/b", "a/../b", "a\\b", "a b", "é", "x" * 129]
)
def test_other_member_ids_are_refused_before_anything_is_written(
    tmp_path: Path, member_id: str
) -> None:
    with pytest.raises(ValueError, match=r"^member id "):
        create_dev_pki(tmp_path / "pki", ["operator", member_id])
    assert list(tmp_path.iterdir()) == []


def test_a_key_file_that_holds_no_private_key_is_named(tmp_path: Path) -> None:
    pki = create_dev_pki(tmp_path / "pki", [])
    for path, said in (
        (pki.ca, "not a private key in PEM"),
        (pki.server_key, "not an Ed25519 private key"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {said}$"):
            load_ed25519(path)
    with pytest.raises(FileNotFoundError):
        load_ed25519(tmp_path / "missing.pem")
