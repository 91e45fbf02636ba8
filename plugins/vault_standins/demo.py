"""Starts the stand-in systems for the demo and writes the connector configuration for them.

Tokens are fresh random values passed through environment variables, exactly
as an admin passes real credentials (`token_env`), so the demo exercises the
same path.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault_standins import accounting, facebook, moodle, salon
from vault_standins.httpserver import StandInServer
from vault_standins.people import DEMO_PEOPLE, Person

SALON_TABLES: dict[str, Any] = {
    "customers": {
        "identify": {"email": "email", "phone": "phone"},
        "columns": {"name": "contact", "phone": "contact", "email": "contact"},
        "erase": "delete",
    },
    "appointments": {
        "parent": {"column": "customer_id", "table": "customers"},
        "columns": {"starts_at": "booking", "service": "booking"},
        "erase": "delete",
    },
    "colour_notes": {
        "parent": {"column": "customer_id", "table": "customers"},
        "columns": {"recipe": "notes", "written_at": "notes"},
        "erase": "delete",
    },
    "students": {
        "identify": {"personnummer": "personnummer"},
        "columns": {
            "personnummer": "identity_number",
            "name": "student.schedule",
            "class": "student.schedule",
        },
        # Other customers' appointments refer to the student who served them: blank, do not delete.
        "erase": "blank",
        "blank": ["personnummer", "name"],
    },
    "salon_days": {
        "parent": {"column": "student_id", "table": "students"},
        "columns": {"day": "student.schedule"},
        "erase": "delete",
    },
}

SALON_CATEGORIES: dict[str, Any] = {
    "contact": {
        "description": "Customer name, phone and e-mail",
        "purpose": "salon_booking",
        "legal_basis": "contract",
        "retention": "3 years after the last visit",
    },
    "booking": {
        "description": "Appointments: when and which service",
        "purpose": "salon_booking",
        "legal_basis": "contract",
        "retention": "3 years after the last visit",
    },
    "notes": {
        "description": "Notes such as hair-colour recipes",
        "purpose": "salon_booking",
        "legal_basis": "contract",
        "retention": "3 years after the last visit",
    },
    "identity_number": {
        "description": "Students' personnummer",
        "purpose": "salon_scheduling",
        "legal_basis": "contract",
        "retention": "3 years after the course ended",
    },
    "student.schedule": {
        "description": "Students' names, class and scheduled salon days",
        "purpose": "salon_scheduling",
        "legal_basis": "contract",
        "retention": "3 years after the course ended",
    },
}


def salon_section(dsn: str, schema: str = "public") -> dict[str, Any]:
    return {
        "dsn": dsn,
        "schema": schema,
        "description": "Salon booking system",
        "tables": SALON_TABLES,
        "categories": SALON_CATEGORIES,
    }


@dataclass
class DemoSystems:
    sections: dict[str, dict[str, Any]]
    moodle: moodle.MoodleState
    accounting: accounting.AccountingState
    salon_db: Path
    register: Path
    servers: list[StandInServer] = field(default_factory=list)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start(
    directory: Path, people: list[Person] | None = None, environ: dict[str, str] | None = None
) -> DemoSystems:
    """Start the stand-ins with `people` (the school's demo people by default); their
    files go in `directory`, fresh each time."""
    people = DEMO_PEOPLE if people is None else people
    env = os.environ if environ is None else environ
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("salon.db", "salon.db-wal", "salon.db-shm", "facebook-register.db"):
        (directory / stale).unlink(missing_ok=True)
    lms_token, accounting_token = secrets.token_hex(16), secrets.token_hex(16)
    env["CONSENT_VAULT_DEMO_LMS_TOKEN"] = lms_token
    env["CONSENT_VAULT_DEMO_ACCOUNTING_TOKEN"] = accounting_token
    lms_server, lms_state = moodle.start(lms_token, people)
    accounting_server, accounting_state = accounting.start(accounting_token, people)
    salon_db = salon.create_sqlite(directory / "salon.db", people)
    register = facebook.create_register(directory / "facebook-register.db", people)
    sections = {
        "lms": {"url": lms_server.url, "token_env": "CONSENT_VAULT_DEMO_LMS_TOKEN", "timeout_s": 5},
        "accounting": {
            "url": accounting_server.url,
            "token_env": "CONSENT_VAULT_DEMO_ACCOUNTING_TOKEN",
            "timeout_s": 5,
        },
        "salon": salon_section(f"sqlite:///{salon_db.absolute()}"),
        "facebook_group": {
            "register": str(register),
            "group_name": "Leep modellbank",
            "group_url": "https://www.facebook.com/groups/example-modellbank",
        },
    }
    return DemoSystems(
        sections, lms_state, accounting_state, salon_db, register, [lms_server, accounting_server]
    )
