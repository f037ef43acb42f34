"""A development PKI for local runs and tests: one command makes everything a consortium needs.

Layout of the directory it writes::

    ca.pem, ca-key.pem               the consortium CA (ECDSA P-256)
    server.pem, server-key.pem       the server's TLS certificate (localhost, 127.0.0.1)
    log-key.pem                      the log's Ed25519 checkpoint key
    oprf-key.bin                     the OPRF key seed (32 bytes)
    members/<id>/tls.pem, tls-key.pem    the member's client certificate (CN = member id)
    members/<id>/signing-key.pem         the member's Ed25519 key for signing submissions

Never for production: keys are written unencrypted (mode 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORG = "arrears consortium (development)"
_MEMBER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_member_id(member_id: str) -> str:
    """``member_id`` if it names one directory of its own under ``members/``: up to 128
    letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit; else ValueError."""
    if _MEMBER_ID.fullmatch(member_id) is None:
        raise ValueError(
            f"member id {member_id!r}: want up to 128 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return member_id


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
    days: int = 825,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    elif server:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"arrears:member:{subject}")]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class MemberFiles:
    member_id: str
    cert: Path
    key: Path
    signing_key: Path


@dataclass(frozen=True)
class DevPki:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server-key.pem"

    @property
    def log_key(self) -> Path:
        return self.root / "log-key.pem"

    @property
    def oprf_key(self) -> Path:
        return self.root / "oprf-key.bin"

    def member(self, member_id: str) -> MemberFiles:
        d = self.root / "members" / member_id
        return MemberFiles(member_id, d / "tls.pem", d / "tls-key.pem", d / "signing-key.pem")

    def members(self) -> list[str]:
        d = self.root / "members"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def create_dev_pki(root: Path, members: list[str]) -> DevPki:
    """Create (or extend) a development PKI under ``root``: the CA and server certificate and
    log/OPRF keys once, and a client certificate and signing key for each new member. Member
    ids are checked (``check_member_id``) before anything is written."""
    for member_id in members:
        check_member_id(member_id)
    pki = DevPki(root)
    root.mkdir(parents=True, exist_ok=True)
    if pki.ca.exists():
        ca_cert = x509.load_pem_x509_certificate(pki.ca.read_bytes())
        ca_key = serialization.load_pem_private_key((root / "ca-key.pem").read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _cert("arrears development CA", ca_key, None, ca_key, ca=True, days=3650)
        _write(pki.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
        _write(root / "ca-key.pem", _pem_key(ca_key), secret=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _cert("localhost", server_key, ca_cert, ca_key, server=True)
        _write(pki.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
        _write(pki.server_key, _pem_key(server_key), secret=True)
        _write(pki.log_key, _pem_key(Ed25519PrivateKey.generate()), secret=True)
        _write(pki.oprf_key, os.urandom(32), secret=True)
    for member_id in members:
        files = pki.member(member_id)
        if files.cert.exists():
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(member_id, key, ca_cert, ca_key)
        _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
        _write(files.key, _pem_key(key), secret=True)
        _write(files.signing_key, _pem_key(Ed25519PrivateKey.generate()), secret=True)
    return pki


def load_ed25519(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (unencrypted). Raises OSError when the
    file cannot be read, ValueError naming the file when it holds no such key."""
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:
        raise ValueError(f"{path}: an encrypted private key; want it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{path}: not a private key in PEM") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key
