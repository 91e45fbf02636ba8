"""The salon's SQL connector finds people whose identities the salon stored in
another written form, says which identities found which row, and reaches rows
by the references of an earlier attempt; on SQLite and, where it answers, PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.test_salon_postgres import DSN, _reachable
from vault import __version__
from vault.connectors import Connector, Removed, Retained
from vault.connectors.registry import ConnectorRegistry
from vault.core.identities import Identity, IdentityKind
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins
from vault_standins import salon
from vault_standins.people import Person

TODAY = dt.date(2026, 12, 15)

# As salon staff typed them: spaces, a national number, capitals.
DORA = Person("dora", "Dora", "Dahl", "dora@example.se", "+44 7700 000998", "199001010017")
ERIK = Person("erik", "Erik", "Ek", "Erik.Ek@Example.SE", "070-123 45 67", "199001010017")
# Shares the last six digits with Dora's number, and is someone else.
FREJ = Person("frej", "Frej", "Falk", "frej@example.se", "+46 70 000 09 98", "199001010017")
for _customer in (DORA, ERIK, FREJ):
    _customer.salon_customer = True
# Stored with a capital outside ASCII, which SQLite's lower() leaves as it is.
ASA = Person("asa", "Åsa", "Öberg", "Åsa@Example.se", "+46 70 555 66 77", "199001010017")
ASA.salon_customer = True
GRETA = Person(
    "greta", "Greta", "Gran", "greta@example.se", "0701112233", "811218-9876", salon_student=True
)
PEOPLE = [DORA, ERIK, FREJ, ASA, GRETA]

DORA_BY_PHONE = [Identity(IdentityKind.PHONE, "+447700000998")]
ERIK_BY_EMAIL = [Identity(IdentityKind.EMAIL, "erik.ek@example.se")]
ERIK_BY_PHONE = [Identity(IdentityKind.PHONE, "+46701234567")]
GRETA_BY_PNR = [Identity(IdentityKind.PERSONNUMMER, "198112189876")]


@dataclass
class SalonDatabase:
    dsn: str
    schema: str
    connect: Callable[[], AbstractContextManager[Any]]
    mark: str

    def counts(self, person: Person) -> dict[str, int]:
        with self.connect() as conn:
            return salon.counts(conn, self.mark, person)

    def salon_days(self) -> int:
        """All scheduled salon days: only Greta has any."""
        with self.connect() as conn:
            return int(conn.execute("SELECT count(*) FROM salon_days").fetchone()[0])


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SalonDatabase]:
    if request.param == "sqlite":
        path = salon.create_sqlite(tmp_path / "salon.db", PEOPLE)
        yield SalonDatabase(
            f"sqlite:///{path}", "public", lambda: closing(sqlite3.connect(path)), "?"
        )
        return
    if not _reachable():
        pytest.skip(f"PostgreSQL is not reachable at {DSN}")
    import psycopg

    schema = f"salon_{secrets.token_hex(4)}"
    salon.create_postgres(DSN, schema, PEOPLE)

    def connect() -> Any:
        conn = psycopg.connect(DSN, options=f"-c search_path={schema}")
        return conn

    yield SalonDatabase(DSN, schema, connect, "%s")
    salon.drop_postgres(DSN, schema)


def connect_salon(
    database: SalonDatabase, tmp_path: Path, tables: dict[str, Any] | None = None
) -> Iterator[Connector]:
    section = standins.salon_section(database.dsn, database.schema)
    if tables is not None:
        section["tables"] = tables
    registry = ConnectorRegistry.load(
        {"salon": section}, make_plugin_manager(), VaultHost(__version__), tmp_path, {}
    )
    installed = registry.get("salon")
    assert installed is not None and installed.connector is not None
    yield installed.connector
    registry.close()


@pytest.fixture
def connector(database: SalonDatabase, tmp_path: Path) -> Iterator[Connector]:
    yield from connect_salon(database, tmp_path)


def test_a_person_known_by_phone_only_is_found_exported_and_erased(
    connector: Connector, database: SalonDatabase
) -> None:
    assert database.counts(DORA) == {
        "customers": 1,
        "appointments": 3,
        "colour_notes": 1,
        "students": 0,
        "salon_days": 0,
    }
    assert connector.find(DORA_BY_PHONE)
    exported = list(connector.export(DORA_BY_PHONE))
    assert {item.category for item in exported} == {"contact", "booking", "notes"}
    assert {item.data.get("phone") for item in exported} >= {"+44 7700 000998"}

    outcomes = connector.erase(DORA_BY_PHONE, TODAY)
    removed = {o.category for o in outcomes if isinstance(o, Removed)}
    assert removed == {"contact", "booking", "notes"}
    assert set(database.counts(DORA).values()) == {0}
    # Frej's number ends in the same six digits; he is someone else and stays.
    assert database.counts(FREJ)["colour_notes"] == 1
    assert connector.find(DORA_BY_PHONE) == []


@pytest.mark.parametrize("identities", [ERIK_BY_EMAIL, ERIK_BY_PHONE], ids=["email", "phone"])
def test_a_mixed_case_email_and_a_national_phone_find_the_customer(
    connector: Connector, database: SalonDatabase, identities: list[Identity]
) -> None:
    assert connector.find(identities)
    connector.erase(identities, TODAY)
    assert set(database.counts(ERIK).values()) == {0}
    assert database.counts(DORA)["customers"] == 1


def test_a_personnummer_in_its_short_form_finds_the_student(
    connector: Connector, database: SalonDatabase
) -> None:
    assert database.salon_days() == 2
    exported = list(connector.export(GRETA_BY_PNR))
    assert {"identity_number", "student.schedule"} <= {item.category for item in exported}
    connector.erase(GRETA_BY_PNR, TODAY)
    assert database.salon_days() == 0
    assert database.counts(GRETA)["students"] == 0, "the personnummer was not blanked"


def test_someone_with_the_same_last_digits_is_not_found(connector: Connector) -> None:
    assert connector.find([Identity(IdentityKind.PHONE, "+46720000998")]) == []
    assert connector.find([Identity(IdentityKind.PERSONNUMMER, "197112189876")]) == []


def test_holdings_say_which_identity_kinds_the_salon_finds_people_by(
    connector: Connector,
) -> None:
    assert connector.holdings().identified_by == (
        IdentityKind.PERSONNUMMER,
        IdentityKind.EMAIL,
        IdentityKind.PHONE,
    )


def test_match_says_which_identities_found_a_row_and_which_it_holds(
    connector: Connector,
) -> None:
    someone_elses_phone = Identity(IdentityKind.PHONE, "+46709999999")
    identities = [*ERIK_BY_EMAIL, *ERIK_BY_PHONE, someone_elses_phone]
    matches = {m.reference.partition(":")[0]: m for m in connector.match(identities)}
    assert set(matches) == {"customers", "appointments", "colour_notes"}
    customer = matches["customers"]
    assert customer.matched_by == (*ERIK_BY_EMAIL, *ERIK_BY_PHONE)
    assert set(customer.holds) == {*ERIK_BY_EMAIL, *ERIK_BY_PHONE}
    # A row that refers to Erik's is led to as his is, and holds no identity itself.
    assert matches["colour_notes"].matched_by == customer.matched_by
    assert matches["colour_notes"].holds == ()

    # Found by e-mail alone, the row still says which phone it holds.
    (found,) = [m for m in connector.match(ERIK_BY_EMAIL) if m.reference.startswith("customers")]
    assert found.matched_by == tuple(ERIK_BY_EMAIL)
    assert set(found.holds) == {*ERIK_BY_EMAIL, *ERIK_BY_PHONE}

    students = [m for m in connector.match(GRETA_BY_PNR) if m.reference.startswith("students:")]
    assert [m.holds for m in students] == [tuple(GRETA_BY_PNR)]


def test_a_re_run_with_the_references_reports_the_same_retained_rows(
    database: SalonDatabase, tmp_path: Path
) -> None:
    # The students' personnummer is blanked on the first run, so the second
    # cannot find them by it: the references of the first attempt still reach
    # the salon days that are kept.
    tables = copy.deepcopy(standins.SALON_TABLES)
    tables["salon_days"].update(erase="retain", retain_days=30)
    for connector in connect_salon(database, tmp_path, tables):
        references = [m.reference for m in connector.match(GRETA_BY_PNR)]
        first = connector.erase(GRETA_BY_PNR, TODAY, references)
        second = connector.erase(GRETA_BY_PNR, TODAY, references)

        def retained(outcomes: list[Any]) -> list[Retained]:
            return sorted(
                (o for o in outcomes if isinstance(o, Retained)), key=lambda o: o.category
            )

        assert retained(first) and retained(second) == retained(first)
        assert {o.category for o in first if isinstance(o, Removed)} == {
            "identity_number",
            "student.schedule",
        }
        assert not [o for o in second if isinstance(o, Removed)]
        # Without them the blanked student is out of reach.
        assert connector.erase(GRETA_BY_PNR, TODAY) == []
        assert database.counts(GRETA)["students"] == 0 and database.salon_days() == 2


def test_a_re_run_with_references_to_deleted_rows_removes_nothing(
    connector: Connector, database: SalonDatabase
) -> None:
    references = connector.find(DORA_BY_PHONE)
    assert connector.erase(DORA_BY_PHONE, TODAY, references)
    assert connector.erase(DORA_BY_PHONE, TODAY, references) == []
    assert database.counts(FREJ)["customers"] == 1


ASA_BY_EMAIL = [Identity(IdentityKind.EMAIL, "åsa@example.se")]


def test_an_email_with_a_capital_outside_ascii_finds_the_customer(
    connector: Connector, database: SalonDatabase
) -> None:
    assert database.counts(ASA)["customers"] == 1
    [customer] = [m for m in connector.match(ASA_BY_EMAIL) if m.reference.startswith("customers")]
    assert customer.matched_by == tuple(ASA_BY_EMAIL)
    assert {i.data.get("email") for i in connector.export(ASA_BY_EMAIL)} >= {"Åsa@Example.se"}
    connector.erase(ASA_BY_EMAIL, TODAY)
    assert set(database.counts(ASA).values()) == {0}
    assert database.counts(ERIK)["customers"] == 1


def test_wildcards_in_an_email_are_no_wildcards(connector: Connector) -> None:
    # "_" and "%" are LIKE's wildcards: erik_ek@ must not narrow to Erik.Ek@.
    assert connector.find([Identity(IdentityKind.EMAIL, "erik_ek@example.se")]) == []
    assert connector.find([Identity(IdentityKind.EMAIL, "erik%@example.se")]) == []


def add_customer(database: SalonDatabase, person: Person) -> None:
    """A row written after the vault examined the person's rows: the same e-mail."""
    mark = database.mark
    with database.connect() as conn:
        conn.execute(
            f"INSERT INTO customers (name, phone, email) VALUES ({mark}, {mark}, {mark})",
            (person.name, person.phone, person.email),
        )
        conn.commit()


def test_erase_with_references_erases_the_examined_rows_only(
    connector: Connector, database: SalonDatabase
) -> None:
    references = connector.find(ERIK_BY_EMAIL)
    add_customer(database, ERIK)
    assert database.counts(ERIK)["customers"] == 2
    outcomes = connector.erase(ERIK_BY_EMAIL, TODAY, references)
    assert {o.category for o in outcomes if isinstance(o, Removed)} == {
        "contact",
        "booking",
        "notes",
    }
    # The referenced row went with its appointments and note; the row the
    # vault never examined is untouched.
    assert database.counts(ERIK) == {
        "customers": 1,
        "appointments": 0,
        "colour_notes": 0,
        "students": 0,
        "salon_days": 0,
    }
    assert len(connector.find(ERIK_BY_EMAIL)) == 1
    # Without references (the plain erase of old callers) the identities still search.
    connector.erase(ERIK_BY_EMAIL, TODAY)
    assert database.counts(ERIK)["customers"] == 0


def test_export_with_references_reads_the_examined_rows_only(
    connector: Connector, database: SalonDatabase
) -> None:
    references = connector.find(ERIK_BY_EMAIL)
    before = list(connector.export(ERIK_BY_EMAIL, references=references))
    add_customer(database, ERIK)
    after = list(connector.export(ERIK_BY_EMAIL, references=references))
    assert after == before
    assert len(list(connector.export(ERIK_BY_EMAIL))) > len(before)
    assert list(connector.export(ERIK_BY_EMAIL, references=[])) == []
