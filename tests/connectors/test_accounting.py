"""The accounting connector against its stand-in: re-runs through the sealed
references, and matches that say what each customer holds."""

from __future__ import annotations

import datetime as dt

import pytest

from vault.connectors import Connector, Match, Removed, Retained
from vault.connectors.registry import ConnectorRegistry
from vault.core.identities import Identity, IdentityKind
from vault_standins import demo as standins

ANNA = [
    Identity(IdentityKind.PERSONNUMMER, "198112189876"),
    Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),
]
TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def connector(registry: ConnectorRegistry) -> Connector:
    connector = registry.get("accounting").connector  # type: ignore[union-attr]
    assert connector is not None
    return connector


def retained(outcomes: list) -> list[tuple[str, dt.date]]:
    return [(o.category, o.until) for o in outcomes if isinstance(o, Retained)]


def test_an_anonymised_customers_books_are_still_reported_retained_on_a_re_run(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    references = connector.find(ANNA)
    first = connector.erase(ANNA, TODAY, references=references)
    assert connector.find(ANNA) == []  # anonymised: the identities find nobody
    second = connector.erase(ANNA, TODAY, references=references)
    assert retained(second) == retained(first)
    assert ("bookkeeping.invoices", dt.date(2032, 12, 31)) in retained(second)
    assert not [o for o in second if isinstance(o, Removed)]
    assert systems.accounting.customers["1000"]["Name"] == "Anonymised customer"


def test_books_are_kept_through_their_last_day(connector: Connector) -> None:
    outcomes = connector.erase(ANNA, dt.date(2032, 12, 31))
    assert ("bookkeeping.invoices", dt.date(2032, 12, 31)) in retained(outcomes)
    assert ("bookkeeping.invoices", dt.date(2032, 12, 31)) not in retained(
        connector.erase(ANNA, dt.date(2033, 1, 1))
    )


def test_a_referenced_customer_that_is_gone_is_nothing(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    references = connector.find(ANNA)
    systems.accounting.customers.clear()
    systems.accounting.invoices.clear()
    assert connector.erase(ANNA, TODAY, references=references) == []


def test_a_customer_found_by_e_mail_with_another_personnummer_shows_it_in_holds(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    systems.accounting.customers["1000"].update(
        OrganisationNumber="900101-0017", Phone1="070-123 45 67"
    )
    assert connector.match(ANNA) == [
        Match(
            "customer:1000",
            (ANNA[1],),
            (
                Identity(IdentityKind.PERSONNUMMER, "199001010017"),
                Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),
                Identity(IdentityKind.PHONE, "+46701234567"),
                Identity(IdentityKind.EXTERNAL_ID, "1000", "accounting"),
            ),
        )
    ]
    assert connector.holdings().identified_by == (
        IdentityKind.EMAIL,
        IdentityKind.PERSONNUMMER,
        IdentityKind.EXTERNAL_ID,
    )


def test_export_with_references_reads_the_examined_customers_only(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    references = connector.find(ANNA)
    before = list(connector.export(ANNA, references=references))
    # A customer record created since, with Anna's e-mail: never examined.
    systems.accounting.customers["1999"] = dict(
        systems.accounting.customers["1000"], CustomerNumber="1999", OrganisationNumber=""
    )
    assert list(connector.export(ANNA, references=references)) == before
    assert len(list(connector.export(ANNA))) > len(before)
    assert list(connector.export(ANNA, references=[])) == []


def test_an_anonymised_customers_export_by_references_holds_only_the_kept_books(
    connector: Connector,
) -> None:
    references = connector.find(ANNA)
    outcomes = connector.erase(ANNA, TODAY, references=references)
    kept = {o.category for o in outcomes if isinstance(o, Retained)}
    left = {item.category for item in connector.export(ANNA, references=references)}
    assert left and left <= kept
