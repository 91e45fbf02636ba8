"""The contract suite itself: its re-run check fails a connector that loses retained
items on a second attempt, and passes one that keeps them through its references."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from vault.connectors import (
    Connector,
    ConnectorSettings,
    ExportItem,
    HeldCategory,
    Holdings,
    Outcome,
    Removed,
    Retained,
)
from vault.connectors.testing import ConnectorContract, takes_references
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis

ANNA = [Identity(IdentityKind.EMAIL, "anna@example.se")]
KEPT_UNTIL = dt.date(2033, 12, 31)


class _Ledger(Connector):
    """One customer whose e-mail erasure blanks, and whose invoice is kept."""

    name = "ledger"

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.customers = {"c1": "anna@example.se"}

    def holdings(self) -> Holdings:
        return Holdings(
            "ledger",
            "a ledger",
            "SE",
            (
                HeldCategory(
                    "contact", "e-mail", "billing", LegalBasis.CONTRACT, "while a customer"
                ),
                HeldCategory(
                    "bookkeeping.invoices",
                    "invoices",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    "7 years",
                    erasable=False,
                    legal_reason="the Bookkeeping Act",
                ),
            ),
        )

    def find(self, identities: list[Identity]) -> list[str]:
        emails = {i.value for i in identities}
        return [f"customer:{key}" for key, email in self.customers.items() if email in emails]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        for _ in self.find(identities) if references is None else references:
            yield ExportItem("contact", {"email": "anna@example.se"})

    def _erase(self, keys: list[str]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for key in keys:
            if self.customers[key]:
                self.customers[key] = ""
                outcomes.append(Removed("contact", "e-mail blanked"))
            outcomes.append(
                Retained("bookkeeping.invoices", "invoices: 1", "the Bookkeeping Act", KEPT_UNTIL)
            )
        return outcomes


class _Remembers(_Ledger):
    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        if references is None:
            references = self.find(identities)
        return self._erase([reference.split(":")[1] for reference in references])


class _Forgets(_Ledger):
    """Searches by the identities on every attempt, as the built-ins once did."""

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        return self._erase([reference.split(":")[1] for reference in self.find(identities)])


class _Old(_Forgets):
    """Written before `references` existed."""

    def erase(self, identities: list[Identity], today: dt.date) -> list[Outcome]:  # type: ignore[override]
        return super().erase(identities, today)

    def export(self, identities: list[Identity]) -> Iterator[ExportItem]:  # type: ignore[override]
        return super().export(identities)


class _SearchesAgain(_Remembers):
    """Takes the references for export and searches by the identities all the same."""

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        return super().export(identities)


def re_run_check(connector: Connector) -> None:
    ConnectorContract().test_a_re_run_with_the_references_reports_the_same_retained_items(
        connector, ANNA
    )


def test_a_connector_that_keeps_its_references_passes_the_re_run_check() -> None:
    re_run_check(_Remembers(ConnectorSettings("ledger", {})))


@pytest.mark.parametrize("forgetful", [_Forgets, _Old])
def test_a_connector_that_loses_retained_items_on_a_re_run_fails_it(
    forgetful: type[_Ledger],
) -> None:
    with pytest.raises(AssertionError, match="lost or changed retained items"):
        re_run_check(forgetful(ConnectorSettings("ledger", {})))


def test_a_connector_without_the_parameter_is_called_without_it() -> None:
    assert takes_references(_Remembers(ConnectorSettings("ledger", {})).erase)
    assert not takes_references(_Old(ConnectorSettings("ledger", {})).erase)


def export_check(connector: Connector) -> None:
    ConnectorContract().test_export_by_the_references_find_returned_gives_what_the_identities_do(
        connector, ANNA
    )


@pytest.mark.parametrize("connector_class", [_Remembers, _Old])
def test_an_export_by_references_or_an_old_export_passes_the_export_check(
    connector_class: type[_Ledger],
) -> None:
    export_check(connector_class(ConnectorSettings("ledger", {})))
    assert takes_references(connector_class.export) is (connector_class is _Remembers)


def test_an_export_that_searches_again_fails_the_export_check() -> None:
    with pytest.raises(AssertionError, match="no reference names"):
        export_check(_SearchesAgain(ConnectorSettings("ledger", {})))
