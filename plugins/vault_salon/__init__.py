"""A general SQL connector, configured declaratively; the salon booking system is its first use.

The configuration says which tables and columns hold which categories, which
columns identify a person, how tables reference each other, and per table
whether erasure deletes rows, blanks columns or retains them. The database is
reached by a DSN: `sqlite:///path/to.db` or `postgresql://...` (psycopg 3).

    [connectors.salon]
    dsn = "sqlite:///var/lib/salon/salon.db"     # or dsn_env = "SALON_DSN" for one with a password
    schema = "public"                            # PostgreSQL only

    [connectors.salon.categories.contact]
    description = "Customer name, phone and e-mail"
    purpose = "salon_booking"
    legal_basis = "contract"
    retention = "3 years after the last visit"

    [connectors.salon.tables.customers]
    identify = { email = "email", phone = "phone" }   # identity kind -> column
    columns = { name = "contact", phone = "contact", email = "contact" }
    erase = "delete"

    [connectors.salon.tables.appointments]
    parent = { column = "customer_id", table = "customers" }
    columns = { starts_at = "booking", service = "booking" }
    erase = "delete"                              # or "blank" with blank = [...], or "retain"
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vault.connectors import (
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    SettingsError,
)
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis
from vault.plugins import hookimpl

__version__ = "1.0.0"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ACTIONS = ("delete", "blank", "retain")


@dataclass
class TableMap:
    name: str
    key: str
    columns: dict[str, str]  # column -> category
    identify: dict[IdentityKind, str] = field(default_factory=dict)
    parent_column: str = ""
    parent_table: str = ""
    erase: str = "delete"
    blank: list[str] = field(default_factory=list)
    retain_days: int = 0
    retain_from: str = ""  # a date column; retention runs from its latest value


def _ident(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise SettingsError(f"{where}: {name!r} is not a plain SQL identifier")
    return name


def parse_mapping(name: str, tables: Mapping[str, Any]) -> dict[str, TableMap]:
    """Read and check the declarative table mapping; errors name the setting."""
    if not tables:
        raise SettingsError(f"connector {name}: [connectors.{name}.tables] maps no tables")
    parsed: dict[str, TableMap] = {}
    for table, spec in tables.items():
        where = f"connector {name}: table {table}"
        _ident(table, where)
        columns = {_ident(c, where): str(cat) for c, cat in dict(spec.get("columns", {})).items()}
        identify = {}
        for kind, column in dict(spec.get("identify", {})).items():
            try:
                identify[IdentityKind(kind)] = _ident(column, where)
            except ValueError:
                raise SettingsError(
                    f"{where}: identify names unknown identity kind {kind!r}"
                ) from None
        parent = dict(spec.get("parent", {}))
        action = spec.get("erase", "delete")
        if action not in _ACTIONS:
            raise SettingsError(f"{where}: erase must be one of {', '.join(_ACTIONS)}")
        parsed[table] = TableMap(
            name=table,
            key=_ident(spec.get("key", "id"), where),
            columns=columns,
            identify=identify,
            parent_column=_ident(parent["column"], where) if parent else "",
            parent_table=_ident(parent["table"], where) if parent else "",
            erase=action,
            blank=[_ident(c, where) for c in spec.get("blank", [])],
            retain_days=int(spec.get("retain_days", 0)),
            retain_from=_ident(spec["retain_from"], where) if spec.get("retain_from") else "",
        )
        if not identify and not parent:
            raise SettingsError(f"{where}: needs identify columns or a parent table")
        if action == "blank" and not parsed[table].blank:
            raise SettingsError(f"{where}: erase = 'blank' needs blank = [columns]")
    for mapped in parsed.values():
        if mapped.parent_table and mapped.parent_table not in parsed:
            raise SettingsError(
                f"connector {name}: table {mapped.name} refers to unmapped table {mapped.parent_table}"
            )
    return parsed


class SQLConnector(Connector):
    name = "salon"
    version = __version__

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.dsn = (
            settings.secret("dsn")
            if settings.get("dsn_env") or settings.get("dsn_file")
            else str(settings.require("dsn"))
        )
        self.schema = _ident(settings.get("schema", "public"), f"connector {self.name}: schema")
        self.tables = parse_mapping(self.name, settings.get("tables", {}))
        self._categories = dict(settings.get("categories", {}))
        self._local = threading.local()
        if self.dsn.startswith("sqlite:"):
            self._mark = "?"
        elif self.dsn.startswith(("postgresql:", "postgres:")):
            self._mark = "%s"
        else:
            raise SettingsError(
                f"connector {self.name}: dsn must start with sqlite: or postgresql:"
            )

    def holdings(self) -> Holdings:
        used = sorted({c for t in self.tables.values() for c in t.columns.values()})
        categories = []
        for category in used:
            spec = self._categories.get(category)
            if spec is None:
                raise SettingsError(
                    f"connector {self.name}: category {category} is used but not described in [connectors.{self.name}.categories]"
                )
            try:
                basis = LegalBasis(spec.get("legal_basis", ""))
            except ValueError:
                raise SettingsError(
                    f"connector {self.name}: category {category} has an unknown legal_basis"
                ) from None
            categories.append(
                HeldCategory(
                    category,
                    str(spec.get("description", "")),
                    str(spec.get("purpose", "")),
                    basis,
                    str(spec.get("retention", "")),
                    bool(spec.get("erasable", True)),
                    str(spec.get("legal_reason", "")),
                )
            )
        return Holdings(
            self.name,
            str(self.settings.get("description", "SQL database")),
            str(self.settings.get("location", "SE")),
            tuple(categories),
        )

    # ---------------------------------------------------------- database
    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self._mark == "?":
                    # mode=rw: a mistyped path is an error, never a new empty
                    # database that would make everyone look absent.
                    path = self.dsn.removeprefix("sqlite://").removeprefix("sqlite:")
                    conn = sqlite3.connect(
                        f"{pathlib.Path(path).absolute().as_uri()}?mode=rw",
                        uri=True,
                        timeout=10,
                        isolation_level=None,
                    )
                else:
                    import psycopg

                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                    conn.execute(f'SET search_path TO "{self.schema}"')
            except sqlite3.Error as error:  # names the file problem; holds no secret
                raise ConnectorUnavailable(f"database unreachable ({error})") from None
            except ImportError as error:
                raise ConnectorUnavailable(
                    f"database unreachable ({type(error).__name__})"
                ) from None
            except Exception as error:  # psycopg.OperationalError and kin
                raise ConnectorUnavailable(
                    f"database unreachable ({type(error).__name__})"
                ) from None
            self._local.conn = conn
        return conn

    def _run(self, work: Any) -> Any:
        """Run `work(conn)` in one transaction; a broken connection is dropped and reported."""
        conn = self._connection()
        try:
            conn.execute("BEGIN")
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except Exception as error:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            self._drop()
            if isinstance(error, ConnectorUnavailable | NeedsAttention):
                raise
            if _is_operational(error):
                raise ConnectorUnavailable(f"database error ({type(error).__name__})") from None
            raise NeedsAttention(
                f"the mapping does not fit the database ({type(error).__name__}: {str(error)[:120]})"
            ) from None

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    def _found(self, conn: Any, identities: list[Identity]) -> dict[str, list[Any]]:
        """Keys of the person's rows in every mapped table, following references from the roots."""
        found: dict[str, list[Any]] = {}
        for table in self.tables.values():
            keys: set[Any] = set()
            for kind, column in table.identify.items():
                values = [i.value for i in identities if i.kind is kind]
                for value in values:
                    rows = conn.execute(
                        self._q(f'SELECT "{table.key}" FROM "{table.name}" WHERE "{column}" = ?'),
                        (value,),
                    )
                    keys |= {row[0] for row in rows.fetchall()}
            if keys:
                found[table.name] = sorted(keys)
        changed = True
        while changed:
            changed = False
            for table in self.tables.values():
                parents = found.get(table.parent_table)
                if not parents or (table.name in found and table.identify):
                    continue
                marks = ", ".join("?" * len(parents))
                rows = conn.execute(
                    self._q(
                        f'SELECT "{table.key}" FROM "{table.name}" WHERE "{table.parent_column}" IN ({marks})'
                    ),
                    tuple(parents),
                )
                keys = {row[0] for row in rows.fetchall()} | set(found.get(table.name, []))
                if keys and sorted(keys) != found.get(table.name):
                    found[table.name] = sorted(keys)
                    changed = True
        return found

    def _order(self) -> list[TableMap]:
        """Children before parents, so deletes respect foreign keys."""
        depth = {}
        for table in self.tables.values():
            level, current = 0, table
            while current.parent_table:
                level += 1
                current = self.tables[current.parent_table]
            depth[table.name] = level
        return sorted(self.tables.values(), key=lambda t: -depth[t.name])

    # ---------------------------------------------------------- contract
    def find(self, identities: list[Identity]) -> list[str]:
        found = self._run(lambda conn: self._found(conn, identities))
        return [f"{table}:{key}" for table, keys in sorted(found.items()) for key in keys]

    def export(self, identities: list[Identity]) -> Iterator[ExportItem]:
        def read(conn: Any) -> list[ExportItem]:
            items = []
            for table_name, keys in self._found(conn, identities).items():
                table = self.tables[table_name]
                columns = list(table.columns)
                marks = ", ".join("?" * len(keys))
                rows = conn.execute(
                    self._q(
                        f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)} FROM "{table.name}" '
                        f'WHERE "{table.key}" IN ({marks})'
                    ),
                    tuple(keys),
                ).fetchall()
                for row in rows:
                    by_category: dict[str, dict[str, Any]] = {}
                    for column, value in zip(columns, row, strict=True):
                        if value is not None:
                            by_category.setdefault(table.columns[column], {"table": table.name})[
                                column
                            ] = _plain(value)
                    items += [ExportItem(category, data) for category, data in by_category.items()]
            return items

        yield from self._run(read)

    def erase(self, identities: list[Identity], today: dt.date) -> list[Outcome]:
        holdings = {c.category: c for c in self.holdings().categories}

        def work(conn: Any) -> list[Outcome]:
            found = self._found(conn, identities)
            outcomes: list[Outcome] = []
            for table in self._order():
                keys = found.get(table.name)
                if not keys:
                    continue
                marks = ", ".join("?" * len(keys))
                where = f'WHERE "{table.key}" IN ({marks})'
                categories = sorted(set(table.columns.values()))
                if table.erase == "delete":
                    conn.execute(self._q(f'DELETE FROM "{table.name}" {where}'), tuple(keys))
                    outcomes += [
                        Removed(c, f"{len(keys)} rows deleted from {table.name}")
                        for c in categories
                    ]
                elif table.erase == "blank":
                    sets = ", ".join(f'"{c}" = NULL' for c in table.blank)
                    conn.execute(self._q(f'UPDATE "{table.name}" SET {sets} {where}'), tuple(keys))
                    blanked = sorted({table.columns[c] for c in table.blank if c in table.columns})
                    outcomes += [
                        Removed(
                            c,
                            f"{', '.join(table.blank)} blanked in {len(keys)} rows of {table.name}",
                        )
                        for c in blanked
                    ]
                else:
                    until = self._retained_until(conn, table, keys, today)
                    for category in categories:
                        reason = (
                            holdings[category].legal_reason or "kept as the configuration requires"
                        )
                        outcomes.append(
                            Retained(category, f"{len(keys)} rows in {table.name}", reason, until)
                        )
            return outcomes

        return self._run(work)

    def _retained_until(
        self, conn: Any, table: TableMap, keys: list[Any], today: dt.date
    ) -> dt.date:
        start = today
        if table.retain_from:
            marks = ", ".join("?" * len(keys))
            row = conn.execute(
                self._q(
                    f'SELECT max("{table.retain_from}") FROM "{table.name}" WHERE "{table.key}" IN ({marks})'
                ),
                tuple(keys),
            ).fetchone()
            if row and row[0]:
                start = dt.date.fromisoformat(str(row[0])[:10])
        return start + dt.timedelta(days=table.retain_days)

    def health(self) -> HealthReport:
        try:
            self._run(lambda conn: conn.execute("SELECT 1").fetchone())
        except (ConnectorUnavailable, NeedsAttention) as error:
            return HealthReport(False, str(error))
        return HealthReport(True, "database answers")

    def close(self) -> None:
        self._drop()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _is_operational(error: Exception) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        return "no such" not in str(error)
    module = type(error).__module__
    return module.startswith("psycopg") and type(error).__name__ in (
        "OperationalError",
        "InterfaceError",
    )


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [SQLConnector]
