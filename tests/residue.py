"""Where a marker's bytes are left: the database files (and, on PostgreSQL, the
tables' rows as text) and the log, in every form a reader of a disk image might
search: UTF-8, UTF-16 either way round, hex either case, and base64 at any of
its three alignments."""

from __future__ import annotations

import base64
from pathlib import Path

import psycopg


def encodings(marker: str) -> dict[str, bytes]:
    raw = marker.encode()
    forms = {
        "utf-8": raw,
        "utf-16-le": marker.encode("utf-16-le"),
        "utf-16-be": marker.encode("utf-16-be"),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    for offset in range(3):
        # The characters that depend on the marker alone, wherever it starts.
        encoded = base64.b64encode(b"\0" * offset + raw)
        skip = -(-offset * 4 // 3)
        forms[f"base64+{offset}"] = encoded[skip + 1 : -4]
    return forms


def database_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith((".db", ".db-wal", ".db-shm")))


def found(haystacks: dict[str, bytes], markers: list[str]) -> list[str]:
    """Where (`place: marker as form`) each marker is found."""
    return [
        f"{place}: {marker} as {form}"
        for place, data in haystacks.items()
        for marker in markers
        for form, needle in encodings(marker).items()
        if needle in data
    ]


def places(data_dir: Path, database: str | None, log: str) -> dict[str, bytes]:
    """The data directory's database files, every row of a PostgreSQL schema as
    text (its bytea as hex), and the log."""
    haystacks = {path.name: path.read_bytes() for path in database_files(data_dir)}
    if database is not None:
        with psycopg.connect(database) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            ]
            for table in tables:
                rows = conn.execute(f'SELECT row_to_json(t)::text FROM "{table}" t').fetchall()
                haystacks[f"table {table}"] = "\n".join(row[0] for row in rows).encode()
    haystacks["log"] = log.encode()
    return haystacks
