"""What a client presents to the vault: its API token, sent on every call as
`authorization: Bearer <token>`, the roots it trusts the server's TLS
certificate by, and for mutual TLS its own certificate.

The token goes in by a metadata interceptor rather than call credentials:
gRPC refuses call credentials on a plaintext channel, and the demo and local
use run plaintext on loopback; one way for both keeps them alike.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import grpc

TOKEN_ENV = "CONSENT_VAULT_TOKEN"
TOKEN_FILE_ENV = "CONSENT_VAULT_TOKEN_FILE"
TLS_CA_ENV = "CONSENT_VAULT_TLS_CA"

# What a PEM file of each kind holds, and its words.
_CERTIFICATE = (b"-----BEGIN CERTIFICATE-----", "certificate")
_PRIVATE_KEY = (b"PRIVATE KEY-----", "private key")


class CredentialsError(OSError):
    """A token file or certificate file named cannot be used; the message is
    one line that names it. An OSError, as any other file the user named."""


class PlaintextRefused(ValueError):
    """A token would go unencrypted to another machine, where anyone on the
    way could read it and call as its holder: give the server's TLS roots, or
    say `insecure=True` to send it so anyway."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(
            f"{source} would go unencrypted to {target}, another machine: give the "
            f"server's roots (ca_file=, root_certificates=, ${TLS_CA_ENV}, or tls=True "
            "for the system's), or pass insecure=True to send it so anyway"
        )
        self.source, self.target = source, target


class FoundToken(NamedTuple):
    """The token found, and where it came from, in words ("$CONSENT_VAULT_TOKEN",
    "the token file tokens/admin.token"), so an error about it can say which."""

    secret: str
    source: str


def find_token(
    token: str | None = None,
    token_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> FoundToken | None:
    """The token to present: `token`, else the file `token_file`, else
    $CONSENT_VAULT_TOKEN, else the file $CONSENT_VAULT_TOKEN_FILE names;
    None when none is given (the vault then answers UNAUTHENTICATED /
    TOKEN_MISSING). A source given but empty or blank (a variable set to
    the output of a `$(cat ...)` that failed) raises CredentialsError, as
    does a file that does not read: it never falls through to the next."""
    env = os.environ if environ is None else environ
    make = "`consent-vault tokens create` makes one"
    if token is not None:
        secret = _given(token, f"token= is empty: pass a token ({make}), or None for none")
        return FoundToken(secret, "the token given")
    if token_file is not None:
        _given(os.fspath(token_file), "token_file= is empty: name the token's file, or pass None")
        return _read_token(Path(token_file), f"the token file {token_file}")
    if TOKEN_ENV in env:
        secret = _given(
            env[TOKEN_ENV],
            f"the token in {TOKEN_ENV} is empty: set it to a token ({make}), or unset it",
        )
        return FoundToken(secret, f"${TOKEN_ENV}")
    if TOKEN_FILE_ENV in env:
        path = env[TOKEN_FILE_ENV]
        _given(
            path,
            f"the file name in {TOKEN_FILE_ENV} is empty: set it to the token's file, or unset it",
        )
        return _read_token(Path(path), f"the token file {path} (${TOKEN_FILE_ENV})")
    return None


def _given(value: str, empty: str) -> str:
    """`value` stripped; CredentialsError(`empty`) when nothing is left of it."""
    if not value.strip():
        raise CredentialsError(empty)
    return value.strip()


def _read_token(path: Path, source: str) -> FoundToken:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else "not text"
        raise CredentialsError(f"{source} cannot be read: {why}") from None
    if not secret:
        raise CredentialsError(f"{source} holds no token")
    return FoundToken(secret, source)


def find_root_certificates(
    root_certificates: bytes | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """The PEM roots to check the server's certificate by: `root_certificates`,
    else the file `ca_file`, else the file $CONSENT_VAULT_TLS_CA names; None
    for a plaintext channel. Raises CredentialsError for a file that does not
    read or holds no certificate."""
    env = os.environ if environ is None else environ
    if root_certificates:
        return root_certificates
    given = ca_file or env.get(TLS_CA_ENV) or None
    if given is None:
        return None
    source = f"the CA file {given}" + ("" if ca_file else f" (${TLS_CA_ENV})")
    return _read_pem(Path(given), source, _CERTIFICATE)


def find_client_certificate(
    cert_file: str | os.PathLike[str] | None, key_file: str | os.PathLike[str] | None
) -> tuple[bytes, bytes] | None:
    """The client's own certificate chain and private key (PEM files), for a
    server that asks for one (mutual TLS); None without them. Raises
    CredentialsError for one without the other, or a file that does not read
    or holds no PEM of its kind."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        given = "cert_file" if cert_file is not None else "key_file"
        missing = "key_file" if cert_file is not None else "cert_file"
        raise CredentialsError(
            f"{given} {cert_file or key_file} needs its {missing}: give both, or neither"
        )
    chain = _read_pem(Path(cert_file), f"the certificate file {cert_file}", _CERTIFICATE)
    key = _read_pem(Path(key_file), f"the key file {key_file}", _PRIVATE_KEY)
    return chain, key


def _read_pem(path: Path, source: str, kind: tuple[bytes, str]) -> bytes:
    marker, words = kind
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise CredentialsError(f"{source} cannot be read: {error.strerror or error}") from None
    if marker not in pem:
        raise CredentialsError(f"{source} holds no PEM {words}")
    return pem


def is_local(target: str) -> bool:
    """Does the gRPC `target` (HOST:PORT, dns:///HOST:PORT, unix:PATH) reach
    this machine only: a loopback address (127.0.0.0/8, ::1), localhost, or a
    Unix socket? Only there may a token or data travel without TLS unasked."""
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    address = target.removeprefix("dns:///").removeprefix("ipv4:").removeprefix("ipv6:")
    if address.startswith("["):
        host = address[1:].partition("]")[0]
    elif address.count(":") == 1:
        host = address.partition(":")[0]
    else:  # no port, or an IPv6 address without brackets
        host = address
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


class _CallDetails(NamedTuple):
    # grpc.ClientCallDetails is an abstract class without a constructor.
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: Any


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call's metadata."""

    def __init__(self, secret: str) -> None:
        self._header = ("authorization", f"Bearer {secret}")

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [m for m in (details.metadata or ()) if m[0] != "authorization"]
        return _CallDetails(  # type: ignore[return-value]
            details.method,
            details.timeout,
            [*metadata, self._header],
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        requests: Iterator[Any],
    ) -> Any:
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        requests: Iterator[Any],
    ) -> Any:
        return continuation(self._with_token(details), requests)
