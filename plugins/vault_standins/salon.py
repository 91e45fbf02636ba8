"""A stand-in salon booking database: customers, appointments, colour-recipe notes,
students and their scheduled salon days. SQLite by file, or PostgreSQL by DSN in a
schema of its own.

Phone numbers and personnummer are stored as salon staff type them (`040-12 34 56`,
`811218-9876`), not in the vault's canonical form, as in a real salon's database.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import phonenumbers

from vault.connectors import normal_form
from vault.core.identities import IdentityKind
from vault_standins.people import Person

TABLES = """
CREATE TABLE customers (id {pk}, name TEXT, phone TEXT, email TEXT);
CREATE TABLE students (id {pk}, personnummer TEXT, name TEXT, class TEXT);
CREATE TABLE appointments (id {pk}, customer_id INTEGER REFERENCES customers(id),
    student_id INTEGER REFERENCES students(id), starts_at TEXT, service TEXT);
CREATE TABLE colour_notes (id {pk}, customer_id INTEGER REFERENCES customers(id), recipe TEXT, written_at TEXT);
CREATE TABLE salon_days (id {pk}, student_id INTEGER REFERENCES students(id), day TEXT);
"""


def create_sqlite(path: Path, people: Iterable[Person]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(TABLES.format(pk="INTEGER PRIMARY KEY"))
    conn.execute("BEGIN")
    _seed(conn.execute, "?", people)
    conn.execute("COMMIT")
    conn.close()
    return path


def create_postgres(dsn: str, schema: str, people: Iterable[Person]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for statement in TABLES.format(pk="SERIAL PRIMARY KEY").split(";"):
            if statement.strip():
                conn.execute(statement)
        with conn.transaction():
            _seed(conn.execute, "%s", people)


def drop_postgres(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _seed(execute: Any, mark: str, people: Iterable[Person]) -> None:
    def insert(table: str, values: dict[str, Any]) -> int:
        columns = ", ".join(values)
        marks = ", ".join([mark] * len(values))
        row = execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", tuple(values.values())
        )
        return int(row.fetchone()[0])

    teacher_student = insert(
        "students", {"personnummer": "200001012384", "name": "Elev Exempel", "class": "FR24"}
    )
    for person in people:
        student_id = teacher_student
        if person.salon_student:
            student_id = insert(
                "students",
                {
                    "personnummer": as_typed_personnummer(person.personnummer),
                    "name": person.name,
                    "class": "FR25",
                },
            )
            for day in ("2026-12-01", "2026-12-08"):
                insert("salon_days", {"student_id": student_id, "day": day})
        if person.salon_customer:
            customer_id = insert(
                "customers",
                {"name": person.name, "phone": as_typed_phone(person.phone), "email": person.email},
            )
            for n, day in enumerate(("2026-09-03 10:00", "2026-10-08 13:00", "2026-11-12 09:30")):
                insert(
                    "appointments",
                    {
                        "customer_id": customer_id,
                        "student_id": student_id,
                        "starts_at": day,
                        "service": ("Färgning", "Klippning", "Slinga")[n],
                    },
                )
            insert(
                "colour_notes",
                {
                    "customer_id": customer_id,
                    "recipe": "7.1 + 8.11, 6 % oxidant, 35 min",
                    "written_at": "2026-09-03",
                },
            )


def as_typed_phone(phone: str) -> str:
    """A Swedish number in E.164 as staff write it nationally; anything else as given."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    if number.country_code != 46:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def as_typed_personnummer(pnr: str) -> str:
    """Twelve digits in the short written form, YYMMDD-NNNN (`+` at 100 or older)."""
    if not re.fullmatch(r"[0-9]{12}", pnr):
        return pnr
    separator = "+" if int(pnr[:4]) <= dt.date.today().year - 100 else "-"
    return f"{pnr[2:8]}{separator}{pnr[8:]}"


def counts(conn: Any, mark: str, person: Person) -> dict[str, int]:
    """What the salon holds about a person, read straight from the tables (for tests);
    stored identities are compared in canonical form, however they were written."""

    def rows(sql: str) -> list[Any]:
        return list(conn.execute(sql).fetchall())

    def same(kind: IdentityKind, stored: Any, known: str) -> bool:
        held = normal_form(kind, str(stored)) if stored is not None else None
        return held is not None and held == normal_form(kind, known)

    customers = [
        key
        for key, phone, email in rows("SELECT id, phone, email FROM customers")
        if same(IdentityKind.PHONE, phone, person.phone)
        or same(IdentityKind.EMAIL, email, person.email)
    ]
    students = [
        key
        for key, pnr in rows("SELECT id, personnummer FROM students")
        if same(IdentityKind.PERSONNUMMER, pnr, person.personnummer)
    ]

    def referring(table: str, column: str, keys: list[Any]) -> int:
        if not keys:
            return 0
        marks = ", ".join([mark] * len(keys))
        sql = f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})"
        return int(conn.execute(sql, tuple(keys)).fetchone()[0])

    return {
        "customers": len(customers),
        "appointments": referring("appointments", "customer_id", customers),
        "colour_notes": referring("colour_notes", "customer_id", customers),
        "students": len(students),
        "salon_days": referring("salon_days", "student_id", students),
    }
