"""A salon mapping that does not fit the database is refused at start-up, makes
health unhealthy, and makes every call need attention instead of succeeding;
checked against SQLite's and PostgreSQL's own catalogues."""

from __future__ import annotations

import copy
import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.test_salon_identities import (  # noqa: F401 - the fixture
    DORA,
    DORA_BY_PHONE,
    PEOPLE,
    SalonDatabase,
    connect_salon,
    database,
)
from vault import __version__
from vault.connectors import Connector, NeedsAttention
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins
from vault_standins import salon

TODAY = dt.date(2026, 12, 15)


def mapping(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    tables = copy.deepcopy(standins.SALON_TABLES)
    change(tables)
    return tables


def mistyped_column(tables: dict[str, Any]) -> None:
    tables["customers"]["identify"]["phone"] = "phon"


MISFITS: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "a mistyped identify column": (mistyped_column, ("customers", "phon")),
    "a mistyped category column": (
        lambda t: t["colour_notes"]["columns"].update(recipie="notes"),
        ("colour_notes", "recipie"),
    ),
    "a missing table": (lambda t: t.update(salon_day=t.pop("salon_days")), ("salon_day",)),
    "a key that is not unique": (
        lambda t: t["appointments"].update(key="customer_id"),
        ("appointments", "customer_id"),
    ),
    "a parent column that refers to another table": (
        lambda t: t["appointments"].update(parent={"column": "student_id", "table": "customers"}),
        ("appointments", "student_id"),
    ),
    "a mistyped blank column": (
        lambda t: t["students"].update(blank=["personnumer"]),
        ("students", "personnumer"),
    ),
    "a mistyped retention date": (
        lambda t: t["colour_notes"].update(erase="retain", retain_from="writen_at"),
        ("colour_notes", "writen_at"),
    ),
}


@pytest.mark.parametrize("misfit", list(MISFITS))
def test_a_mapping_that_does_not_fit_a_reachable_database_refuses_start_up(
    database: SalonDatabase,  # noqa: F811 - the fixture
    tmp_path: Path,
    misfit: str,
) -> None:
    change, named = MISFITS[misfit]
    with pytest.raises(ConfigError) as refused:
        list(connect_salon(database, tmp_path, mapping(change)))
    assert all(name in str(refused.value) for name in named), str(refused.value)


def test_the_demo_mapping_fits(
    database: SalonDatabase,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    for connector in connect_salon(database, tmp_path):
        assert connector.health().healthy


def load(dsn: str, tables: dict[str, Any], tmp_path: Path) -> ConnectorRegistry:
    section = standins.salon_section(dsn)
    section["tables"] = tables
    return ConnectorRegistry.load(
        {"salon": section}, make_plugin_manager(), VaultHost(__version__), tmp_path, {}
    )


def every_call(connector: Connector) -> list[Callable[[], object]]:
    return [
        lambda: connector.find(DORA_BY_PHONE),
        lambda: connector.match(DORA_BY_PHONE),
        lambda: list(connector.export(DORA_BY_PHONE)),
        lambda: connector.erase(DORA_BY_PHONE, TODAY),
    ]


def test_unreachable_at_start_up_it_starts_and_then_every_call_names_the_misfit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "salon.db"
    registry = load(f"sqlite:///{path}", mapping(mistyped_column), tmp_path)
    connector = registry.get("salon").connector  # type: ignore[union-attr]
    assert connector is not None
    assert not connector.health().healthy

    salon.create_sqlite(path, PEOPLE)
    health = connector.health()
    assert not health.healthy and "phon" in health.detail
    for call in every_call(connector):
        with pytest.raises(NeedsAttention, match="phon"):
            call()
    with sqlite3.connect(path) as conn:
        assert salon.counts(conn, "?", DORA)["colour_notes"] == 1
    registry.close()


def test_a_column_dropped_after_start_up_makes_health_unhealthy_and_erasure_need_attention(
    database: SalonDatabase,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    for connector in connect_salon(database, tmp_path):
        assert connector.find(DORA_BY_PHONE)  # the connection is open and was checked
        with database.connect() as conn:
            conn.execute("ALTER TABLE colour_notes DROP COLUMN recipe")
            conn.commit()
        health = connector.health()
        assert not health.healthy and "recipe" in health.detail
        for call in every_call(connector):
            with pytest.raises(NeedsAttention):
                call()
        assert database.counts(DORA)["customers"] == 1
