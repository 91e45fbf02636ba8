"""Fixtures for connector tests: the stand-in systems, fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vault import __version__
from vault.connectors.registry import ConnectorRegistry
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins


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
