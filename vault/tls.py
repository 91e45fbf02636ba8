"""The server's TLS files ([tls] or --tls-cert, --tls-key, --client-ca): read
and checked at start-up, so a wrong file is one line naming it rather than a
handshake that fails later."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# Each [tls] setting, and the serve flag that wins over it.
FLAGS = {"cert_file": "--tls-cert", "key_file": "--tls-key", "client_ca_file": "--client-ca"}


class TlsFileError(Exception):
    """A TLS file cannot be used; the message is one line that names it."""


@dataclass(frozen=True)
class TlsSettings:
    """[tls]: the server's certificate chain and private key (PEM), read at
    start-up; with `client_ca` (mutual TLS) a client must show a certificate
    that CA signed, and its subject names the caller. Empty: no TLS."""

    certificate_chain: bytes = b""
    private_key: bytes = field(default=b"", repr=False)
    client_ca: bytes = b""

    @property
    def enabled(self) -> bool:
        return bool(self.certificate_chain)

    @property
    def mutual(self) -> bool:
        return bool(self.client_ca)


def read(flags: Mapping[str, Path | None], table: Mapping[str, Any], base_dir: Path) -> TlsSettings:
    """The [tls] files, each flag winning over its setting; relative paths in
    the file start at the file's folder (`base_dir`). Raises TlsFileError."""
    where: dict[str, tuple[Path, str]] = {}  # setting: its file, and what to call it
    for key, flag in FLAGS.items():
        given = flags[key]
        if given is not None:
            where[key] = (given, flag)
        elif key in table:
            value = table[key]
            if not isinstance(value, str) or not value:
                raise TlsFileError(f"[tls] {key} must be a file name in quotes, not {value!r}")
            where[key] = (base_dir / value, f"[tls] {key}")
    contents: dict[str, bytes] = {}
    for key, (path, name) in where.items():
        try:
            contents[key] = path.read_bytes()
        except OSError as error:
            raise TlsFileError(f"{name} {path}: {error.strerror or error}") from None
    if ("cert_file" in contents) != ("key_file" in contents):
        raise TlsFileError(
            "[tls] cert_file and key_file (--tls-cert, --tls-key) go together: give both, or neither"
        )
    if "client_ca_file" in contents and "cert_file" not in contents:
        raise TlsFileError(
            "[tls] client_ca_file (--client-ca) needs the server's own certificate: "
            "give cert_file and key_file too"
        )
    tls = TlsSettings(*(contents.get(key, b"") for key in FLAGS))
    if tls.enabled:
        _check_pem(tls, {key: name for key, (_, name) in where.items()})
    return tls


def _check_pem(tls: TlsSettings, names: Mapping[str, str]) -> None:
    """The certificate and key are PEM and belong together; a client CA is PEM."""
    try:
        chain = x509.load_pem_x509_certificates(tls.certificate_chain)
    except ValueError:
        raise TlsFileError(f"{names['cert_file']}: not a PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(tls.private_key, password=None)
    except (ValueError, TypeError):
        raise TlsFileError(f"{names['key_file']}: not an unencrypted PEM private key") from None
    der = serialization.Encoding.DER
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(der, public) != private.public_key().public_bytes(
        der, public
    ):
        raise TlsFileError(
            f"{names['key_file']}: not the private key of the certificate in {names['cert_file']}"
        )
    if tls.mutual:
        try:
            x509.load_pem_x509_certificates(tls.client_ca)
        except ValueError:
            raise TlsFileError(f"{names['client_ca_file']}: not a PEM certificate") from None
