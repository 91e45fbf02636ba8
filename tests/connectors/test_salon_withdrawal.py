"""The salon's SQL connector told of a withdrawal of consent: it erases the
person's data in the categories configured for that purpose alone, each
table by its erase mode, blanking rather than deleting where a row holds
other purposes' data too; on SQLite and, where it answers, PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.test_salon_identities import (  # noqa: F401 - the fixture
    DORA,
    ERIK,
    ERIK_BY_EMAIL,
    PEOPLE,
    TODAY,
    SalonDatabase,
    database,
)
from vault import __version__
from vault.connectors import Capability, Connector, Removed
from vault.connectors.registry import ConnectorRegistry
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins

# The salon also sends a newsletter, on the customers' consent: an address
# column beside their contact details, and a table of the issues sent.
NEWSLETTER = {
    "description": "Newsletter address and the issues sent",
    "purpose": "marketing_email",
    "legal_basis": "consent",
    "retention": "as long as the consent stands",
}


def with_newsletter(salon_db: SalonDatabase) -> dict[str, Any]:
    pk = "SERIAL PRIMARY KEY" if salon_db.mark == "%s" else "INTEGER PRIMARY KEY"
    with salon_db.connect() as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN newsletter_email TEXT")
        conn.execute(
            f"CREATE TABLE newsletter_issues (id {pk}, "
            "customer_id INTEGER REFERENCES customers(id), sent_at TEXT)"
        )
        conn.execute("UPDATE customers SET newsletter_email = email")
        conn.execute(
            "INSERT INTO newsletter_issues (customer_id, sent_at) "
            "SELECT id, '2026-11-01' FROM customers"
        )
        conn.commit()
    section = standins.salon_section(salon_db.dsn, salon_db.schema)
    tables = copy.deepcopy(section["tables"])
    tables["customers"]["columns"]["newsletter_email"] = "newsletter"
    tables["newsletter_issues"] = {
        "parent": {"column": "customer_id", "table": "customers"},
        "columns": {"sent_at": "newsletter"},
        "erase": "delete",
    }
    return {
        **section,
        "tables": tables,
        "categories": {**section["categories"], "newsletter": NEWSLETTER},
    }


@pytest.fixture
def salon_connector(
    database: SalonDatabase,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> Iterator[Connector]:
    registry = ConnectorRegistry.load(
        {"salon": with_newsletter(database)},
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        {},
    )
    installed = registry.get("salon")
    assert installed is not None and installed.connector is not None
    assert installed.capabilities == {Capability.WITHDRAW_CONSENT}
    yield installed.connector
    registry.close()


def rows(salon_db: SalonDatabase, sql: str) -> list[tuple[Any, ...]]:
    with salon_db.connect() as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]


def test_a_withdrawal_erases_the_purposes_categories_alone(
    database: SalonDatabase,  # noqa: F811 - the fixture
    salon_connector: Connector,
) -> None:
    before = database.counts(ERIK)
    references = salon_connector.find(ERIK_BY_EMAIL)
    outcomes = salon_connector.withdraw_consent(
        ERIK_BY_EMAIL, "marketing_email", ["newsletter"], TODAY, references=references
    )
    assert outcomes == [
        Removed("newsletter", "1 row deleted from newsletter_issues"),
        Removed("newsletter", "newsletter_email blanked in 1 row of customers"),
    ]
    # The customer, their bookings and notes stay: they rest on the contract.
    assert database.counts(ERIK) == before
    customers = rows(database, "SELECT email, newsletter_email FROM customers ORDER BY id")
    erik = [c for c in customers if c[0] == ERIK.email]
    assert erik == [(ERIK.email, None)]
    # Everyone else's newsletter stays.
    others = [c for c in customers if c[0] != ERIK.email]
    assert others and all(address == email for email, address in others)
    assert len(rows(database, "SELECT id FROM newsletter_issues")) == len(others)


def test_a_withdrawal_told_again_removes_nothing_more(
    database: SalonDatabase,  # noqa: F811 - the fixture
    salon_connector: Connector,
) -> None:
    references = salon_connector.find(ERIK_BY_EMAIL)
    told = ("marketing_email", ["newsletter"], TODAY)
    salon_connector.withdraw_consent(ERIK_BY_EMAIL, *told, references=references)
    assert salon_connector.withdraw_consent(ERIK_BY_EMAIL, *told, references=references) == []


def test_a_purpose_the_salon_holds_nothing_for_changes_nothing(
    database: SalonDatabase,  # noqa: F811 - the fixture
    salon_connector: Connector,
) -> None:
    before = {person.key: database.counts(person) for person in PEOPLE}
    assert salon_connector.withdraw_consent(ERIK_BY_EMAIL, "marketing_sms", [], TODAY) == []
    assert {person.key: database.counts(person) for person in PEOPLE} == before
    assert DORA.email in {c[0] for c in rows(database, "SELECT email FROM customers")}
