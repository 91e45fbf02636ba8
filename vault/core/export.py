"""A subject's export: one zip archive streamed in chunks, with progress.

The archive holds `export.json` (the machine-readable document, GDPR art. 20),
`index.html` (the same, for a person to read) and each record's binary content
under `content/`. It is written as it streams, so a subject with many records
never has to fit in memory as one document.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, cast

from vault.connectors.base import ExportItem, Holdings
from vault.core.model import Record, Subject

EXPORT_FORMAT = "consent-vault-export/1"
CHUNK_BYTES = 256 * 1024
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportProgress:
    records_done: int
    records_total: int


@dataclass(frozen=True)
class SystemProgress:
    """One connector's part of an export: running, done (with its item count), failed,
    no_match (nobody found by the identity kinds tried) or withheld (the records found
    may belong to someone else; `error` says which identities disagree)."""

    system: str
    state: str  # running, done, failed, no_match, withheld
    items: int = 0
    error: str = ""


@dataclass(frozen=True)
class SystemExport:
    """What one connector exported, or why it could not.

    `no_match` holds the identity kinds that were tried when the system found
    nobody; `withheld` says why records that were found were not exported (they
    may be someone else's); `notes` are differences a person should see (an
    e-mail on the system's record that differs from the vault's); `holdings`
    say what each category is, why it is held and for how long.
    """

    system: str
    items: tuple[ExportItem, ...] = ()
    error: str = ""
    no_match: tuple[str, ...] = ()
    withheld: str = ""
    notes: tuple[str, ...] = ()
    holdings: Holdings | None = None


class _Chunks:
    """A write-only, unseekable sink: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self, minimum: int = 0) -> Iterator[bytes]:
        if self.size and self.size >= minimum:
            data = b"".join(self.parts)
            self.parts, self.size = [], 0
            for start in range(0, len(data), CHUNK_BYTES):
                yield data[start : start + CHUNK_BYTES]


# Made once: json.dumps with any option builds a new encoder on every call.
_JSON = json.JSONEncoder(ensure_ascii=False)
_CELL = "\x00"


def export_archive(
    subject: Subject,
    records: Iterator[Record],
    records_total: int,
    exported_at: dt.datetime,
    systems: Iterable[SystemProgress | SystemExport] = (),
) -> Iterator[ExportProgress | SystemProgress | bytes]:
    """Yield progress events and archive bytes, in order; concatenating the bytes gives the zip.

    `systems` yields progress events, passed on, and each connector's export,
    written into the archive after the vault's own records.
    """
    sink = _Chunks()
    entries: list[bytes] = []
    rows: list[str] = []
    system_documents: dict[str, dict] = {}
    system_sections: list[str] = []
    yield ExportProgress(0, records_total)
    # Content files are written as records arrive; the JSON and HTML members
    # are written last, from memory (never spilled to a temporary file, since
    # they are plaintext personal data).
    with zipfile.ZipFile(
        cast(IO[bytes], sink), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for record in records:
            entry = _record_document(record)
            if record.content is not None:
                entry["content"]["file"] = path = _content_path(record)
                info = zipfile.ZipInfo(path, _zip_time(record.created_at))
                archive.writestr(info, record.content.data, compress_type=zipfile.ZIP_STORED)
            entries.append(_JSON.encode(entry).encode())
            rows.append(_html_row(entry))
            if len(entries) % PROGRESS_EVERY == 0:
                yield from sink.take(CHUNK_BYTES)
                yield ExportProgress(len(entries), max(len(entries), records_total))
        yield ExportProgress(len(entries), len(entries))
        for event in systems:
            if isinstance(event, SystemProgress):
                yield event
                continue
            system_documents[event.system] = _system_document(archive, event)
            system_sections.append(_html_system(event.system, system_documents[event.system]))
            yield from sink.take(CHUNK_BYTES)
        head = json.dumps(_subject_document(subject, exported_at), indent=1, ensure_ascii=False)
        # Connectors' values come from other systems' databases (decimals, bytes,
        # timestamps): anything JSON has no type for is written as text.
        systems_json = json.dumps(system_documents, ensure_ascii=False, default=_as_text).encode()
        document = (
            head[: head.rindex("[")].encode()
            + b"[\n"
            + b",\n".join(entries)
            + b"\n ],\n"
            + b' "systems": '
            + systems_json
            + b"\n}\n"
        )
        archive.writestr("export.json", document)
        archive.writestr("index.html", _html_index(subject, exported_at, rows, system_sections))
    yield from sink.take()


def _subject_document(subject: Subject, exported_at: dt.datetime) -> dict:
    return {
        "format": EXPORT_FORMAT,
        "exported_at": exported_at.isoformat(),
        "subject": {
            "id": subject.subject_id,
            "identities": [
                {
                    "kind": i.kind.value,
                    "value": i.value,
                    **({"system": i.system} if i.system else {}),
                }
                for i in subject.identities
            ],
            "roles": list(subject.roles),
            "protected_identity": subject.protected_identity,
            "created_at": subject.created_at.isoformat(),
            "updated_at": subject.updated_at.isoformat(),
        },
        "records": [],  # must stay the last key: the entries are spliced in here
    }


def _system_document(archive: zipfile.ZipFile, export: SystemExport) -> dict:
    if export.error:
        return {"status": "failed", "error": export.error, "items": []}
    items = []
    for index, item in enumerate(export.items):
        entry: dict = {"category": item.category, "data": dict(item.data)}
        if item.files:
            entry["files"] = []
            for file in item.files:
                path = f"systems/{export.system}/{index}/{_safe_name(file.name)}"
                archive.writestr(path, file.data, compress_type=zipfile.ZIP_STORED)
                entry["files"].append(
                    {"file": path, "media_type": file.media_type, "size": len(file.data)}
                )
        items.append(entry)
    return {"status": "done", "items": items}


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).strip(".")
    return cleaned or "file"


def _html_system(system: str, document: dict) -> str:
    if document["status"] == "failed":
        return f"<h2>{html.escape(system)}</h2><p><b>Could not be exported:</b> {html.escape(document['error'])}</p>"
    rows = []
    for item in document["items"]:
        data = "; ".join(f"{k}: {v}" for k, v in item["data"].items())
        links = "".join(
            f' <a href="{html.escape(f["file"], quote=True)}">{html.escape(f["file"].rsplit("/", 1)[1])}</a>'
            for f in item.get("files", [])
        )
        rows.append(
            f"<tr><td>{html.escape(item['category'])}</td><td>{html.escape(data)}{links}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan=2>Nothing held about you.</td></tr>"
    return f"<h2>{html.escape(system)}</h2><table><tr><th>Category</th><th>Data</th></tr>{body}</table>"


def _record_document(record: Record) -> dict:
    entry: dict = {
        "id": record.record_id,
        "category": record.category,
        "purpose": record.purpose,
        "legal_basis": record.legal_basis.value,
        "source_system": record.source_system,
        "fields": record.fields,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    if record.content is not None:
        entry["content"] = {
            "media_type": record.content.media_type,
            "filename": record.content.filename,
            "size": len(record.content.data),
        }
    return entry


def _content_path(record: Record) -> str:
    assert record.content is not None
    return f"content/{record.record_id}/{record.content.filename or 'content.bin'}"


def _zip_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    moment = max(moment, dt.datetime(1980, 1, 1, tzinfo=dt.UTC))
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _html_row(entry: dict) -> str:
    fields = "; ".join(
        f"{key}: {value if isinstance(value, str) else _JSON.encode(value)}"
        for key, value in entry["fields"].items()
    )
    cells = (
        entry["category"],
        entry["purpose"],
        entry["legal_basis"],
        entry["source_system"],
        entry["created_at"][:10],
        fields,
    )
    # One escape per row, not per cell (this runs once per record of a large
    # export): cells are joined on NUL, which no stored value can hold, and
    # the NULs become cell boundaries after escaping.
    row = "<tr><td>" + html.escape(_CELL.join(cells)).replace(_CELL, "</td><td>")
    if "content" in entry:
        href = html.escape(entry["content"]["file"], quote=True)
        row += f'<br><a href="{href}">{html.escape(entry["content"]["filename"] or "file")}</a>'
    return row + "</td></tr>"


def _html_index(
    subject: Subject, exported_at: dt.datetime, rows: list[str], system_sections: list[str]
) -> str:
    identities = "".join(
        f"<li>{html.escape(i.kind.value)}: {html.escape(i.value)}</li>" for i in subject.identities
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your data</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}</style></head>
<body><h1>Everything we hold about you</h1>
<p>Exported {html.escape(exported_at.strftime("%Y-%m-%d %H:%M UTC"))}. The same data, machine-readable,
is in <code>export.json</code>; files are in the <code>content</code> folder.</p>
<h2>Who you are to us</h2><ul>{identities}</ul>
<p>Roles: {html.escape(", ".join(subject.roles) or "none")}</p>
<h2>In the vault: records ({len(rows)})</h2>
<table><tr><th>Category</th><th>Purpose</th><th>Legal basis</th><th>Source</th><th>Stored</th>
<th>Content</th></tr>
{"".join(rows)}
</table></body></html>
"""
