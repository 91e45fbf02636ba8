"""No password of a database URL is ever shown: in the authority (one host or
several), as a query parameter, or in libpq's key=value form, even where the
URL itself is malformed."""

from __future__ import annotations

import pytest

from vault.storage.postgres import redacted


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://vault:S3cret@db:5432/vault", "postgresql://vault:***@db:5432/vault"),
        (
            "postgresql://vault:S3cret@db1:5432,db2:5433/vault",
            "postgresql://vault:***@db1:5432,db2:5433/vault",
        ),
        ("postgresql://vault:S3cret@db:99999/vault", "postgresql://vault:***@db:99999/vault"),
        (
            "postgresql://db/vault?password=S3cret&sslmode=require",
            "postgresql://db/vault?password=***&sslmode=require",
        ),
        ("postgresql://db/vault?sslpassword=S3cret", "postgresql://db/vault?sslpassword=***"),
        ("host=db password=S3cret dbname=vault", "host=db password=*** dbname=vault"),
        ("host=db password = 'S3 cret' dbname=vault", "host=db password = *** dbname=vault"),
        ("postgres ql://vault:S3cret@db/vault", "postgres ql://vault:***@db/vault"),
        ("postgresql://vault@db/vault", "postgresql://vault@db/vault"),
        ("postgresql://vault:S3#c?ret@db/vault", "postgresql://vault:***@db/vault"),
    ],
)
def test_a_password_is_never_shown(given: str, shown: str) -> None:
    assert redacted(given) == shown
    assert "S3" not in redacted(given)
