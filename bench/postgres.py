"""The local PostgreSQL a benchmark runs the vault on: a schema of the run's own,
created before and dropped after, so a run leaves nothing behind and two runs
never share data."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg

# The same server the tests use (this project's CI has it, trust auth).
URL = os.environ.get("CONSENT_VAULT_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")


def unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, in one line, or None if it can."""
    try:
        with psycopg.connect(URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at {URL} ({' '.join(str(error).split())[:160]})"
    return None


@contextmanager
def schema_of_its_own(prefix: str = "bench") -> Iterator[str]:
    """A URL whose connections use a new, empty schema; dropped with all in it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        joiner = "&" if "?" in URL else "?"
        yield f"{URL}{joiner}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')
