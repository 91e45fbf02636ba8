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
    key = "id"                                    # primary key or unique column; "id" if left out
    identify = { email = "email", phone = "phone" }   # identity kind -> column
    columns = { name = "contact", phone = "contact", email = "contact" }
    erase = "delete"

    [connectors.salon.tables.appointments]
    parent = { column = "customer_id", table = "customers" }
    columns = { starts_at = "booking", service = "booking" }
    erase = "delete"                              # or "blank" with blank = [...], or "retain"

When a person withdraws consent for a purpose, the connector is told
(`withdraw_consent`): it erases the person's data in the categories
configured for that purpose alone, each table by its erase mode, except that
a table that would be deleted but holds other categories too (or has tables
hanging off it that do) has the purpose's columns blanked instead.

An identify column may hold its identity in any written form: each stored
value is read into the vault's canonical form before it is compared (a phone
as `070-123 45 67` or `+44 7700 000998`, an e-mail in any letter case, a
personnummer as `811218-9876`). An `external_id` column holds this system's
own user ids.

The mapping is checked against the database's own catalogue at start-up and
on every new connection: each table and column exists, each key is the
primary key or unique, and a foreign key declared on a parent column points
at the parent's key. A database that answers but does not fit refuses
start-up, naming table and column. One that does not answer at start-up
starts; until the mapping fits, health is unhealthy and every call needs
attention, naming the misfit.
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

import phonenumbers

from vault.connectors import (
    Capability,
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    LegalBasis,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    SettingsError,
    normal_form,
)
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


# ---------------------------------------------------------- the database's own schema
@dataclass
class Schema:
    """What the database's catalogue says about the mapped tables."""

    columns: dict[str, set[str]]  # table -> its columns
    unique: dict[str, set[str]]  # table -> columns that are a one-column primary key or unique
    references: dict[tuple[str, str], set[tuple[str, str]]]  # (table, column) -> (table, column)
    # SQLite compares names without regard to case; PostgreSQL compares quoted names exactly.
    fold_case: bool = False

    def name(self, identifier: str) -> str:
        return identifier.lower() if self.fold_case else identifier


def sqlite_schema(conn: Any, tables: list[str]) -> Schema:
    """The mapped tables as SQLite's PRAGMAs describe them."""
    schema = Schema({}, {}, {}, fold_case=True)
    for table in tables:
        info = conn.execute("SELECT name, pk FROM pragma_table_info(?)", (table,)).fetchall()
        if not info:
            continue
        name = table.lower()
        schema.columns[name] = {column.lower() for column, _ in info}
        primary = [column.lower() for column, pk in info if pk]
        schema.unique[name] = set(primary) if len(primary) == 1 else set()
        indexes = conn.execute(
            'SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial', (table,)
        ).fetchall()
        for (index,) in indexes:
            keyed = conn.execute("SELECT name FROM pragma_index_info(?)", (index,)).fetchall()
            if len(keyed) == 1 and keyed[0][0] is not None:
                schema.unique[name].add(keyed[0][0].lower())
        foreign = conn.execute(
            'SELECT "table", "from", "to" FROM pragma_foreign_key_list(?)', (table,)
        ).fetchall()
        for target, column, target_column in foreign:
            if target_column is None:  # the target's primary key
                keyed = conn.execute(
                    "SELECT name FROM pragma_table_info(?) WHERE pk", (target,)
                ).fetchall()
                target_column = keyed[0][0] if len(keyed) == 1 else ""
            schema.references.setdefault((name, column.lower()), set()).add(
                (target.lower(), target_column.lower())
            )
    return schema


def postgres_schema(conn: Any, namespace: str) -> Schema:
    """The tables of one PostgreSQL schema as its catalogue describes them."""
    schema = Schema({}, {}, {})
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
        (namespace,),
    ).fetchall():
        schema.columns.setdefault(table, set()).add(column)
    # pg_index, not information_schema: a unique index that is no constraint is unique too.
    for table, column in conn.execute(
        "SELECT c.relname, a.attname FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE n.nspname = %s AND i.indisunique AND i.indnkeyatts = 1"
        " AND i.indpred IS NULL AND i.indexprs IS NULL",
        (namespace,),
    ).fetchall():
        schema.unique.setdefault(table, set()).add(column)
    for table, column, target, target_column in conn.execute(
        "SELECT fk.table_name, fk.column_name, pk.table_name, pk.column_name"
        " FROM information_schema.referential_constraints rc"
        " JOIN information_schema.key_column_usage fk"
        "  ON fk.constraint_schema = rc.constraint_schema"
        "  AND fk.constraint_name = rc.constraint_name"
        " JOIN information_schema.key_column_usage pk"
        "  ON pk.constraint_schema = rc.unique_constraint_schema"
        "  AND pk.constraint_name = rc.unique_constraint_name"
        "  AND pk.ordinal_position = fk.position_in_unique_constraint"
        " WHERE fk.table_schema = %s",
        (namespace,),
    ).fetchall():
        schema.references.setdefault((table, column), set()).add((target, target_column))
    return schema


def misfit(tables: Mapping[str, TableMap], schema: Schema) -> str:
    """The first way the mapping does not fit the schema, naming table and column; empty if it fits."""
    for table in tables.values():
        name = schema.name(table.name)
        if name not in schema.columns:
            return f"there is no table {table.name} the connector can read"
        used = [table.key, *table.columns, *table.identify.values(), *table.blank]
        used += [c for c in (table.parent_column, table.retain_from) if c]
        for column in used:
            if schema.name(column) not in schema.columns[name]:
                return f"table {table.name} has no column {column}"
        # Erasure deletes and blanks by key: a key that is not unique reaches other people's rows.
        if schema.name(table.key) not in schema.unique.get(name, set()):
            return f"key {table.name}.{table.key} is neither the primary key nor unique"
        if table.parent_table:
            parent = tables[table.parent_table]
            expected = (schema.name(parent.name), schema.name(parent.key))
            declared = schema.references.get((name, schema.name(table.parent_column)), set())
            if declared and expected not in declared:
                other = ", ".join(f"{t}.{c}" for t, c in sorted(declared))
                return (
                    f"{table.name}.{table.parent_column} refers to {other}, "
                    f"not to {parent.name}.{parent.key}"
                )
    return ""


class MappingMisfit(NeedsAttention):
    """The mapping names a table, column, key or reference the database does not have."""


@dataclass(frozen=True)
class _Root:
    """A row found by an identify column: who found it, and which identities it carries."""

    table: str
    key: Any
    matched_by: tuple[Identity, ...]
    holds: tuple[Identity, ...]


# ---------------------------------------------------------- the connector
class SQLConnector(Connector):
    name = "salon"
    version = __version__
    # Told of a withdrawal of consent: it erases the purpose's categories alone.
    capabilities = frozenset({Capability.WITHDRAW_CONSENT})

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
        # A database that answers and does not fit the mapping refuses start-up;
        # one that does not answer yet starts, and its health says so.
        try:
            self._connection()
        except ConnectorUnavailable:
            pass
        except MappingMisfit as error:
            raise SettingsError(f"connector {self.name}: {error}") from None
        finally:
            self._drop()

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
        kinds = {kind for t in self.tables.values() for kind in t.identify}
        return Holdings(
            self.name,
            str(self.settings.get("description", "SQL database")),
            str(self.settings.get("location", "SE")),
            tuple(categories),
            identified_by=tuple(kind for kind in IdentityKind if kind in kinds),
        )

    # ---------------------------------------------------------- database
    def _connection(self) -> Any:
        """This thread's connection; a new one is checked against the mapping first."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
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
            schema = self._schema(conn)
        except sqlite3.Error as error:  # names the file problem; holds no secret
            _close(conn)
            raise ConnectorUnavailable(f"database unreachable ({error})") from None
        except ImportError as error:
            raise ConnectorUnavailable(f"database unreachable ({type(error).__name__})") from None
        except Exception as error:  # psycopg.OperationalError and kin
            _close(conn)
            raise ConnectorUnavailable(f"database unreachable ({type(error).__name__})") from None
        try:
            self._check(schema)
        except MappingMisfit:
            _close(conn)
            raise
        self._local.conn = conn
        return conn

    def _schema(self, conn: Any) -> Schema:
        if self._mark == "?":
            return sqlite_schema(conn, list(self.tables))
        return postgres_schema(conn, self.schema)

    def _check(self, schema: Schema) -> None:
        problem = misfit(self.tables, schema)
        if problem:
            raise MappingMisfit(f"the mapping does not fit the database: {problem}")

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
        _close(conn)

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    def _roots(self, conn: Any, identities: list[Identity]) -> list[_Root]:
        """The rows the identities find in tables with identify columns.

        Stored values may be written in any form, so SQL only narrows the rows
        (see `_narrowing`) and each candidate's identify columns are read into
        canonical form here; a row is found by the identities equal to one of them.
        """
        roots = []
        for table in self.tables.values():
            conditions, args = [], []
            for kind, column in table.identify.items():
                for identity in identities:
                    if identity.kind is kind and (
                        kind is not IdentityKind.EXTERNAL_ID or identity.system == self.name
                    ):
                        condition, arg = _narrowing(kind, column, identity.value)
                        conditions.append(condition)
                        args.append(arg)
            if not conditions:
                continue
            kinds = list(table.identify)
            selected = ", ".join(f'"{c}"' for c in (table.key, *table.identify.values()))
            rows = conn.execute(
                self._q(f'SELECT {selected} FROM "{table.name}" WHERE {" OR ".join(conditions)}'),
                tuple(args),
            ).fetchall()
            for key, *stored in rows:
                holds = tuple(
                    held
                    for kind, value in zip(kinds, stored, strict=True)
                    if value is not None
                    and (held := normal_form(kind, str(value), self._system_of(kind))) is not None
                )
                matched_by = tuple(i for i in identities if i in holds)
                if matched_by:
                    roots.append(_Root(table.name, key, matched_by, holds))
        return roots

    def _system_of(self, kind: IdentityKind) -> str:
        return self.name if kind is IdentityKind.EXTERNAL_ID else ""

    def _referenced(self, conn: Any, references: list[str]) -> dict[str, set[Any]]:
        """The rows named by references ("table:key") that still exist."""
        wanted: dict[str, list[str]] = {}
        for reference in references:
            name, _, key = reference.partition(":")
            if name in self.tables and key:
                wanted.setdefault(name, []).append(key)
        found: dict[str, set[Any]] = {}
        for table_name, keys in wanted.items():
            table = self.tables[table_name]
            marks = ", ".join("?" * len(keys))
            # Keys travel as text; both engines read them into the key column's type.
            rows = conn.execute(
                self._q(
                    f'SELECT "{table.key}" FROM "{table.name}" WHERE "{table.key}" IN ({marks})'
                ),
                tuple(keys),
            ).fetchall()
            if rows:
                found[table_name] = {row[0] for row in rows}
        return found

    def _found(
        self,
        conn: Any,
        identities: list[Identity],
        references: list[str] | None = None,
        roots: list[_Root] | None = None,
    ) -> dict[str, dict[Any, set[Identity]]]:
        """The person's rows in every mapped table, each with the identities that lead
        to it: the rows the identities find, those the references name (led to by
        none), and every row that refers to one of them, led to as its parent is."""
        leads: dict[str, dict[Any, set[Identity]]] = {}
        for root in self._roots(conn, identities) if roots is None else roots:
            leads.setdefault(root.table, {}).setdefault(root.key, set()).update(root.matched_by)
        for table_name, keys in self._referenced(conn, references or []).items():
            for key in keys:
                leads.setdefault(table_name, {}).setdefault(key, set())
        changed = True
        while changed:
            changed = False
            for table in self.tables.values():
                parents = leads.get(table.parent_table)
                if not parents:
                    continue
                marks = ", ".join("?" * len(parents))
                rows = conn.execute(
                    self._q(
                        f'SELECT "{table.key}", "{table.parent_column}" FROM "{table.name}" '
                        f'WHERE "{table.parent_column}" IN ({marks})'
                    ),
                    tuple(sorted(parents)),
                ).fetchall()
                children = leads.setdefault(table.name, {})
                for key, parent in rows:
                    lead = parents.get(parent, set())
                    if key not in children or not lead <= children[key]:
                        children.setdefault(key, set()).update(lead)
                        changed = True
        return {table: rows for table, rows in leads.items() if rows}

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
        return [f"{table}:{key}" for table, rows in sorted(found.items()) for key in sorted(rows)]

    def match(self, identities: list[Identity]) -> list[Match]:
        """Every row find() returns; a row that refers to the person's row is led
        to by the identities that found that one, and holds no identity itself."""

        def read(conn: Any) -> list[Match]:
            roots = self._roots(conn, identities)
            holds = {(r.table, r.key): r.holds for r in roots}
            found = self._found(conn, identities, roots=roots)
            return [
                Match(
                    f"{table}:{key}",
                    tuple(i for i in identities if i in rows[key]),
                    holds.get((table, key), ()),
                )
                for table, rows in sorted(found.items())
                for key in sorted(rows)
            ]

        return self._run(read)

    def _examined(
        self, conn: Any, identities: list[Identity], references: list[str] | None
    ) -> dict[str, dict[Any, set[Identity]]]:
        """The rows to act on: with references, exactly the rows they name and
        the rows that hang off them, never rows the identities find now (added
        since, or never examined by the vault); without, the identities' rows."""
        if references is None:
            return self._found(conn, identities)
        return self._found(conn, identities, references, roots=[])

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        def read(conn: Any) -> list[ExportItem]:
            items = []
            for table_name, found in self._examined(conn, identities, references).items():
                table, keys = self.tables[table_name], sorted(found)
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

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        return self._erase(identities, today, references)

    def withdraw_consent(
        self,
        identities: list[Identity],
        purpose: str,
        categories: list[str],
        today: dt.date,
        references: list[str] | None = None,
    ) -> list[Outcome]:
        """Erase the person's data in the categories configured for `purpose`,
        each table by its own erase mode, as `erase` does; the rest stays. A
        table that would be deleted but also holds other categories, or has
        tables hanging off it that do, has the purpose's columns blanked
        instead, so nothing held for another purpose goes with it."""
        withdrawn = {
            held.category
            for held in self.holdings().categories
            if held.purpose == purpose and held.category in categories
        }
        return self._erase(identities, today, references, withdrawn)

    def _erase(
        self,
        identities: list[Identity],
        today: dt.date,
        references: list[str] | None,
        only: set[str] | None = None,
    ) -> list[Outcome]:
        """Erase the person's rows, or with `only` those categories' data alone."""
        holdings = {c.category: c for c in self.holdings().categories}

        def work(conn: Any) -> list[Outcome]:
            found = self._examined(conn, identities, references)
            outcomes: list[Outcome] = []
            for table in self._order():
                keys = sorted(found.get(table.name, ()))
                held = set(table.columns.values())
                if not keys or (only is not None and not held & only):
                    continue
                categories = sorted(held if only is None else held & only)
                action, blank = table.erase, table.blank
                # A withdrawal blanks the purpose's columns wherever deleting
                # the rows would take other purposes' data with them.
                if (
                    only is not None
                    and action != "retain"
                    and (action == "blank" or not self._wholly(table, only))
                ):
                    action = "blank"
                    blank = [c for c, category in table.columns.items() if category in only]
                if action == "delete":
                    outcomes += self._delete(conn, table, keys, categories)
                elif action == "blank":
                    outcomes += self._blank(conn, table, keys, blank)
                else:
                    outcomes += self._retain(conn, table, keys, categories, holdings, today)
            return outcomes

        return self._run(work)

    def _wholly(self, table: TableMap, categories: set[str]) -> bool:
        """Does the table hold `categories` alone, and every table hanging off it too?"""
        if not set(table.columns.values()) <= categories:
            return False
        return all(
            self._wholly(child, categories)
            for child in self.tables.values()
            if child.parent_table == table.name
        )

    def _delete(
        self, conn: Any, table: TableMap, keys: list[Any], categories: list[str]
    ) -> list[Outcome]:
        marks = ", ".join("?" * len(keys))
        conn.execute(
            self._q(f'DELETE FROM "{table.name}" WHERE "{table.key}" IN ({marks})'), tuple(keys)
        )
        return [
            Removed(c, f"{_count(len(keys), 'row', 'rows')} deleted from {table.name}")
            for c in categories
        ]

    def _blank(
        self, conn: Any, table: TableMap, keys: list[Any], columns: list[str]
    ) -> list[Outcome]:
        # Only rows that still hold something count: a re-run that
        # reaches blanked rows by reference removes nothing.
        marks = ", ".join("?" * len(keys))
        sets = ", ".join(f'"{c}" = NULL' for c in columns)
        held = " OR ".join(f'"{c}" IS NOT NULL' for c in columns)
        changed = conn.execute(
            self._q(
                f'UPDATE "{table.name}" SET {sets} WHERE "{table.key}" IN ({marks}) AND ({held})'
            ),
            tuple(keys),
        ).rowcount
        if not changed:
            return []
        blanked = sorted({table.columns[c] for c in columns if c in table.columns})
        return [
            Removed(
                c,
                f"{', '.join(columns)} blanked in {_count(changed, 'row', 'rows')} of {table.name}",
            )
            for c in blanked
        ]

    def _retain(
        self,
        conn: Any,
        table: TableMap,
        keys: list[Any],
        categories: list[str],
        holdings: Mapping[str, HeldCategory],
        today: dt.date,
    ) -> list[Outcome]:
        until = self._retained_until(conn, table, keys, today)
        return [
            Retained(
                category,
                f"{_count(len(keys), 'row', 'rows')} in {table.name}",
                holdings[category].legal_reason or "kept as the configuration requires",
                until,
            )
            for category in categories
        ]

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
            # Checked afresh: a table altered since the connection opened shows here.
            self._run(lambda conn: self._check(self._schema(conn)))
        except (ConnectorUnavailable, NeedsAttention) as error:
            return HealthReport(False, str(error))
        return HealthReport(True, "database answers and fits the mapping")

    def close(self) -> None:
        self._drop()


def _narrowing(kind: IdentityKind, column: str, value: str) -> tuple[str, str]:
    """A condition that keeps every row whose column may hold `value` in some written
    form, and its argument; the rows it keeps are compared in canonical form after.

    E-mail: the address with its ASCII letters in any case and anything in place
    of each run of other characters, since SQLite's lower() and LIKE fold ASCII
    letters only (`Åsa@Example.se` is kept for `åsa@example.se`).
    Phone and personnummer: the last six digits of the canonical value, in order
    with anything between them, since every written form keeps them (`070-123 45 67`,
    `811218-9876`). A phone written with letters for digits is not found.
    """
    text = f'CAST("{column}" AS TEXT)'
    if kind is IdentityKind.EMAIL:
        return f"lower(trim({text})) LIKE ? ESCAPE '\\'", _ascii_pattern(value.lower())
    if kind in (IdentityKind.PHONE, IdentityKind.PERSONNUMMER):
        digits = [d for d in value if d.isascii() and d.isdigit()]
        keep = 6
        if kind is IdentityKind.PHONE:
            # The national number's digits, not the country code's, are in every form.
            keep = min(keep, _national_length(value))
        return f"{text} LIKE ?", "%" + "%".join(digits[-keep:]) + "%"
    return f"trim({text}) = ?", value


def _ascii_pattern(value: str) -> str:
    """A LIKE pattern for `value`: its ASCII characters as they are (LIKE's own
    wildcards escaped), each run of other characters any run at all, so a
    letter folded differently, or written decomposed, still passes."""
    pattern = re.sub(r"[\\%_]", lambda m: "\\" + m[0], value)
    return re.sub(r"[^\x00-\x7f]+", "%", pattern)


def _national_length(phone: str) -> int:
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return len(phone)  # not canonical: keep every digit
    return len(phonenumbers.national_significant_number(number))


def _close(conn: Any) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [SQLConnector]
