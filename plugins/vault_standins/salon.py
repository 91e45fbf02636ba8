"""A stand-in salon booking database: customers, appointments, colour-recipe notes,
students and their scheduled salon days. SQLite by file, or PostgreSQL by DSN in a
schema of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
                {"personnummer": person.personnummer, "name": person.name, "class": "FR25"},
            )
            for day in ("2026-12-01", "2026-12-08"):
                insert("salon_days", {"student_id": student_id, "day": day})
        if person.salon_customer:
            customer_id = insert(
                "customers", {"name": person.name, "phone": person.phone, "email": person.email}
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


def counts(conn: Any, mark: str, person: Person) -> dict[str, int]:
    """What the salon holds about a person, read straight from the tables (for tests)."""

    def one(sql: str, *args: Any) -> int:
        return int(conn.execute(sql.replace("?", mark), args).fetchone()[0])

    return {
        "customers": one(
            "SELECT count(*) FROM customers WHERE email = ? OR phone = ?",
            person.email,
            person.phone,
        ),
        "appointments": one(
            "SELECT count(*) FROM appointments WHERE customer_id IN "
            "(SELECT id FROM customers WHERE email = ? OR phone = ?)",
            person.email,
            person.phone,
        ),
        "colour_notes": one(
            "SELECT count(*) FROM colour_notes WHERE customer_id IN "
            "(SELECT id FROM customers WHERE email = ? OR phone = ?)",
            person.email,
            person.phone,
        ),
        "students": one(
            "SELECT count(*) FROM students WHERE personnummer = ?", person.personnummer
        ),
        "salon_days": one(
            "SELECT count(*) FROM salon_days WHERE student_id IN "
            "(SELECT id FROM students WHERE personnummer = ?)",
            person.personnummer,
        ),
    }
