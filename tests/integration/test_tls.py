"""TLS and mutual TLS, with throwaway certificates made here: the handshake
works, a plaintext client gets nowhere, mutual TLS refuses a client without a
certificate and names the caller by the certificate's subject; plaintext on
an address other machines reach is refused unless asked for, and warned about."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.access import token_for, with_token
from tests.serving import ANY_PORT, served
from vault import settings as configuration
from vault.core.actor import Actor, Role
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server import access
from vault.server.app import RunningServer
from vault.settings import ServerSettings, SettingsError, TlsSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


@dataclass
class Issued:
    certificate: bytes
    key: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(name: str) -> tuple[Issued, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, common_name: str, *, server: bool
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Skolan AB"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@dataclass
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    stranger: Issued  # signed by another CA


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, ca_key, ca_cert = make_ca("vault test CA")
    _, other_key, other_cert = make_ca("someone else's CA")
    return Pki(
        ca,
        issue(ca_key, ca_cert, "localhost", server=True),
        issue(ca_key, ca_cert, "lms-sync", server=False),
        issue(other_key, other_cert, "lms-sync", server=False),
    )


def serve_tls(vault: Vault, engine: str | None, tls: TlsSettings) -> Iterator[RunningServer]:
    services = build_services(vault, stores_embedded=engine is None)
    with served(services, replace(ANY_PORT, tls=tls)) as running:
        yield running


@pytest.fixture
def tls_server(vault: Vault, engine: str | None, pki: Pki) -> Iterator[RunningServer]:
    yield from serve_tls(vault, engine, TlsSettings(pki.server.certificate, pki.server.key))


@pytest.fixture
def mtls_server(vault: Vault, engine: str | None, pki: Pki) -> Iterator[RunningServer]:
    tls = TlsSettings(pki.server.certificate, pki.server.key, pki.ca.certificate)
    yield from serve_tls(vault, engine, tls)


def secure(running: RunningServer, pki: Pki, client: Issued | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.certificate,
        private_key=client.key if client else None,
        certificate_chain=client.certificate if client else None,
    )
    return grpc.secure_channel(f"localhost:{running.port}", credentials)


def list_connectors(channel: grpc.Channel) -> pb.ListConnectorsResponse:
    return pb_grpc.ConnectorServiceStub(channel).ListConnectors(
        pb.ListConnectorsRequest(), timeout=10
    )


def test_a_client_that_trusts_the_ca_talks_to_the_tls_server(
    tls_server: RunningServer, pki: Pki
) -> None:
    token = token_for(tls_server.vault, Role.ADMIN)
    with secure(tls_server, pki) as channel:
        list_connectors(with_token(channel, token))


def test_a_plaintext_client_gets_nowhere_with_a_tls_server(
    tls_server: RunningServer, pki: Pki
) -> None:
    token = token_for(tls_server.vault, Role.ADMIN)
    with grpc.insecure_channel(f"127.0.0.1:{tls_server.port}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            list_connectors(with_token(channel, token))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(
    mtls_server: RunningServer, pki: Pki
) -> None:
    token = token_for(mtls_server.vault, Role.ADMIN)
    for client in (None, pki.stranger):
        with secure(mtls_server, pki, client) as channel:
            with pytest.raises(grpc.RpcError) as raised:
                list_connectors(with_token(channel, token))
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_names_the_caller_by_its_certificate_beside_the_token(
    mtls_server: RunningServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    admitted: list[Actor] = []
    admit = access.Gate.admit

    async def spied(self: access.Gate, method: str, context: grpc.aio.ServicerContext) -> Actor:
        actor = await admit(self, method, context)
        admitted.append(actor)
        return actor

    monkeypatch.setattr(access.Gate, "admit", spied)
    token = token_for(mtls_server.vault, Role.ADMIN)
    with secure(mtls_server, pki, pki.client) as channel:
        list_connectors(with_token(channel, token))
    (actor,) = admitted
    assert actor.role is Role.ADMIN
    assert "tokens/" in actor.who and "CN=lms-sync" in actor.who and "O=Skolan AB" in actor.who


def test_the_token_is_still_needed_under_mutual_tls(mtls_server: RunningServer, pki: Pki) -> None:
    with secure(mtls_server, pki, pki.client) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            list_connectors(channel)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_beyond_loopback_is_refused_unless_asked_for_and_then_warned_about(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    everywhere = ServerSettings("0.0.0.0:0")
    with (
        pytest.raises(SettingsError, match="--insecure-plaintext"),
        served(build_services(vault), everywhere),
    ):
        pass
    caplog.set_level(logging.WARNING, "vault.server")
    with served(build_services(vault), replace(everywhere, insecure_plaintext=True)):
        pass
    assert any("without TLS" in r.getMessage() for r in caplog.records)


def test_serve_reads_and_checks_the_tls_files(tmp_path: Path, pki: Pki) -> None:
    files = {}
    for name, data in {
        "server.pem": pki.server.certificate,
        "server.key": pki.server.key,
        "client.key": pki.client.key,
        "ca.pem": pki.ca.certificate,
    }.items():
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    config = tmp_path / "vault.toml"
    config.write_text(
        '[tls]\ncert_file = "server.pem"\nkey_file = "server.key"\nclient_ca_file = "ca.pem"\n'
    )
    loaded = configuration.load(address="0.0.0.0:50051", config=config, environ={})
    assert loaded.server.tls == TlsSettings(
        pki.server.certificate, pki.server.key, pki.ca.certificate
    )
    assert loaded.server.tls.mutual
    with pytest.raises(SettingsError, match="not the private key of the certificate"):
        configuration.load(config=config, tls_key_flag=files["client.key"], environ={})
    with pytest.raises(SettingsError, match="go together"):
        configuration.load(tls_cert_flag=files["server.pem"], environ={})
    with pytest.raises(SettingsError, match="not a PEM certificate"):
        configuration.load(
            tls_cert_flag=files["server.key"], tls_key_flag=files["server.key"], environ={}
        )
    with pytest.raises(SettingsError, match="needs the server's own certificate"):
        configuration.load(client_ca_flag=files["ca.pem"], environ={})
    with pytest.raises(SettingsError, match=r"--tls-cert .*missing\.pem"):
        configuration.load(
            tls_cert_flag=tmp_path / "missing.pem", tls_key_flag=files["server.key"], environ={}
        )
    # Without TLS, an address other machines reach needs the admin's word.
    with pytest.raises(SettingsError, match="--insecure-plaintext"):
        configuration.load(address="0.0.0.0:50051", environ={})
    assert configuration.load(
        address="0.0.0.0:50051", insecure_plaintext=True, environ={}
    ).server.insecure_plaintext
    for loopback in ("127.0.0.1:50051", "127.1.2.3:1", "[::1]:50051", "localhost:50051"):
        assert configuration.is_loopback(loopback)
    for reachable in ("0.0.0.0:50051", "[::]:1", "10.0.0.5:1", "vault.example:1", ":50051"):
        assert not configuration.is_loopback(reachable)
