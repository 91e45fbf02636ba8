"""TLS and mutual TLS, with throwaway certificates (tests.pki): the handshake
works, a plaintext client gets nowhere, mutual TLS refuses a client without a
certificate and names the caller by the certificate's subject; plaintext on
an address other machines reach is refused unless asked for, and warned about."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from tests.access import token_for, with_token
from tests.pki import Issued, Pki, make_pki
from tests.serving import ANY_PORT, served
from vault import settings as configuration
from vault.core.actor import Actor, Role
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server import access
from vault.server.app import RunningServer
from vault.settings import ServerSettings, SettingsError
from vault.tls import TlsSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


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
