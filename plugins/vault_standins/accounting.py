"""A stand-in accounting service: a REST API in the style of Swedish accounting services.

`Authorization: Bearer <token>`; JSON bodies wrapped in the resource name
(`{"Customer": {...}}`), lists under the plural (`{"Customers": [...]}`).
Customers, invoices, vouchers and invoice payments, and the financial years
they belong to.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from vault_standins.httpserver import JSONHandler, StandInServer
from vault_standins.people import Person


@dataclass
class AccountingState:
    token: str
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    vouchers: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    financial_years: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"Id": y - 2020, "FromDate": f"{y}-01-01", "ToDate": f"{y}-12-31"}
            for y in range(2021, 2028)
        ]
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0
    down: bool = False

    def add_person(self, person: Person) -> str:
        with self.lock:
            number = str(1000 + len(self.customers))
            self.customers[number] = {
                "CustomerNumber": number,
                "Name": person.name,
                "Email": person.email,
                "Phone1": person.phone,
                "Address1": person.address,
                "ZipCode": "211 35",
                "City": "Malmö",
                "OrganisationNumber": f"{person.personnummer[2:8]}-{person.personnummer[8:]}",
                "Type": "PRIVATE",
            }
            for year, total in ((2025, 4950.0), (2026, 1290.0)):
                invoice_number = 5000 + len(self.invoices)
                self.invoices[invoice_number] = {
                    "DocumentNumber": invoice_number,
                    "CustomerNumber": number,
                    "CustomerName": person.name,
                    "InvoiceDate": f"{year}-03-15",
                    "Total": total,
                    "FinancialYear": year - 2020,
                    "Instalments": year == 2025,
                    "CreditCheck": "approved" if year == 2025 else None,
                }
                self.vouchers.append(
                    {
                        "VoucherSeries": "B",
                        "VoucherNumber": len(self.vouchers) + 1,
                        "ReferenceNumber": invoice_number,
                        "TransactionDate": f"{year}-03-15",
                        "Year": year - 2020,
                    }
                )
                self.payments.append(
                    {
                        "Number": len(self.payments) + 1,
                        "InvoiceNumber": invoice_number,
                        "Amount": total,
                        "PaymentDate": f"{year}-04-01",
                        "ModeOfPayment": "SWISH",
                    }
                )
            return number


class AccountingHandler(JSONHandler):
    def _authorised(self) -> bool:
        state: AccountingState = self.server.state
        if state.delay:
            time.sleep(state.delay)
        if state.down:
            self.send_json(503, {"ErrorInformation": {"message": "Service unavailable"}})
            return False
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self.send_json(401, {"ErrorInformation": {"code": 2000311, "message": "Invalid token"}})
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorised():
            return
        state: AccountingState = self.server.state
        parsed = urlparse(self.path)
        query = dict(parse_qsl(parsed.query))
        parts = parsed.path.strip("/").split("/")
        with state.lock:
            if parts == ["3", "customers"]:
                found = [
                    c
                    for c in state.customers.values()
                    if (not query.get("email") or c["Email"].lower() == query["email"].lower())
                    and (
                        not query.get("organisationnumber")
                        or c["OrganisationNumber"] == query["organisationnumber"]
                    )
                ]
                self.send_json(200, {"Customers": found})
            elif parts[:2] == ["3", "customers"] and len(parts) == 3:
                customer = state.customers.get(parts[2])
                self.send_json(
                    *((200, {"Customer": customer}) if customer else (404, _not_found("Customer")))
                )
            elif parts == ["3", "invoices"]:
                number = query.get("customernumber")
                self.send_json(
                    200,
                    {
                        "Invoices": [
                            i for i in state.invoices.values() if i["CustomerNumber"] == number
                        ]
                    },
                )
            elif parts == ["3", "vouchers"]:
                ref = int(query.get("referencenumber", "0") or 0)
                self.send_json(
                    200, {"Vouchers": [v for v in state.vouchers if v["ReferenceNumber"] == ref]}
                )
            elif parts == ["3", "invoicepayments"]:
                ref = int(query.get("invoicenumber", "0") or 0)
                self.send_json(
                    200,
                    {"InvoicePayments": [p for p in state.payments if p["InvoiceNumber"] == ref]},
                )
            elif parts == ["3", "financialyears"]:
                self.send_json(200, {"FinancialYears": state.financial_years})
            elif parts == ["3", "companyinformation"]:
                self.send_json(200, {"CompanyInformation": {"CompanyName": "Leep AB (stand-in)"}})
            else:
                self.send_json(404, _not_found("Resource"))

    def do_PUT(self) -> None:
        if not self._authorised():
            return
        state: AccountingState = self.server.state
        parts = urlparse(self.path).path.strip("/").split("/")
        try:
            body = json.loads(self.read_body() or b"{}")
        except json.JSONDecodeError:
            self.send_json(400, {"ErrorInformation": {"message": "Invalid JSON"}})
            return
        with state.lock:
            if parts[:2] == ["3", "customers"] and len(parts) == 3 and parts[2] in state.customers:
                customer = state.customers[parts[2]]
                customer.update(
                    {k: v for k, v in body.get("Customer", {}).items() if k != "CustomerNumber"}
                )
                self.send_json(200, {"Customer": customer})
            else:
                self.send_json(404, _not_found("Customer"))


def _not_found(what: str) -> dict[str, Any]:
    return {"ErrorInformation": {"code": 2000433, "message": f"{what} not found"}}


def start(
    token: str, people: Iterable[Person] = (), port: int = 0
) -> tuple[StandInServer, AccountingState]:
    state = AccountingState(token)
    for person in people:
        if person.accounting:
            state.add_person(person)
    return StandInServer(AccountingHandler, state, port).start(), state


def financial_year_end(state: AccountingState, year_id: int) -> dt.date:
    year = next(y for y in state.financial_years if y["Id"] == year_id)
    return dt.date.fromisoformat(year["ToDate"])
