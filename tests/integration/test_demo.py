"""The main job as the README gives it: `consent-vault serve --demo`, with the
default data directory, started from wherever the user stands."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.processes import ServerProcess
from vault_client import VaultClient


@pytest.fixture
def demo_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    # No --data-dir: the default (./vault-data) is relative to the working
    # directory, the way `make run` uses it.
    server = ServerProcess(None, extra_args=("--demo",), cwd=tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_the_demo_connects_every_system_from_a_relative_data_directory(
    demo_server: ServerProcess, tmp_path: Path
) -> None:
    assert (tmp_path / "vault-data" / "records.db").exists()
    with VaultClient(demo_server.address) as vault:
        connectors = vault.list_connectors(check_health=True)
        assert {c.name for c in connectors} == {"lms", "salon", "accounting", "facebook_group"}
        assert [(c.name, c.health_detail) for c in connectors if not c.healthy] == []

        anna = vault.find_subject("email", "anna.andersson@example.se")
        archive = io.BytesIO()
        summary = vault.export_subject(anna.name, archive)
    assert summary.systems == {
        "vault": "done",
        "lms": "done",
        "salon": "done",
        "accounting": "done",
        "facebook_group": "done",
    }
    exported = json.loads(zipfile.ZipFile(archive).read("export.json"))
    assert exported["records"], "Anna's vault records are in her export"
