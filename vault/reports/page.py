"""index.html: an export for the person it is about to read.

Every part of the export, each item under its category in words, why it is
held, on what legal basis, for how long and where it came from; and what the
person said about each purpose that rests on their consent, and each
restriction of processing and objection of theirs. No scripts and
nothing fetched from elsewhere: it must open from the unpacked zip on any
phone. The page is built from export.json's own entries, as the archive is
written: a record's lines once, as it arrives; the rest at the end.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping

from vault.core.identities import Identity, IdentityKind
from vault.core.model import Controller, Subject
from vault.reports.export_consent import STANDING_WORDS, limit_recorded, recorded, said
from vault.reports.words import (
    KIND_WORDS,
    as_text,
    country,
    label,
    listed,
    personnummer,
    role,
    sentence,
    words,
)
from vault.reports.words import legal_basis as legal_basis_words


class ReadablePage:
    """index.html, built as the archive is written: each vault record is
    turned into its lines once, as it arrives, and kept with the records of
    the same category, purpose, legal basis and source; each system's section
    when its part arrives; the page around them at the end."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str, str], list[str]] = {}
        self._sections: list[str] = []
        self._records = 0

    def add_record(self, entry: dict) -> None:
        """A vault record, as its export.json entry (this runs once per record
        of a large export: keep it cheap)."""
        key = (entry["category"], entry["purpose"], entry["legal_basis"], entry["source_system"])
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = []
        group.append(_html_record(entry))
        self._records += 1

    def add_system(self, system: str, document: dict) -> None:
        """A connected system's part, as its export.json document."""
        self._sections.append(_html_system(system, document))

    def html(
        self,
        subject: Subject,
        exported_at: dt.datetime,
        controller: Controller,
        systems: Mapping[str, dict],
        consent: dict | None = None,
    ) -> str:
        """The whole page; `systems` are every system's export.json document,
        `consent` export.json's consent section (None: not in this export)."""
        return _html_index(
            subject,
            exported_at,
            controller,
            self._records,
            self._groups,
            systems,
            self._sections,
            consent,
        )


# Values from other systems JSON has no type for (decimals, bytes, timestamps) as text.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, default=as_text)
_CELL = "\x00"


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
    return as_text(value)


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
        name = label(key)
        flat.append(name)
        if type(value) is str and value:
            flat.append(personnummer(value) if name == "Personnummer" else value)
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
    return "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in pairs)


@functools.lru_cache(maxsize=16)
def _basis_html(legal_basis: str) -> str:
    """The legal basis in words; the article is kept on one line."""
    text = html.escape(legal_basis_words(legal_basis))
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
        return html.escape(words(system))
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
        ("Why", html.escape(words(purpose))),
        ("Legal basis", _basis_html(legal_basis)),
        ("Kept", _VAULT_KEPT),
        ("From", f"{_source_html(source_system, systems)}, which gave it to the vault"),
    )
    return (
        f"<h3>{html.escape(words(category) + count)}<code>{html.escape(category)}</code></h3>"
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
            f"{html.escape(sentence(document['error']))}</p>"
        )
    if status == "withheld":
        return (
            '<p class="status withheld">Records were found in this system that may belong to '
            "someone else, so they are not included until a privacy officer has checked them. "
            f"Why: {html.escape(sentence(document['withheld_reason']))}</p>"
        )
    if status == "no_match":
        tried = listed((KIND_WORDS.get(k, k) for k in document["tried"]), "or")
        return f'<p class="status">No one was found in this system by {html.escape(tried)}.</p>'
    if not document["items"]:
        return '<p class="status">This system holds nothing about you.</p>'
    return ""


def _html_system(system: str, document: dict) -> str:
    held = {h["category"]: h for h in document["holdings"]}
    title = _system_title(system, document)
    where = f", hosted in {country(document['location'])}" if document["location"] else ""
    page = [
        f'<section id="system-{html.escape(system, quote=True)}">',
        f"<h2>{html.escape(title)}</h2>",
        f'<p class="meta">The system <code>{html.escape(system)}</code>{html.escape(where)}.</p>',
        _status_text(document),
    ]
    if document.get("notes"):
        notes = "".join(
            f"<li>{html.escape(sentence(note[:1].upper() + note[1:]))}</li>"
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
    heading = held["description"] if held else words(category)
    count = f" ({len(items)})" if len(items) > 1 else ""
    about = [("From", "this system")]
    if held:
        about[:0] = [
            ("Why", html.escape(words(held["purpose"]))),
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
    kind = KIND_WORDS.get(identity.kind.value, identity.kind.value)
    if identity.system:
        document = systems.get(identity.system)
        kind += f" in {_system_name(identity.system, document) if document else identity.system}"
    value = identity.value
    if identity.kind is IdentityKind.PERSONNUMMER:
        value = personnummer(value)
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


def _html_consent(consent: dict) -> str:
    """What the person said about each consent-based purpose, and how it stands."""
    asked = [entry for entry in consent["purposes"] if entry["events"]]
    never = [entry["description"] for entry in consent["purposes"] if not entry["events"]]
    page = [
        '<section id="consent"><h2>Your consent</h2>',
        '<p class="meta">What you have told us about each purpose that rests on your consent, '
        "and how it stands now. The same, as standard consent records (ISO/IEC TS 27560, in "
        f'the W3C Data Privacy Vocabulary), is in <a href="{_href(consent["records"])}">'
        f"{html.escape(consent['records'])}</a>.</p>",
    ]
    if not asked:
        page.append('<p class="status">We hold no record of your consent for anything.</p>')
    for entry in asked:
        events = "".join(
            f"<li>{html.escape(_capitalised(said(e)))} "
            f'<span class="meta">{html.escape(_capitalised(recorded(e)))}</span></li>'
            for e in entry["events"]
        )
        page.append(
            f"<h3>{html.escape(entry['description'])}<code>{html.escape(entry['purpose'])}</code>"
            f"</h3><p>{html.escape(entry['summary'])}</p>"
            f'<dl class="about"><dt>Now</dt>'
            f"<dd>{html.escape(STANDING_WORDS[entry['standing']])}</dd></dl>"
            f'<ul class="plain">{events}</ul>'
        )
    if never:
        asked_about = "".join(f"<li>{html.escape(description)}</li>" for description in never)
        page.append(f'<p>We have never asked you about:</p><ul class="plain">{asked_about}</ul>')
    page.append("</section>")
    return "".join(page)


def _html_limits(consent: dict) -> str:
    """Each restriction of processing and objection, oldest first: what it
    covers, how it stands, what it means and who put it on record."""
    page = [
        '<section id="limits"><h2>Restrictions and objections</h2>',
        '<p class="meta">Where processing of your data was restricted (GDPR art. 18) or you '
        "objected to it (art. 21): what for, why, and whether it still stands.</p>",
    ]
    for entry in consent["limits"]:
        kind = "Restriction" if entry["kind"] == "restriction" else "Objection"
        if entry["in_effect"]:
            now = "in effect"
        elif "overridden_at" in entry:
            now = "overridden: processing goes on"
        else:
            now = "lifted" if entry["kind"] == "restriction" else "withdrawn by the person"
        covered = (
            "".join(
                f"<li>{html.escape(p['description'])} <code>{html.escape(p['purpose'])}</code></li>"
                for p in entry["purposes"]
            )
            or "<li>Every purpose</li>"
        )
        page.append(
            f"<h3>{kind}<code>{html.escape(entry['id'])}</code></h3>"
            f"<p>{html.escape(entry['summary'])}</p>"
            f'<dl class="about"><dt>Now</dt><dd>{html.escape(now)}</dd>'
            f'<dt>For</dt><dd><ul class="plain">{covered}</ul></dd></dl>'
            f'<p class="meta">{html.escape(_capitalised(limit_recorded(entry)))}</p>'
        )
    page.append("</section>")
    return "".join(page)


def _limits_summary(consent: dict) -> str:
    """One line for the table of contents."""
    limits = consent["limits"]
    standing = sum(1 for entry in limits if entry["in_effect"])
    return f"{len(limits)}, {standing} in effect"


def _capitalised(text: str) -> str:
    return sentence(text[:1].upper() + text[1:])


def _consent_summary(consent: dict) -> str:
    """One line for the table of contents."""
    asked = sum(1 for entry in consent["purposes"] if entry["events"])
    if not asked:
        return "no record of your consent"
    return f"{asked} purpose{'s' if asked != 1 else ''}"


def _html_index(
    subject: Subject,
    exported_at: dt.datetime,
    controller: Controller,
    record_count: int,
    groups: Mapping[tuple[str, str, str, str], list[str]],
    systems: Mapping[str, dict],
    sections: list[str],
    consent: dict | None = None,
) -> str:
    identities = "".join(_html_identity(i, systems) for i in subject.identities)
    roles = ", ".join(role(name) for name in subject.roles) or "none"
    protected = (
        "<dt>Protected identity</dt><dd>yes: your data is handled under stricter rules and "
        "every access to it is recorded</dd>"
        if subject.protected_identity
        else ""
    )
    count = f"{record_count:,} record{'s' if record_count != 1 else ''}"
    contents = (
        (
            f'<li><a href="#consent">Your consent</a>: {_consent_summary(consent)}</li>'
            if consent is not None
            else ""
        )
        + (
            '<li><a href="#limits">Restrictions and objections</a>: '
            f"{_limits_summary(consent)}</li>"
            if consent is not None and consent.get("limits")
            else ""
        )
        + f'<li><a href="#vault">The vault itself</a>: {count}</li>'
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
{_html_consent(consent) if consent is not None else ""}
{_html_limits(consent) if consent is not None and consent.get("limits") else ""}
<section id="vault"><h2>In the vault: {count}</h2>
<p class="meta">Records the vault keeps itself, grouped by what they are and why we hold them.
No retention rule is configured for the vault's own records yet, so each is kept until you
ask for erasure or its purpose ends.</p>
{vault_records}</section>
{"".join(sections)}
{_html_rights(controller)}
</main></body></html>
"""
