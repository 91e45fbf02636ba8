"""A subject's export: one zip archive streamed in chunks, with progress.

The archive holds `export.json` (the machine-readable document, GDPR art. 20),
`index.html` (the same, for the person it is about to read: the vault's records
and each connected system's items, with why, on what basis and how long each is
held), each record's binary content under `content/` and each system's files
under `systems/`. It is written as it streams, so a subject with many records
never has to fit in memory as one document.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, cast

from vault.connectors.base import ExportItem, HeldCategory, Holdings
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Controller, LegalBasis, Record, Subject

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
    tried: tuple[str, ...] = ()  # for no_match: the identity kinds searched by


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
# Connectors' values come from other systems' databases (decimals, bytes,
# timestamps): anything JSON has no type for is written as text.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, default=lambda value: _as_text(value))
_CELL = "\x00"


def export_archive(
    subject: Subject,
    records: Iterator[Record],
    records_total: int,
    exported_at: dt.datetime,
    systems: Iterable[SystemProgress | SystemExport] = (),
    controller: Controller | None = None,
) -> Iterator[ExportProgress | SystemProgress | bytes]:
    """Yield progress events and archive bytes, in order; concatenating the bytes gives the zip.

    `systems` yields progress events, passed on, and each connector's export,
    written into the archive after the vault's own records. `controller` is who
    "we" are on the page; without one, the page says none is configured.
    """
    controller = controller or Controller()
    sink = _Chunks()
    entries: list[bytes] = []
    # The vault's records on the page, grouped by what they are and why they are held.
    groups: dict[tuple[str, str, str, str], list[str]] = {}
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
            key = (record.category, record.purpose, entry["legal_basis"], record.source_system)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(_html_record(entry))
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
        head = json.dumps(
            _subject_document(subject, exported_at, controller), indent=1, ensure_ascii=False
        )
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
        page = _html_index(
            subject,
            exported_at,
            controller,
            len(entries),
            groups,
            system_documents,
            system_sections,
        )
        archive.writestr("index.html", page)
    yield from sink.take()


def _subject_document(subject: Subject, exported_at: dt.datetime, controller: Controller) -> dict:
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
        "records": [],  # must stay the last key: the entries are spliced in here
    }


def _system_document(archive: zipfile.ZipFile, export: SystemExport) -> dict:
    """One system's part of export.json; its files are written into the archive."""
    holdings = export.holdings
    document: dict = {
        "status": _status(export),
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


def _status(export: SystemExport) -> str:
    if export.error:
        return "failed"
    if export.withheld:
        return "withheld"
    if export.no_match:
        return "no_match"
    return "done"


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


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


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


# ------------------------------------------------------------ the readable page
# index.html is for the person the data is about: every part of the export,
# each item under its category in words, why it is held, on what legal basis,
# for how long and where it came from. No scripts and nothing fetched from
# elsewhere: it must open from the unpacked zip on any phone.

_KIND_WORDS = {
    IdentityKind.PERSONNUMMER.value: "personnummer",
    IdentityKind.EMAIL.value: "e-mail",
    IdentityKind.PHONE.value: "phone",
    IdentityKind.EXTERNAL_ID.value: "user ID",
}

# The countries the controller's policy allows systems in (EEA_COUNTRIES).
_COUNTRIES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "HR": "Croatia",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "FR": "France",
    "DE": "Germany",
    "GR": "Greece",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LV": "Latvia",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "MT": "Malta",
    "NL": "the Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SK": "Slovakia",
    "SI": "Slovenia",
    "ES": "Spain",
    "SE": "Sweden",
    "IS": "Iceland",
    "LI": "Liechtenstein",
    "NO": "Norway",
}

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
background:#fff;margin:0}
main{max-width:46rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.7rem;line-height:1.2;margin:1rem 0 .5rem}
h2{font-size:1.35rem;margin:2.5rem 0 .25rem;padding-top:.75rem;border-top:3px solid #1b1b1b}
h3{font-size:1.05rem;margin:1.5rem 0 .25rem}
code{font-size:.85em;color:#555;overflow-wrap:anywhere}
h3 code{font-weight:normal;margin-left:.4em}
nav ul,ul.plain{padding-left:1.2rem}
.meta{color:#444;margin:.25rem 0 .75rem}
.status{padding:.6rem .8rem;border-left:4px solid #888;background:#f4f4f4}
.status.failed{border-color:#b00020;background:#fdecee}
.status.withheld{border-color:#a15c00;background:#fff4e0}
.about,.data{display:grid;grid-template-columns:minmax(7rem,fit-content(16rem)) 1fr;
gap:.15rem 1rem;margin:.25rem 0}
.about{color:#333;font-size:.95rem}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
.item{border:1px solid #d6d6d6;border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
.item .data{margin:0}
.item .meta{margin:0 0 .3rem}
.item .about{margin-bottom:.6rem}
.nowrap{white-space:nowrap}
.files{margin:.4rem 0 0}
.rights li{margin:.3rem 0}
@media (max-width:34rem){
main{padding:.5rem .9rem 2rem}
.about,.data{grid-template-columns:fit-content(42%) 1fr;gap:.2rem .7rem}
dt{overflow-wrap:anywhere}
.item{padding:.5rem .6rem}
}
@media print{h2{break-before:auto}.item{break-inside:avoid}}
"""


def _words(name: str) -> str:
    """A code such as student.grading_basis as words: Student: grading basis."""
    text = ": ".join(part.replace("_", " ") for part in name.split("."))
    return text[:1].upper() + text[1:]


# Well-known abbreviations a field's name spells in lower case (last_ip, amount_sek).
_ABBREVIATIONS = {
    "id": "ID",
    "ip": "IP",
    "url": "URL",
    "uri": "URI",
    "sek": "SEK",
    "eur": "EUR",
    "vat": "VAT",
    "sms": "SMS",
    "lms": "LMS",
    "iban": "IBAN",
    "bic": "BIC",
}
# Where a name's words meet: documentNumber, DocumentNumber, HTTPStatus.
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PERSONNUMMER = re.compile(r"(\d{8})(\d{4})")


@functools.lru_cache(maxsize=4096)
def _label(key: str) -> str:
    """A field's name as words, by one rule for every system: camelCase and
    snake_case split, a trailing number dropped (phone1, Address1), sentence
    case, well-known abbreviations in capitals. DocumentNumber: Document number;
    last_ip: Last IP. The JSON keeps the name as the system gave it."""
    words = _WORD_BREAK.sub(" ", key).replace("_", " ").replace("-", " ").split()
    if words and len(words[-1]) > 1:
        words[-1] = words[-1].rstrip("0123456789") or words[-1]
    words = [_ABBREVIATIONS.get(word.lower(), word.lower()) for word in words if word]
    if not words:
        return key
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def _role_words(role: str) -> str:
    return " ".join(_ABBREVIATIONS.get(word, word) for word in role.split("_"))


def _personnummer_text(value: str) -> str:
    """The vault's canonical 198112189876 as people write it: 19811218-9876."""
    found = _PERSONNUMMER.fullmatch(value)
    return f"{found[1]}-{found[2]}" if found else value


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _country(code: str) -> str:
    name = _COUNTRIES.get(code.upper())
    return f"{name} ({code.upper()})" if name else code


def _in_words(items: Iterable[str], conjunction: str) -> str:
    words = list(dict.fromkeys(items))
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def _value_text(value: object) -> str:
    if isinstance(value, str):
        return value or "—"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return _JSON_TEXT.encode(value)
    return _as_text(value)


def _href(path: str) -> str:
    return html.escape(urllib.parse.quote(path), quote=True)


def _data_list(data: Mapping[str, object]) -> str:
    """Key/value lines. One escape for the whole item (this runs once per record of
    a large export): keys and values are joined on NUL and split again after
    escaping. A vault record holds no NUL; another system's value may, and then
    each is escaped alone."""
    if not data:
        return '<p class="meta">No further details.</p>'
    flat: list[str] = []
    for key, value in data.items():
        label = _label(key)
        flat.append(label)
        if type(value) is str and value:
            flat.append(_personnummer_text(value) if label == "Personnummer" else value)
        else:
            flat.append(_value_text(value))
    parts = html.escape(_CELL.join(flat)).split(_CELL)
    if len(parts) != len(flat):  # a NUL in another system's value
        parts = [html.escape(part) for part in flat]
    pairs = iter(parts)
    lines = "</dd><dt>".join([k + "</dt><dd>" + v for k, v in zip(pairs, pairs, strict=True)])
    if _CONTROL.search(lines):  # not allowed in HTML text; shown as browsers would show them
        lines = _CONTROL.sub("\ufffd", lines)
    return f'<dl class="data"><dt>{lines}</dd></dl>'


def _about_lines(pairs: Iterable[tuple[str, str]]) -> str:
    """Lines of why an item is held; the values are markup already."""
    return "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in pairs)


@functools.lru_cache(maxsize=16)
def _basis_html(legal_basis: str) -> str:
    """The legal basis in words; the article is kept on one line."""
    text = html.escape(LegalBasis(legal_basis).describe())
    return _ARTICLE.sub(lambda m: f'<span class="nowrap">{m[0]}</span>', text)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ARTICLE = re.compile(r"\(GDPR art\. [^ ]+\)")


# No retention rule covers the vault's own records yet; the page says what
# applies instead of leaving the line out.
_VAULT_KEPT = "until you ask for erasure or the purpose ends (no retention rule is set yet)"


def _source_html(system: str, systems: Mapping[str, dict]) -> str:
    """Where a vault record came from: the connected system's description, linked
    to its section, or the source's name in words when no connector has it."""
    document = systems.get(system)
    if document is None:
        return html.escape(_words(system))
    return (
        f'<a href="#system-{html.escape(system, quote=True)}">'
        f"{html.escape(_system_name(system, document))}</a>"
    )


def _html_vault_group(
    key: tuple[str, str, str, str], records: list[str], systems: Mapping[str, dict]
) -> str:
    """The vault's records of one category, purpose, legal basis and source: what
    they are and why they are held once, then each record."""
    category, purpose, legal_basis, source_system = key
    count = f" ({len(records):,})" if len(records) > 1 else ""
    about = (
        ("Why", html.escape(_words(purpose))),
        ("Legal basis", _basis_html(legal_basis)),
        ("Kept", _VAULT_KEPT),
        ("From", f"{_source_html(source_system, systems)}, which gave it to the vault"),
    )
    return (
        f"<h3>{html.escape(_words(category) + count)}<code>{html.escape(category)}</code></h3>"
        f'<dl class="about">{_about_lines(about)}</dl>' + "".join(records)
    )


def _html_record(entry: dict) -> str:
    """One vault record, as it arrives (validated fields, so no NUL)."""
    stored, changed = entry["created_at"][:10], entry["updated_at"][:10]
    page = [
        f'<article class="item"><p class="meta">Stored {stored}',
        f", changed {changed}.</p>" if changed != stored else ".</p>",
        _data_list(entry["fields"]),
    ]
    if "content" in entry:
        content = entry["content"]
        page.append(
            f'<p class="files">File: <a href="{_href(content["file"])}">'
            f"{html.escape(content['filename'] or 'content.bin')}</a> "
            f"({html.escape(content['media_type'])}, {content['size']:,} bytes)</p>"
        )
    page.append("</article>")
    return "".join(page)


def _system_title(system: str, document: dict) -> str:
    return document["description"] or system


def _system_name(system: str, document: dict) -> str:
    """The system's title up to its first colon, for lines that only name it:
    "Learning platform (Moodle): courses, …" is the learning platform (Moodle)."""
    return _system_title(system, document).split(": ", 1)[0]


def _system_summary(document: dict) -> str:
    """One line for the table of contents."""
    status = document["status"]
    if status == "failed":
        return "could not be read"
    if status == "withheld":
        return "withheld until a privacy officer has checked it"
    if status == "no_match":
        return "no one found"
    count = len(document["items"])
    return f"{count} item{'s' if count != 1 else ''}" if count else "nothing held about you"


def _status_text(document: dict) -> str:
    status = document["status"]
    if status == "failed":
        return (
            '<p class="status failed">This system could not be read for this export, so what '
            "it holds about you is missing here. Ask us for a new export. What went wrong: "
            f"{html.escape(_sentence(document['error']))}</p>"
        )
    if status == "withheld":
        return (
            '<p class="status withheld">Records were found in this system that may belong to '
            "someone else, so they are not included until a privacy officer has checked them. "
            f"Why: {html.escape(_sentence(document['withheld_reason']))}</p>"
        )
    if status == "no_match":
        tried = _in_words((_KIND_WORDS.get(k, k) for k in document["tried"]), "or")
        return f'<p class="status">No one was found in this system by {html.escape(tried)}.</p>'
    if not document["items"]:
        return '<p class="status">This system holds nothing about you.</p>'
    return ""


def _html_system(system: str, document: dict) -> str:
    held = {h["category"]: h for h in document["holdings"]}
    title = _system_title(system, document)
    where = f", hosted in {_country(document['location'])}" if document["location"] else ""
    page = [
        f'<section id="system-{html.escape(system, quote=True)}">',
        f"<h2>{html.escape(title)}</h2>",
        f'<p class="meta">The system <code>{html.escape(system)}</code>{html.escape(where)}.</p>',
        _status_text(document),
    ]
    if document.get("notes"):
        notes = "".join(
            f"<li>{html.escape(_sentence(note[:1].upper() + note[1:]))}</li>"
            for note in document["notes"]
        )
        page.append(f'<p>Worth knowing:</p><ul class="plain">{notes}</ul>')
    if document["status"] in ("failed", "withheld") and held:
        kinds = "".join(f"<li>{html.escape(h['description'])}</li>" for h in held.values())
        page.append(
            f'<p>What this system can hold about a person:</p><ul class="plain">{kinds}</ul>'
        )
    # Items under their category, in the order the system declares its categories.
    order = {name: position for position, name in enumerate(held)}
    groups: dict[str, list[dict]] = {}
    for item in sorted(document["items"], key=lambda i: order.get(i["category"], len(order))):
        groups.setdefault(item["category"], []).append(item)
    for category, items in groups.items():
        page.append(_html_category(system, category, held.get(category), items))
    page.append("</section>")
    return "".join(page)


def _html_category(system: str, category: str, held: dict | None, items: list[dict]) -> str:
    heading = held["description"] if held else _words(category)
    count = f" ({len(items)})" if len(items) > 1 else ""
    about = [("From", "this system")]
    if held:
        about[:0] = [
            ("Why", html.escape(_words(held["purpose"]))),
            ("Legal basis", _basis_html(held["legal_basis"])),
            ("Kept", html.escape(held["retention"])),
        ]
        if not held["erasable"]:
            about.insert(3, ("Kept by law", html.escape(held["legal_reason"])))
    page = [
        f"<h3>{html.escape(heading + count)}<code>{html.escape(category)}</code></h3>",
        f'<dl class="about">{_about_lines(about)}</dl>',
    ]
    for item in items:
        page.append('<article class="item">')
        data = item["data"]
        # The SQL connector names each item's table: where it came from, not a field.
        table = data.get("table")
        if isinstance(table, str) and table:
            data = {key: value for key, value in data.items() if key != "table"}
            page.append(f'<p class="meta">From its table <code>{html.escape(table)}</code>.</p>')
        page.append(_data_list(data))
        if item.get("files"):
            links = ", ".join(
                f'<a href="{_href(f["file"])}">{html.escape(f["file"].rsplit("/", 1)[1])}</a> '
                f"({html.escape(f['media_type'])}, {f['size']:,} bytes)"
                for f in item["files"]
            )
            page.append(f'<p class="files">Files: {links}</p>')
        page.append("</article>")
    return "".join(page)


def _html_identity(identity: Identity, systems: Mapping[str, dict]) -> str:
    kind = _KIND_WORDS.get(identity.kind.value, identity.kind.value)
    if identity.system:
        document = systems.get(identity.system)
        kind += f" in {_system_name(identity.system, document) if document else identity.system}"
    value = identity.value
    if identity.kind is IdentityKind.PERSONNUMMER:
        value = _personnummer_text(value)
    return f"<dt>{html.escape(kind[:1].upper() + kind[1:])}</dt><dd>{html.escape(value)}</dd>"


def _html_controller(controller: Controller) -> str:
    """Who "we" are, or plainly that this vault has not been told."""
    if not controller.name:
        return (
            '<p class="status">This vault has not been told who is responsible for your '
            "data (the controller), so this page cannot name them. Ask the organisation "
            "that gave you this export.</p>"
        )
    contact = (
        f" Questions and requests about your data: {_contact_html(controller.contact)}."
        if controller.contact
        else ""
    )
    return (
        f"<p>We are <strong>{html.escape(controller.name)}</strong>, responsible for your "
        f"data (the controller).{contact}</p>"
    )


def _contact_html(contact: str) -> str:
    if _EMAIL.fullmatch(contact):
        return f'<a href="mailto:{html.escape(contact, quote=True)}">{html.escape(contact)}</a>'
    return html.escape(contact)


_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")


def _html_rights(controller: Controller) -> str:
    """The person's rights in plain words (GDPR art. 12 to 22, 77)."""
    if controller.contact:
        ask = f"write to {_contact_html(controller.contact)}"
    elif controller.name:
        ask = f"ask {html.escape(controller.name)}"
    else:
        ask = "ask the organisation that gave you this export"
    authority = html.escape(controller.supervisory_authority)
    rights = (
        "<strong>See</strong> what we hold about you, free of charge: this export is one answer.",
        "<strong>Correct</strong> what is wrong or incomplete.",
        "<strong>Erase</strong> what we no longer need. What the law makes us keep is marked "
        "“Kept by law” on this page, with how long.",
        "<strong>Restrict</strong>: have us only store your data, not use it, while a question "
        "about it is settled.",
        "<strong>Object</strong> to what we do on the basis of our legitimate interest, and to "
        "direct marketing at any time.",
        "<strong>Take your data with you</strong>: <code>export.json</code> in this export is "
        "your data in a machine-readable form.",
        "<strong>Withdraw your consent</strong> at any time, wholly or for one purpose. It does "
        "not undo what was lawful before you withdrew it.",
        f"<strong>Complain</strong> to the supervisory authority, {authority}, if you think "
        "we handle your data wrongly.",
    )
    return (
        '<section id="rights"><h2>Your rights</h2>'
        f"<p>To use any of these rights, {ask}. We answer within one month.</p>"
        f'<ul class="rights">{"".join(f"<li>{right}</li>" for right in rights)}</ul></section>'
    )


def _html_index(
    subject: Subject,
    exported_at: dt.datetime,
    controller: Controller,
    record_count: int,
    groups: dict[tuple[str, str, str, str], list[str]],
    systems: dict[str, dict],
    sections: list[str],
) -> str:
    identities = "".join(_html_identity(i, systems) for i in subject.identities)
    roles = ", ".join(_role_words(role) for role in subject.roles) or "none"
    protected = (
        "<dt>Protected identity</dt><dd>yes: your data is handled under stricter rules and "
        "every access to it is recorded</dd>"
        if subject.protected_identity
        else ""
    )
    count = f"{record_count:,} record{'s' if record_count != 1 else ''}"
    contents = (
        f'<li><a href="#vault">The vault itself</a>: {count}</li>'
        + "".join(
            f'<li><a href="#system-{html.escape(name, quote=True)}">'
            f"{html.escape(_system_title(name, document))}</a>: "
            f"{html.escape(_system_summary(document))}</li>"
            for name, document in systems.items()
        )
        + '<li><a href="#rights">Your rights</a>: how to use them and whom to ask</li>'
    )
    vault_records = (
        "".join(_html_vault_group(key, records, systems) for key, records in groups.items())
        or '<p class="status">The vault holds no records about you.</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Everything we hold about you</title><style>{_STYLE}</style></head>
<body><main>
<h1>Everything we hold about you</h1>
<p class="meta">Exported {html.escape(exported_at.strftime("%Y-%m-%d %H:%M UTC"))}.</p>
{_html_controller(controller)}
<p>This page shows what we hold about you in our own records (the vault) and in each
system connected to it: what each item is, why we hold it, on what legal basis, how long it
is kept and where it came from. The same data, machine-readable, is in
<code>export.json</code>; files are in the <code>content</code> and <code>systems</code>
folders beside this page.</p>
<nav><p>On this page:</p><ul>{contents}</ul></nav>
<h2>Who you are to us</h2>
<dl class="data">{identities}<dt>Roles</dt><dd>{html.escape(roles)}</dd>{protected}</dl>
<section id="vault"><h2>In the vault: {count}</h2>
<p class="meta">Records the vault keeps itself, grouped by what they are and why we hold them.
No retention rule is configured for the vault's own records yet, so each is kept until you
ask for erasure or its purpose ends.</p>
{vault_records}</section>
{"".join(sections)}
{_html_rights(controller)}
</main></body></html>
"""
