"""Connector for the accounting system: a REST API in the style of Swedish accounting services.

Exports the customer, invoices (with instalment and credit-check data),
vouchers and payments. Erasure anonymises the customer master data, which the
law allows, and reports invoices, vouchers and payments as retained under the
Bookkeeping Act through the end of the 7th year after their financial year
closed (the last day kept), computed per item. A customer already anonymised
is still reached through the reference `find()` returned (`customer:N`), so a
re-run reports the same books retained.

Configuration:

    [connectors.accounting]
    url = "https://api.accounting.example"
    token_env = "ACCOUNTING_TOKEN"   # a bearer token; or token_file
    timeout_s = 10
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx

from vault.connectors import (
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    LegalBasis,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    normal_form,
)
from vault.plugins import hookimpl

__version__ = "1.0.0"

BOOKKEEPING_ACT = "Bokföringslagen (1999:1078) 7 kap. 2 §: kept to the end of the 7th year after the financial year closed"
ANONYMISED = {
    "Name": "Anonymised customer",
    "Email": "",
    "Phone1": "",
    "Address1": "",
    "ZipCode": "",
    "City": "",
    "OrganisationNumber": "",
}


class AccountingConnector(Connector):
    name = "accounting"
    version = __version__

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.url = str(settings.require("url")).rstrip("/")
        self._http = httpx.Client(
            timeout=float(settings.get("timeout_s", 10)),
            headers={
                "Authorization": f"Bearer {settings.secret('token')}",
                "Accept": "application/json",
            },
        )

    def holdings(self) -> Holdings:
        seven_years = "end of the 7th year after the financial year closed"
        return Holdings(
            system=self.name,
            description="Accounting: customers, invoices, vouchers and payments",
            location=str(self.settings.get("location", "SE")),
            identified_by=(IdentityKind.EMAIL, IdentityKind.PERSONNUMMER, IdentityKind.EXTERNAL_ID),
            categories=(
                HeldCategory(
                    "contact",
                    "Customer name, e-mail, phone and address",
                    "billing",
                    LegalBasis.CONTRACT,
                    "as long as the customer relationship needs it",
                ),
                HeldCategory(
                    "identity_number",
                    "Personnummer of private customers",
                    "billing",
                    LegalBasis.CONTRACT,
                    "as long as the customer relationship needs it",
                ),
                HeldCategory(
                    "bookkeeping.invoices",
                    "Invoices, with instalment and credit-check results",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    seven_years,
                    False,
                    BOOKKEEPING_ACT,
                ),
                HeldCategory(
                    "bookkeeping.vouchers",
                    "Accounting vouchers",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    seven_years,
                    False,
                    BOOKKEEPING_ACT,
                ),
                HeldCategory(
                    "bookkeeping.payments",
                    "Card and Swish payments",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    seven_years,
                    False,
                    BOOKKEEPING_ACT,
                ),
            ),
        )

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def _request(self, method: str, path: str, missing_ok: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"{self.url}{path}", **kwargs)
        except httpx.TransportError as error:
            raise ConnectorUnavailable(
                f"accounting API unreachable ({type(error).__name__})"
            ) from None
        if response.status_code >= 500:
            raise ConnectorUnavailable(f"accounting API answered HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise NeedsAttention("the accounting API refused the token")
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise NeedsAttention(
                f"accounting API answered HTTP {response.status_code} to {method} {path.split('?')[0]}"
            )
        try:
            return response.json()
        except ValueError:
            raise NeedsAttention(
                "the accounting API answered with something that is not JSON"
            ) from None

    def _found(
        self, identities: list[Identity]
    ) -> dict[str, tuple[dict[str, Any], list[Identity]]]:
        """Each customer the identities lead to, with the identities that found it."""
        found: dict[str, tuple[dict[str, Any], list[Identity]]] = {}
        for identity in identities:
            if identity.kind is IdentityKind.EMAIL:
                customers = self._get("/3/customers", email=identity.value)["Customers"]
            elif identity.kind is IdentityKind.PERSONNUMMER:
                number = f"{identity.value[2:8]}-{identity.value[8:]}"
                customers = self._get("/3/customers", organisationnumber=number)["Customers"]
            elif identity.kind is IdentityKind.EXTERNAL_ID and identity.system == self.name:
                customers = [self._get(f"/3/customers/{identity.value}")["Customer"]]
            else:
                continue
            for customer in customers:
                if not _anonymised(customer):
                    number = str(customer["CustomerNumber"])
                    found.setdefault(number, (customer, []))[1].append(identity)
        return found

    def _customers(self, identities: list[Identity]) -> list[dict[str, Any]]:
        return [customer for customer, _ in self._found(identities).values()]

    def _referenced(self, references: list[str]) -> list[dict[str, Any]]:
        """The customers that references from `find()` name, anonymised ones included."""
        customers = []
        for reference in references:
            kind, _, number = reference.partition(":")
            if kind != "customer" or not number.isalnum():
                raise NeedsAttention("a reference kept in the job is not a customer (customer:N)")
            answer = self._request("GET", f"/3/customers/{number}", missing_ok=True)
            if answer is not None:
                customers.append(answer["Customer"])
        return customers

    def _holds(self, customer: dict[str, Any]) -> tuple[Identity, ...]:
        held = [
            normal_form(IdentityKind.PERSONNUMMER, customer.get("OrganisationNumber") or ""),
            normal_form(IdentityKind.EMAIL, customer.get("Email") or ""),
            normal_form(IdentityKind.PHONE, customer.get("Phone1") or ""),
            normal_form(IdentityKind.EXTERNAL_ID, str(customer["CustomerNumber"]), self.name),
        ]
        return tuple(identity for identity in held if identity is not None)

    def _books(self, customer_number: str) -> tuple[list[dict], list[dict], list[dict]]:
        invoices = self._get("/3/invoices", customernumber=customer_number)["Invoices"]
        vouchers, payments = [], []
        for invoice in invoices:
            vouchers += self._get("/3/vouchers", referencenumber=invoice["DocumentNumber"])[
                "Vouchers"
            ]
            payments += self._get("/3/invoicepayments", invoicenumber=invoice["DocumentNumber"])[
                "InvoicePayments"
            ]
        return invoices, vouchers, payments

    def find(self, identities: list[Identity]) -> list[str]:
        return [f"customer:{number}" for number in self._found(identities)]

    def match(self, identities: list[Identity]) -> list[Match]:
        return [
            Match(f"customer:{number}", tuple(found_by), self._holds(customer))
            for number, (customer, found_by) in self._found(identities).items()
        ]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        # With references, the customers the vault examined, and no new search.
        if references is None:
            customers = self._customers(identities)
        else:
            customers = self._referenced(references)
        for customer in customers:
            if not _anonymised(customer):
                yield ExportItem(
                    "contact",
                    {
                        k: customer.get(k, "")
                        for k in ("Name", "Email", "Phone1", "Address1", "ZipCode", "City")
                    },
                )
            if customer.get("OrganisationNumber"):
                yield ExportItem(
                    "identity_number", {"personnummer": customer["OrganisationNumber"]}
                )
            invoices, vouchers, payments = self._books(str(customer["CustomerNumber"]))
            for invoice in invoices:
                yield ExportItem(
                    "bookkeeping.invoices",
                    {
                        k: invoice.get(k)
                        for k in (
                            "DocumentNumber",
                            "InvoiceDate",
                            "Total",
                            "Instalments",
                            "CreditCheck",
                        )
                    },
                )
            for voucher in vouchers:
                yield ExportItem("bookkeeping.vouchers", dict(voucher))
            for payment in payments:
                yield ExportItem("bookkeeping.payments", dict(payment))

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        # On a re-run the identities find nobody (the first attempt anonymised
        # the customer); the references still reach the books that are kept.
        if references is None:
            customers = self._customers(identities)
        else:
            customers = self._referenced(references)
        if not customers:
            return []
        year_ends = {
            int(y["Id"]): dt.date.fromisoformat(y["ToDate"])
            for y in self._get("/3/financialyears")["FinancialYears"]
        }
        outcomes: list[Outcome] = []
        for customer in customers:
            number = str(customer["CustomerNumber"])
            invoices, vouchers, payments = self._books(number)
            if not _anonymised(customer):
                self._request("PUT", f"/3/customers/{number}", json={"Customer": ANONYMISED})
                outcomes.append(Removed("contact", "customer master data anonymised"))
                outcomes.append(
                    Removed("identity_number", "personnummer removed from the customer record")
                )
            kept: dict[tuple[str, dt.date], int] = defaultdict(int)
            for invoice in invoices:
                kept[
                    "bookkeeping.invoices",
                    _keep_until(year_ends, invoice.get("FinancialYear"), invoice["InvoiceDate"]),
                ] += 1
            for voucher in vouchers:
                kept[
                    "bookkeeping.vouchers",
                    _keep_until(year_ends, voucher.get("Year"), voucher["TransactionDate"]),
                ] += 1
            for payment in payments:
                kept[
                    "bookkeeping.payments", _keep_until(year_ends, None, payment["PaymentDate"])
                ] += 1
            for (category, until), count in sorted(kept.items()):
                # `until` is the last day kept: on that day the item is still held.
                if until >= today:
                    noun = category.split(".")[1]
                    outcomes.append(Retained(category, f"{noun}: {count}", BOOKKEEPING_ACT, until))
        return outcomes

    def health(self) -> HealthReport:
        try:
            info = self._get("/3/companyinformation")
        except (ConnectorUnavailable, NeedsAttention) as error:
            return HealthReport(False, str(error))
        return HealthReport(
            True, info.get("CompanyInformation", {}).get("CompanyName", "answering")
        )

    def close(self) -> None:
        self._http.close()


def _anonymised(customer: dict[str, Any]) -> bool:
    return bool(customer.get("Name") == ANONYMISED["Name"])


def _keep_until(year_ends: dict[int, dt.date], year_id: Any, fallback_date: str) -> dt.date:
    """The last day kept: the end of the 7th calendar year after the one in which
    the financial year closed."""
    closed = year_ends.get(int(year_id)) if year_id is not None else None
    if closed is None:
        closed = dt.date(dt.date.fromisoformat(fallback_date[:10]).year, 12, 31)
    return dt.date(closed.year + 7, 12, 31)


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [AccountingConnector]
