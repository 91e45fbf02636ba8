"""The model-bank group's register of blocked members (the school's own records).

The school collects nothing about group members, but when it blocks one it
records that member's profile page here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from vault_standins.people import Person

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocked_members (
    id INTEGER PRIMARY KEY,
    profile_url TEXT NOT NULL,
    name TEXT,
    email TEXT,
    blocked_at TEXT NOT NULL,
    reason TEXT NOT NULL
)
"""


def create_register(path: Path, people: Iterable[Person]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(SCHEMA)
    for person in people:
        if person.blocked_in_group:
            conn.execute(
                "INSERT INTO blocked_members (profile_url, name, email, blocked_at, reason) VALUES (?, ?, ?, ?, ?)",
                (
                    person.facebook_profile,
                    person.name,
                    person.email,
                    "2026-05-02",
                    "spam in the group",
                ),
            )
    conn.close()
    return path


def entries(path: Path, person: Person) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM blocked_members WHERE email = ? OR profile_url = ?",
                (person.email, person.facebook_profile),
            ).fetchone()[0]
        )
    finally:
        conn.close()
