"""`consent-vault migrate` and the check at start-up: a server refuses a database
that is behind and names the command; migrate applies what is missing, and a
second run applies nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlite_utils import Database

from tests import postgres
from vault.storage.postgres.migrations import key_migrations as postgres_keys
from vault.storage.postgres.migrations import record_migrations as postgres_records
from vault.storage.sqlite.migrations import record_migrations


def consent_vault(*args: str) -> subprocess.CompletedProcess[str]:
    """As a user runs it, in a process of its own (a server that wrongly started
    is stopped by the timeout, not left hanging)."""
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )


def behind(directory: Path) -> None:
    """A record database as the release before the last left it."""
    directory.mkdir(parents=True)
    conn = sqlite3.connect(directory / "records.db", isolation_level=None)
    record_migrations.apply(Database(conn), stop_before="0008_requests_about_no_one")
    conn.close()


def test_a_server_refuses_a_database_that_is_behind_and_names_the_command(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    behind(data)
    done = consent_vault("serve", "--address", "127.0.0.1:0", "--data-dir", str(data))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "0008_requests_about_no_one" in message
    assert f"run: consent-vault migrate --data-dir {data}" in message
    assert len(done.stderr.strip().splitlines()) <= 2  # one line, wrapped at most once
    # Nothing was changed by the refusal.
    conn = sqlite3.connect(data / "records.db")
    names = {name for (name,) in conn.execute("SELECT name FROM _sqlite_migrations")}
    conn.close()
    assert "0008_requests_about_no_one" not in names


def test_migrate_applies_what_is_missing_and_twice_is_harmless(tmp_path: Path) -> None:
    data = tmp_path / "data"
    behind(data)
    first = consent_vault("migrate", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert (
        "record database" in first.stdout and "applied 0008_requests_about_no_one" in first.stdout
    )
    # The key database was new: it gets its whole schema.
    assert "key database" in first.stdout and "0002_job_keys" in first.stdout
    second = consent_vault("migrate", "--data-dir", str(data))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("up to date, nothing to apply") == 2
    assert "applied" not in second.stdout


def test_migrate_on_postgresql_creates_the_schema_once() -> None:
    with postgres.fresh_schema("cv_migrate") as url:
        first = consent_vault("migrate", "--database", url)
        assert first.returncode == 0, first.stderr
        assert first.stdout.count("applied 0001_initial") == 2  # records and keys
        second = consent_vault("migrate", "--database", url)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("up to date, nothing to apply") == 2
        with psycopg.connect(url) as conn:
            (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone() or (0,)
        assert count == len(postgres_records.names) + len(postgres_keys.names)  # each once


def test_a_database_migrated_by_a_newer_release_is_refused() -> None:
    with postgres.fresh_schema("cv_migrate") as url:
        assert consent_vault("migrate", "--database", url).returncode == 0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO schema_migrations (migration_set, name) "
                "VALUES ('consent_vault.records', '0099_from_the_future')"
            )
        done = consent_vault("serve", "--address", "127.0.0.1:0", "--database", url)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "newer consent-vault" in done.stderr and "0099_from_the_future" in done.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://localhost/vault", "--database 'mysql://localhost/vault': give sqlite:///"),
        ("postgresql://127.0.0.1:1/vault", "cannot reach the record database"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line(url: str, expected: str) -> None:
    done = consent_vault("migrate", "--database", url)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert expected in " ".join(done.stderr.split())


def test_a_password_in_the_url_is_never_printed() -> None:
    done = consent_vault("migrate", "--database", "postgresql://vault:s3cret@127.0.0.1:1/vault")
    assert done.returncode == 2 and "s3cret" not in done.stderr + done.stdout
    assert "vault:***@127.0.0.1:1" in done.stderr


def test_a_schema_holding_another_programs_tables_is_one_line() -> None:
    with postgres.fresh_schema("cv_migrate") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE records (id int)")  # someone else's
        done = consent_vault("migrate", "--database", url)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert 'relation "records" already exists' in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 3  # one line, wrapped at 80 columns


def test_a_role_that_may_only_read_and_write_serves_a_migrated_database() -> None:
    with postgres.fresh_schema("cv_migrate") as url:
        assert consent_vault("migrate", "--database", url).returncode == 0
        schema = url.rpartition("%3D")[2]
        role = f"app_{schema[-12:]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            conn.execute(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'
            )
        try:
            as_app = url.replace("postgresql://", f"postgresql://{role}@", 1)
            done = consent_vault("migrate", "--database", as_app)  # reads, creates nothing
            assert done.returncode == 0, done.stderr
            assert done.stdout.count("up to date, nothing to apply") == 2
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')
