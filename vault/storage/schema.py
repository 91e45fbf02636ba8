"""Versioned schemas: what a store does with the migrations its database lacks.

Each database keeps the names of the migrations applied to it; the lists in
the code are append-only, so a name once released always means the same
change. The rule is the same on every engine and lives here:

- a database with none applied is new: it gets every migration at once, so a
  first start needs no extra command;
- a database with some applied and some missing is behind: a server refuses
  it and names the command that upgrades it (`consent-vault migrate`), because
  an upgrade of live data is an operator's decision, made once, not a side
  effect of whichever process starts first;
- a database with a migration this version does not know is ahead (a newer
  release ran on it): refused, since this code would misread its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

MIGRATE_COMMAND = "consent-vault migrate"


class SchemaError(Exception):
    """The database's schema does not fit this version; the message says why and what to do."""


class SchemaBehind(SchemaError):
    def __init__(self, database: str, missing: Sequence[str], command: str) -> None:
        self.database = database
        self.missing = tuple(missing)
        super().__init__(
            f"the {database} lacks {len(self.missing)} migration(s) this version needs "
            f"({', '.join(self.missing)}); run: {command}"
        )


class SchemaAhead(SchemaError):
    def __init__(self, database: str, unknown: Sequence[str]) -> None:
        self.database = database
        self.unknown = tuple(unknown)
        super().__init__(
            f"the {database} was migrated by a newer consent-vault "
            f"({', '.join(self.unknown)} unknown here); run that version, or a newer one"
        )


def to_apply(
    database: str,
    applied: Sequence[str],
    known: Sequence[str],
    *,
    upgrade: bool,
    command: str = MIGRATE_COMMAND,
) -> list[str]:
    """The migrations to apply now, in order, or the reason not to open the database.

    `upgrade` is `consent-vault migrate`'s: it applies what is missing."""
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise SchemaAhead(database, unknown)
    missing = [name for name in known if name not in applied]
    if missing and applied and not upgrade:
        raise SchemaBehind(database, missing, command)
    return missing
