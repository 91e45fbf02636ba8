"""PostgreSQL for the tests: a schema of its own per test, dropped after it.

Where PostgreSQL answers (this project's CI has it at 127.0.0.1:5432, trust
auth, database `test`; `CONSENT_VAULT_TEST_POSTGRES` names another), the
PostgreSQL tests run; elsewhere they are skipped with the reason, since the
default path needs no server. `.ci/run` sets `CONSENT_VAULT_REQUIRE_POSTGRES=1`,
which turns that skip into a failure: CI must never pass by skipping them.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest

URL = os.environ.get("CONSENT_VAULT_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
REQUIRED = os.environ.get("CONSENT_VAULT_REQUIRE_POSTGRES") == "1"


@functools.cache
def unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None if it can."""
    try:
        with psycopg.connect(URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at {URL} ({' '.join(str(error).split())[:200]})"
    return None


def require() -> None:
    """Skip the calling test where PostgreSQL is missing; fail it where it is required."""
    reason = unreachable()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"{reason}; CONSENT_VAULT_REQUIRE_POSTGRES=1 asks for it")
    pytest.skip(f"{reason}; set CONSENT_VAULT_TEST_POSTGRES to run these tests")


def in_schema(name: str) -> str:
    """`URL` with its search_path set to the schema `name`."""
    joiner = "&" if "?" in URL else "?"
    return f"{URL}{joiner}options={quote(f'-csearch_path={name}')}"


@contextmanager
def fresh_schema(prefix: str = "cv_test") -> Iterator[str]:
    """A URL whose connections use a new, empty schema; dropped with all in it afterwards."""
    require()
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield in_schema(name)
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')
