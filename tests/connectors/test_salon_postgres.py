"""The salon's SQL connector against PostgreSQL through psycopg 3, with the same contract.

Runs where PostgreSQL answers (CI has it at 127.0.0.1:5432, database `test`);
elsewhere it is skipped with the reason, since the default path needs no server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.test_builtin_contract import ANNA, BO, NOBODY
from vault import __version__
from vault.connectors import Connector
from vault.connectors.registry import ConnectorRegistry
from vault.connectors.testing import ConnectorContract
from vault.core.identities import Identity
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins
from vault_standins import salon
from vault_standins.people import DEMO_PEOPLE

DSN = os.environ.get("CONSENT_VAULT_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


def _reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(DSN, connect_timeout=3):
            return True
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason=f"PostgreSQL is not reachable at {DSN}")


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"salon_{secrets.token_hex(4)}"
    salon.create_postgres(DSN, name, DEMO_PEOPLE)
    yield name
    salon.drop_postgres(DSN, name)


class PostgresSalon(ConnectorContract):
    known: list[Identity] = []

    @pytest.fixture
    def connector(self, schema: str, tmp_path: Path) -> Iterator[Connector]:
        registry = ConnectorRegistry.load(
            {"salon": standins.salon_section(DSN, schema)},
            make_plugin_manager(),
            VaultHost(__version__),
            tmp_path,
            {},
        )
        yield registry.get("salon").connector  # type: ignore[union-attr,misc]
        registry.close()

    @pytest.fixture
    def known_identities(self) -> list[Identity]:
        return self.known

    @pytest.fixture
    def unknown_identities(self) -> list[Identity]:
        return NOBODY


class TestPostgresSalonCustomer(PostgresSalon):
    known = BO


class TestPostgresSalonStudent(PostgresSalon):
    known = ANNA


def test_postgres_rows_are_gone_after_erasure(schema: str, tmp_path: Path) -> None:
    import psycopg

    registry = ConnectorRegistry.load(
        {"salon": standins.salon_section(DSN, schema)},
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        {},
    )
    connector = registry.get("salon").connector  # type: ignore[union-attr]
    assert connector is not None
    connector.erase(BO, TestPostgresSalonCustomer.today)
    with psycopg.connect(DSN) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        assert set(salon.counts(conn, "%s", DEMO_PEOPLE[1]).values()) == {0}
        # Other customers' rows are untouched.
        students = conn.execute("SELECT count(*) FROM students").fetchone()
        assert students is not None and students[0] >= 2
    registry.close()
