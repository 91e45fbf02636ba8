"""Shared fixtures: a controllable clock, a file-backed vault, a real server on port 0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests import postgres
from tests.access import token_for, with_token
from tests.serving import served
from vault import __version__, bootstrap
from vault.connectors.registry import ConnectorRegistry
from vault.core.actor import Role
from vault.core.clock import FixedClock
from vault.core.vault import Vault
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.v1 import vault_pb2_grpc
from vault_client import VaultClient
from vault_standins import demo as standins

START = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault-data"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that opens a vault runs on both engines, unless it is marked
    `sqlite_only` (it reads SQLite's own files, say)."""
    if "engine" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("engine", ["sqlite"] if only else ENGINES, indirect=True)


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The record and key database's URL: None for the data directory's SQLite
    files, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield None
        return
    with postgres.fresh_schema() as url:
        yield url


@pytest.fixture
def vault(data_dir: Path, clock: FixedClock, engine: str | None) -> Iterator[Vault]:
    opened = bootstrap.open_vault(data_dir, clock=clock, database=engine)
    yield opened
    bootstrap.close_vault(opened)


@pytest.fixture
def server(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None)) as running:
        yield running


@pytest.fixture
def token(server: RunningServer) -> str:
    """A privacy officer's token: who the in-process tests call as, unless
    they ask for another role (tests.access.token_for)."""
    return token_for(server.vault, Role.PRIVACY_OFFICER)


@pytest.fixture
def channel(server: RunningServer, token: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield with_token(opened, token)


@pytest.fixture
def subjects(channel: grpc.Channel) -> vault_pb2_grpc.SubjectServiceStub:
    return vault_pb2_grpc.SubjectServiceStub(channel)


@pytest.fixture
def records(channel: grpc.Channel) -> vault_pb2_grpc.RecordServiceStub:
    return vault_pb2_grpc.RecordServiceStub(channel)


@pytest.fixture
def client(server: RunningServer, token: str) -> Iterator[VaultClient]:
    # The client's own message limits, on a channel that carries the token.
    limits = [
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=limits) as opened:
        yield VaultClient(timeout=10, channel=with_token(opened, token))


# ------------------------------------------------------- stand-in systems
@pytest.fixture
def systems(tmp_path: Path) -> Iterator[standins.DemoSystems]:
    environ: dict[str, str] = {}
    started = standins.start(tmp_path / "systems", environ=environ)
    started.environ = environ  # type: ignore[attr-defined]
    yield started
    started.stop()


@pytest.fixture
def registry(systems: standins.DemoSystems, tmp_path: Path) -> Iterator[ConnectorRegistry]:
    loaded = ConnectorRegistry.load(
        systems.sections,
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        systems.environ,  # type: ignore[attr-defined]
    )
    yield loaded
    loaded.close()
