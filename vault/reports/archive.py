"""A subject's export as one zip archive, streamed in chunks, with progress.

The archive holds `export.json` (the machine-readable document, GDPR art. 20),
`index.html` (the same, for the person it is about to read: see `page`),
`consent.jsonld` (the person's consent history and standing as standard
consent records: vault.core.consent.dpv), each record's binary content under
`content/` and each system's files under `systems/`. It is written as the export's records arrive, so a subject with
many records never has to fit in memory as one document.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from vault.connectors.base import HeldCategory
from vault.core.consent import dpv
from vault.core.export import ExportProgress, SubjectExport, SystemExport, SystemProgress
from vault.core.model import Controller, Record, Subject
from vault.reports.export_consent import CONSENT_FILE, consent_section
from vault.reports.page import ReadablePage
from vault.reports.words import as_text

EXPORT_FORMAT = "consent-vault-export/1"
CHUNK_BYTES = 256 * 1024


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


def export_archive(export: SubjectExport) -> Iterator[ExportProgress | SystemProgress | bytes]:
    """Yield progress events and archive bytes, in order; concatenating the bytes gives the zip.

    Progress events are passed on as the export yields them; each connector's
    part is written into the archive after the vault's own records.
    """
    sink = _Chunks()
    entries: list[bytes] = []
    page = ReadablePage()
    system_documents: dict[str, dict] = {}
    # Content files are written as records arrive; the JSON and HTML members
    # are written last, from memory (never spilled to a temporary file, since
    # they are plaintext personal data).
    with zipfile.ZipFile(
        cast(IO[bytes], sink), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
    ) as archive:
        for event in export.events():
            if isinstance(event, Record):
                entry = _record_document(event)
                if event.content is not None:
                    entry["content"]["file"] = path = _content_path(event)
                    info = zipfile.ZipInfo(path, _zip_time(event.created_at))
                    archive.writestr(info, event.content.data, compress_type=zipfile.ZIP_STORED)
                entries.append(_JSON.encode(entry).encode())
                page.add_record(entry)
            elif isinstance(event, ExportProgress):
                yield from sink.take(CHUNK_BYTES)
                yield event
            elif isinstance(event, SystemProgress):
                yield event
            else:
                part = system_documents[event.system] = _system_document(archive, event)
                page.add_system(event.system, part)
                yield from sink.take(CHUNK_BYTES)
        consent = None
        if export.consent is not None:
            consent = consent_section(export.consent)
            archive.writestr(CONSENT_FILE, dpv.document_bytes(export.consent.records))
        head = json.dumps(
            _subject_document(export.subject, export.exported_at, export.controller, consent),
            indent=1,
            ensure_ascii=False,
        )
        # Connectors' values come from other systems' databases (decimals, bytes,
        # timestamps): anything JSON has no type for is written as text.
        systems_json = json.dumps(system_documents, ensure_ascii=False, default=as_text).encode()
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
        archive.writestr(
            "index.html",
            page.html(
                export.subject, export.exported_at, export.controller, system_documents, consent
            ),
        )
    yield from sink.take()


def system_notes(path: Path) -> dict[str, list[str]]:
    """The notes (differences worth a look) each system's part of the archive
    at `path` carries; the progress stream does not, export.json does. Empty
    when the archive cannot be read: its summary still stands."""
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("export.json"))
        return {
            system: [str(note) for note in part.get("notes", [])]
            for system, part in document.get("systems", {}).items()
        }
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile):
        return {}


def _subject_document(
    subject: Subject, exported_at: dt.datetime, controller: Controller, consent: dict | None
) -> dict:
    return {
        "format": EXPORT_FORMAT,
        "exported_at": exported_at.isoformat(),
        # Who holds the data and where to ask; an empty name: none is configured.
        "controller": {
            "name": controller.name,
            "contact": controller.contact,
            "supervisory_authority": controller.supervisory_authority,
        },
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
        # What the person said about each consent-based purpose, in words; the
        # same as standard consent records is in consent.jsonld.
        **({"consent": consent} if consent is not None else {}),
        "records": [],  # must stay the last key: the entries are spliced in here
    }


def _system_document(archive: zipfile.ZipFile, export: SystemExport) -> dict:
    """One system's part of export.json; its files are written into the archive."""
    holdings = export.holdings
    document: dict = {
        "status": export.status,
        "description": holdings.description if holdings else "",
        "location": holdings.location if holdings else "",
        "holdings": [_held_document(held) for held in holdings.categories] if holdings else [],
    }
    if export.error:
        document["error"] = export.error
    if export.no_match and not export.error:
        document["tried"] = list(export.no_match)
    if export.withheld and not export.error:
        document["withheld_reason"] = export.withheld
    if export.notes:
        document["notes"] = list(export.notes)
    items = []
    # What may be someone else's, or what a failed system half-sent, is never written.
    for index, item in enumerate(export.items if document["status"] == "done" else ()):
        entry: dict = {"category": item.category, "data": dict(item.data)}
        if item.files:
            entry["files"] = []
            taken: set[str] = set()
            for file in item.files:
                path = _unique(f"systems/{export.system}/{index}/{_safe_name(file.name)}", taken)
                archive.writestr(path, file.data, compress_type=zipfile.ZIP_STORED)
                entry["files"].append(
                    {"file": path, "media_type": file.media_type, "size": len(file.data)}
                )
        items.append(entry)
    document["items"] = items
    return document


def _held_document(held: HeldCategory) -> dict:
    document = {
        "category": held.category,
        "description": held.description,
        "purpose": held.purpose,
        "legal_basis": held.legal_basis.value,
        "retention": held.retention,
        "erasable": held.erasable,
    }
    if held.legal_reason:
        document["legal_reason"] = held.legal_reason
    return document


def _unique(path: str, taken: set[str]) -> str:
    """Two files of one item whose names clean to the same text get a numbered name."""
    candidate, number = path, 1
    while candidate in taken:
        number += 1
        stem, dot, suffix = path.rpartition(".")
        candidate = f"{stem}-{number}.{suffix}" if dot and "/" not in suffix else f"{path}-{number}"
    taken.add(candidate)
    return candidate


def _safe_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).strip(".")
    return cleaned or "file"


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
