"""Throwaway TLS: a certificate authority of its own for one run, and the
certificates it signs for a server on this machine or for a client. The
benchmark's servers and clients read theirs from a folder (make); the tests
take theirs as bytes (tests/pki.py)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The names a server on this machine is reached by.
LOCAL_NAMES = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM (the key unencrypted)."""

    certificate: bytes
    key: bytes = field(repr=False)


class Authority:
    """A CA named `name`, good for a day (started five minutes ago, so a clock
    a little behind still takes it)."""

    def __init__(self, name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._certificate = (
            self._builder(self._name, self._key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.issued = Issued(
            self._certificate.public_bytes(serialization.Encoding.PEM), _pem(self._key)
        )

    @property
    def certificate(self) -> bytes:
        return self.issued.certificate

    def server(self, common_name: str = "localhost") -> Issued:
        """A server's certificate for localhost and 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            self._builder(subject, key)
            .add_extension(x509.SubjectAlternativeName(LOCAL_NAMES), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return Issued(certificate.public_bytes(serialization.Encoding.PEM), _pem(key))

    def client(self, common_name: str, organization: str) -> Issued:
        """A client's certificate; its subject (O=..., CN=...) names the caller."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        certificate = self._builder(subject, key).sign(self._key, hashes.SHA256())
        return Issued(certificate.public_bytes(serialization.Encoding.PEM), _pem(key))

    def _builder(
        self, subject: x509.Name, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make(folder: Path) -> Path:
    """A new CA and a localhost certificate in `folder`: ca.pem, server.pem, server.key."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = Authority("bench CA")
    server = authority.server()
    (folder / "ca.pem").write_bytes(authority.certificate)
    (folder / "server.pem").write_bytes(server.certificate)
    (folder / "server.key").write_bytes(server.key)
    return folder
